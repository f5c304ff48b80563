// Package window turns the cumulative request counters of a subset's pods into sliding
// per-subset windows of request, error and latency deltas.
package window
