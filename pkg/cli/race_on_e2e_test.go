//go:build race

package cli

// raceBuild: the tests run with the race detector, so the plugin they run is built with
// it too (a data race in the plugin then fails the command with exit code 66).
const raceBuild = true
