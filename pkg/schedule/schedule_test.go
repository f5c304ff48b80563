package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		s       Schedule
		wantErr string
	}{
		"default":          {s: Default(30*time.Second, 20)},
		"single step":      {s: Schedule{{Weight: 100}}},
		"empty":            {s: nil, wantErr: "no steps"},
		"zero weight":      {s: Schedule{{Weight: 0}, {Weight: 100}}, wantErr: "step 1: weight 0 outside 1–100"},
		"above 100":        {s: Schedule{{Weight: 5}, {Weight: 101}}, wantErr: "step 2: weight 101 outside 1–100"},
		"not increasing":   {s: Schedule{{Weight: 50}, {Weight: 50}, {Weight: 100}}, wantErr: "step 2: weight 50 not above step 1's 50"},
		"not ending 100":   {s: Schedule{{Weight: 5}, {Weight: 50}}, wantErr: "last step's weight is 50"},
		"negative dwell":   {s: Schedule{{Weight: 5, Dwell: -time.Second}, {Weight: 100}}, wantErr: "step 1: negative dwell"},
		"negative minimum": {s: Schedule{{Weight: 100, MinRequests: -1}}, wantErr: "step 1: negative minimum requests"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestStepArithmetic(t *testing.T) {
	s := Default(time.Minute, 10)
	tests := map[string]struct {
		weight   int32
		wantStep int32
	}{
		"below the first step": {weight: 0, wantStep: 0},
		"exactly a step":       {weight: 25, wantStep: 2},
		"between steps":        {weight: 40, wantStep: 2},
		"last step":            {weight: 100, wantStep: 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := s.StepFor(tc.weight); got != tc.wantStep {
				t.Fatalf("StepFor(%d) = %d, want %d", tc.weight, got, tc.wantStep)
			}
		})
	}
	if st, ok := s.At(2); !ok || st.Weight != 25 {
		t.Fatalf("At(2) = %+v, %v", st, ok)
	}
	for _, n := range []int32{0, 5, -1} {
		if _, ok := s.At(n); ok {
			t.Fatalf("At(%d) should be out of range", n)
		}
	}
	if !s.IsLast(4) || s.IsLast(3) {
		t.Fatal("IsLast wrong")
	}
}

func TestDwellMet(t *testing.T) {
	st := Step{Weight: 5, Dwell: 30 * time.Second, MinRequests: 20}
	tests := map[string]struct {
		elapsed  time.Duration
		requests int64
		want     bool
	}{
		"both met exactly":      {elapsed: 30 * time.Second, requests: 20, want: true},
		"dwell short":           {elapsed: 30*time.Second - time.Millisecond, requests: 100, want: false},
		"requests short":        {elapsed: time.Hour, requests: 19, want: false},
		"no traffic never ends": {elapsed: 24 * time.Hour, requests: 0, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := st.DwellMet(tc.elapsed, tc.requests); got != tc.want {
				t.Fatalf("DwellMet(%s, %d) = %v, want %v", tc.elapsed, tc.requests, got, tc.want)
			}
		})
	}
}
