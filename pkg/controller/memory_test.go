package controller

import (
	"testing"
	"time"
)

func TestTickEvery(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		interval time.Duration
		recheck  bool // a recheck lasts past now
		want     time.Duration
	}{
		"no recheck":                       {interval: 500 * time.Millisecond, want: 500 * time.Millisecond},
		"recheck: a fifth of the interval": {interval: 500 * time.Millisecond, recheck: true, want: 100 * time.Millisecond},
		"recheck: never under 50ms":        {interval: 100 * time.Millisecond, recheck: true, want: 50 * time.Millisecond},
		"recheck: never over the interval": {interval: 40 * time.Millisecond, recheck: true, want: 40 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rm := &rolloutMemory{}
			if tc.recheck {
				rm.recheckUntil = t0.Add(tc.interval)
			}
			if got := rm.tickEvery(t0, tc.interval); got != tc.want {
				t.Fatalf("tickEvery = %v, want %v", got, tc.want)
			}
			// Once the recheck has lasted its interval, ticks are back to the interval.
			if got := rm.tickEvery(t0.Add(tc.interval), tc.interval); got != tc.interval {
				t.Fatalf("after the recheck: tickEvery = %v, want %v", got, tc.interval)
			}
		})
	}
}
