package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// write stores results.json, then the README and the timeline plot made from it.
// A long run must not be lost to a bad -out: the directory is checked before the run
// (checkOut), and should writing there fail anyway, results.json goes to a temporary file.
func write(dir string, res results, o options) error {
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		if err = writeJSON(filepath.Join(dir, "results.json"), res); err == nil {
			return writeReport(dir, res, o)
		}
	}
	f, ferr := os.CreateTemp("", "timetozero-results-*.json")
	if ferr == nil {
		f.Close()
		if ferr = writeJSON(f.Name(), res); ferr == nil {
			return fmt.Errorf("writing to %s: %w; the results are in %s (rebuild the report with -report-only)", dir, err, f.Name())
		}
	}
	return fmt.Errorf("writing to %s: %w; saving them elsewhere failed too: %v", dir, err, ferr)
}

// checkOut makes sure results can be written to dir before hours of runs.
func checkOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-out %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("-out %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// reportOnly rebuilds README.md and timeline.svg from an existing results.json.
func reportOnly(dir string, o options) error {
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("decoding results: %w", err)
	}
	return writeReport(dir, res, o)
}

func writeReport(dir string, res results, o options) error {
	if err := os.WriteFile(filepath.Join(dir, "timeline.svg"), []byte(plot(res)), 0o644); err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(report(res, o)), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
