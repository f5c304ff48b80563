// Command takeover measures a leader's replacement: two sluice processes (the real
// binary, --leader-elect) against the real kube-apiserver and etcd, a rollout of stand-in
// pods held at its 5 % step, and, at the same instant, a SIGKILL of the leader and a
// canary that fails every call. It records kill → the new leader's first tick (its log)
// and fault → the VirtualService watch event with the canary at weight 0, with sluice's
// default lease timings and with controller-runtime's (15s/10s/2s), and the Lease
// requests each replica makes per second (from the API server's audit log). It writes
// results.json and README.md. Run it with `make bench-takeover`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func main() {
	runs := flag.Int("runs", 30, "kills per configuration")
	out := flag.String("out", "bench/takeover", "directory for results.json and README.md")
	reportOnly := flag.Bool("report-only", false, "rebuild README.md from the directory's results.json")
	flag.Parse()
	var err error
	if *reportOnly {
		err = rewrite(*out)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
		err = run(ctx, *runs, *out)
		cancel()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/takeover:", err)
		os.Exit(1)
	}
}

// results are the measurements of every configuration.
type results struct {
	Runs    int       `json:"runs"`
	Started time.Time `json:"started"`
	Took    string    `json:"took"`
	Configs []config  `json:"configs"`
}

// config is one lease setting's measurements, in milliseconds.
type config struct {
	Name          string    `json:"name"`
	Flags         []string  `json:"flags"`
	TakeoverMs    []float64 `json:"takeoverMillis"`
	FaultToZeroMs []float64 `json:"faultToZeroMillis"`
	// WarmCanaryRequests is how many canary requests the new leader's first window held.
	WarmCanaryRequests []float64 `json:"warmCanaryRequests"`
	// LeaseRPS are the Lease requests per second of the leader and of the follower,
	// counted in the audit log over LeaseWindow.
	LeaderLeaseRPS   float64 `json:"leaderLeaseRequestsPerSecond"`
	FollowerLeaseRPS float64 `json:"followerLeaseRequestsPerSecond"`
	LeaseWindow      string  `json:"leaseWindow"`
}

func write(dir string, r results) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(report(r)), 0o644)
}

func rewrite(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	return write(dir, r)
}
