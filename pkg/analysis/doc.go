// Package analysis decides, from one tick's gathered input and without any I/O or clock,
// what a rollout does next: hold, advance, promote, pause or roll back.
package analysis
