//go:build !race

package cli

// raceBuild: the tests run without the race detector.
const raceBuild = false
