package spec

import (
	"errors"
	"testing"
)

func TestEnabled(t *testing.T) {
	tests := map[string]struct {
		ann      map[string]string
		want     bool
		parseErr bool
	}{
		"absent":      {ann: nil, want: false},
		"true":        {ann: map[string]string{AnnEnabled: "true"}, want: true},
		"false":       {ann: map[string]string{AnnEnabled: "false"}, want: false},
		"capitalised": {ann: map[string]string{AnnEnabled: "True"}, want: false, parseErr: true},
		"yes":         {ann: map[string]string{AnnEnabled: "yes"}, want: false, parseErr: true},
		"other key":   {ann: map[string]string{"enabled": "true"}, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Enabled(tc.ann); got != tc.want {
				t.Errorf("Enabled = %v, want %v", got, tc.want)
			}
			s, err := Parse(tc.ann, nil)
			var inv *InvalidError
			if gotErr := errors.As(err, &inv); gotErr != tc.parseErr {
				t.Fatalf("Parse error = %v, want error: %v", err, tc.parseErr)
			}
			if err == nil && s.Enabled != tc.want {
				t.Errorf("Spec.Enabled = %v, want %v", s.Enabled, tc.want)
			}
		})
	}
}

func TestPolicyName(t *testing.T) {
	tests := map[string]struct {
		ann  map[string]string
		want string
	}{
		"absent": {ann: map[string]string{AnnCanary: "v2"}, want: DefaultPolicyName},
		"empty":  {ann: map[string]string{AnnPolicy: ""}, want: DefaultPolicyName},
		"named":  {ann: map[string]string{AnnPolicy: "fast"}, want: "fast"},
		"nil":    {ann: nil, want: "default"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PolicyName(tc.ann); got != tc.want {
				t.Errorf("PolicyName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClosestKey(t *testing.T) {
	tests := map[string]struct {
		key, want string
	}{
		"transposed":       {"sluice.dev/canray", AnnCanary},
		"missing letter":   {"sluice.dev/promot", AnnPromote},
		"underscore":       {"sluice.dev/max_error_rate", AnnMaxErrorRate},
		"plural":           {"sluice.dev/virtualservices", AnnVirtualService},
		"unrelated":        {"sluice.dev/owner-team-name", ""},
		"max-latency typo": {"sluice.dev/max-latncy", AnnMaxLatency},
		"p99 typo":         {"sluice.dev/max-latency-p9", AnnMaxLatencyP99},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := closestKey(tc.key); got != tc.want {
				t.Errorf("closestKey(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	got := Keys()
	if len(got) != 24 {
		t.Fatalf("Keys() has %d keys, want the 24 sluice.dev annotations: %v", len(got), got)
	}
	seen := map[string]bool{}
	for _, k := range got {
		if seen[k] {
			t.Errorf("key %q listed twice", k)
		}
		seen[k] = true
		if _, ok := annotationNouns[k]; !ok {
			t.Errorf("key %q has no noun for messages", k)
		}
		// Every known key is accepted on its own, never reported as unknown.
		if u := unknownKeys(map[string]string{k: "x"}); len(u) != 0 {
			t.Errorf("known key %q reported as unknown", k)
		}
	}
	got[0] = "sluice.dev/changed"
	if Keys()[0] != AnnEnabled {
		t.Errorf("Keys() shares its backing array with callers")
	}
}
