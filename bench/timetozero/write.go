package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// write stores results.json, then the README and the timeline plot made from it.
func write(dir string, res results, o options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := writeJSON(filepath.Join(dir, "results.json"), res); err != nil {
		return err
	}
	return writeReport(dir, res, o)
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
