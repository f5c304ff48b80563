package analysis

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestTrailingSpans(t *testing.T) {
	tests := map[string]struct {
		window time.Duration
		want   []time.Duration
	}{
		"default window":  {10 * time.Second, []time.Duration{time.Second, 2500 * time.Millisecond, 5 * time.Second}},
		"a minute":        {time.Minute, []time.Duration{6 * time.Second, 15 * time.Second, 30 * time.Second}},
		"tiny: no repeat": {3 * time.Nanosecond, []time.Duration{time.Nanosecond}},
		"zero":            {0, nil},
		"negative":        {-time.Second, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := TrailingSpans(tc.window); !slices.Equal(got, tc.want) {
				t.Fatalf("TrailingSpans(%s) = %v, want %v", tc.window, got, tc.want)
			}
		})
	}
}

// TestFamilyShares pins the split of α: the shares sum to 1, the full window has half
// (all of it alone), and the sub-windows are tested shortest first.
func TestFamilyShares(t *testing.T) {
	now := t0
	tests := map[string]struct {
		edit       func(*Input)
		wantShares []float64
		wantWhere  []string
	}{
		"full window alone": {
			edit: func(*Input) {}, wantShares: []float64{1}, wantWhere: []string{"10s"},
		},
		"latest tick": {
			edit:       func(in *Input) { in.CanaryTick = stats(now, 5, 0) },
			wantShares: []float64{0.5, 0.5}, wantWhere: []string{"10s", "the latest tick"},
		},
		"three sub-windows, given longest first": {
			edit: func(in *Input) {
				in.Trailing = trailing(now, [3][4]uint64{})
				slices.Reverse(in.Trailing)
			},
			wantShares: []float64{0.5, 0.125, 0.125, 0.25},
			wantWhere:  []string{"10s", "the last 1s", "the last 2.5s", "the last 5s"},
		},
		"a sub-window as long as the window is dropped": {
			edit: func(in *Input) {
				in.Trailing = append(trailing(now, [3][4]uint64{})[:1], Trailing{Span: 10 * time.Second})
			},
			wantShares: []float64{0.5, 0.5}, wantWhere: []string{"10s", "the last 1s"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			tc.edit(&in)
			fam := family(in)
			var sum float64
			var shares []float64
			var where []string
			for _, m := range fam {
				sum += m.share
				shares, where = append(shares, m.share), append(where, m.where)
			}
			if math.Abs(sum-1) > 1e-12 || !slices.Equal(shares, tc.wantShares) || !slices.Equal(where, tc.wantWhere) {
				t.Fatalf("family = %v %v (sum %g), want %v %v", where, shares, sum, tc.wantWhere, tc.wantShares)
			}
		})
	}
}
