package meshlab

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// AppliedWeights returns subset → weight of the route to host in the caller's
// /config_dump (nil when no route names a subset of host), and when the client applied
// the newest route configuration.
func (c *Caller) AppliedWeights(host string) (map[string]uint32, time.Time, error) {
	applied, _ := c.rec.snapshot()
	return appliedWeights(applied, host)
}

func appliedWeights(applied map[string]map[string]appliedResource, host string) (map[string]uint32, time.Time, error) {
	dump, err := buildConfigDump(applied, false)
	if err != nil {
		return nil, time.Time{}, err
	}
	rw, err := envoy.ParseConfigDump(dump)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the caller's config dump: %w", err)
	}
	var at time.Time
	for _, a := range applied[typeRoute] {
		if a.at.After(at) {
			at = a.at
		}
	}
	return envoy.SubsetWeights(rw, host), at, nil
}

// WaitForWeights waits until the caller's applied route to host splits exactly as want
// (subsets absent from want have weight 0) and returns when the client applied it.
func (c *Caller) WaitForWeights(ctx context.Context, host string, want map[string]uint32) (time.Time, error) {
	want = maps.Clone(want)
	maps.DeleteFunc(want, func(_ string, w uint32) bool { return w == 0 })
	for {
		applied, changed := c.rec.snapshot()
		got, at, err := appliedWeights(applied, host)
		if err != nil {
			return time.Time{}, err
		}
		if maps.Equal(got, want) {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for caller %s to apply weights %v to %s (has %v): %w", c.cfg.Name, want, host, got, ctx.Err())
		case <-changed:
		}
	}
}
