package message_test

import (
	"time"

	"github.com/sluicedev/sluice/pkg/record"
)

var (
	t0      = time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)
	faultAt = t0.Add(-420 * time.Millisecond)
	written = t0.Add(30 * time.Millisecond)
)

// rollback is a rollback record with every part filled in: release context, the window's
// numbers, the alert and the times.
func rollback() record.Record {
	return record.Record{
		ID:        "shop.reviews.v2.rolled-back.7",
		Event:     record.RolledBack,
		Namespace: "shop",
		Service:   "reviews",
		Cluster:   "prod-eu",
		From:      record.Version{Subset: "v1", Images: []string{"registry.example.com/shop/reviews:1.4.2"}, Version: "1.4.2"},
		To:        record.Version{Subset: "v2", Images: []string{"registry.example.com/shop/reviews:1.5.0"}, Version: "1.5.0"},
		Weight:    record.Weights{Before: 25, After: 0},
		Step:      record.Step{Index: 2, Of: 4},
		Reason:    "ErrorRate",
		Message:   "canary error rate 9.80% is above 1.00% and significantly above stable's 0.10%",
		Window: &record.Window{
			Seconds: 30,
			Canary:  record.Traffic{Requests: 510, Errors: 50, ErrorRate: 0.098, P50Ms: 12.5, P99Ms: 480},
			Stable:  record.Traffic{Requests: 1520, Errors: 2, ErrorRate: 0.0013, P50Ms: 11, P99Ms: 95},
		},
		Alert: &record.Alert{
			Name: "ReviewsErrors", Fingerprint: "c0ffee", Summary: "reviews 5xx above 5%",
			StartsAt: faultAt, GeneratorURL: "https://prometheus.example.com/graph?g0.expr=up",
		},
		Release: record.Release{Commit: "4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", Pipeline: "deploy-reviews #42", URL: "https://ci.example.com/runs/42", By: "alice@example.com"},
		Times:   record.Times{FaultAt: &faultAt, DecidedAt: t0, WrittenAt: &written},
	}
}

// promotion is a promotion record with no window, alert or release context.
func promotion() record.Record {
	return record.Record{
		ID: "shop.reviews.v2.promoted", Event: record.Promoted, Namespace: "shop", Service: "reviews",
		From:   record.Version{Subset: "v1"},
		To:     record.Version{Subset: "v2", Images: []string{"registry.example.com/shop/reviews@sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"}},
		Weight: record.Weights{Before: 50, After: 100}, Step: record.Step{Index: 4, Of: 4},
		Reason: "Promoted", Message: "the last step held for 2m with 3400 canary requests",
		Times: record.Times{DecidedAt: t0},
	}
}
