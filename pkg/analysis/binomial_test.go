package analysis

import (
	"math"
	"testing"
)

// naiveUpperTail sums the binomial pmf directly (fine for small n).
func naiveUpperTail(k, n uint64, p float64) float64 {
	var s float64
	for i := k; i <= n; i++ {
		lc, _ := math.Lgamma(float64(n + 1))
		l1, _ := math.Lgamma(float64(i + 1))
		l2, _ := math.Lgamma(float64(n - i + 1))
		s += math.Exp(lc - l1 - l2 + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return s
}

func TestUpperTail(t *testing.T) {
	tests := map[string]struct {
		k, n uint64
		p    float64
	}{
		"all of 10 at 1%":   {k: 10, n: 10, p: 0.01},
		"1 of 5 at 1%":      {k: 1, n: 5, p: 0.01},
		"3 of 150 at 0.9%":  {k: 3, n: 150, p: 0.009},
		"18 of 150 at 1.5%": {k: 18, n: 150, p: 0.015},
		"50 of 100 at 50%":  {k: 50, n: 100, p: 0.5},
		"1 of 1 at 30%":     {k: 1, n: 1, p: 0.3},
		"400 of 900 at 40%": {k: 400, n: 900, p: 0.4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, want := upperTail(tc.k, tc.n, tc.p), naiveUpperTail(tc.k, tc.n, tc.p)
			if math.Abs(got-want) > 1e-9*math.Max(want, 1e-300) && math.Abs(got-want) > 1e-12 {
				t.Fatalf("upperTail(%d, %d, %v) = %g, want %g", tc.k, tc.n, tc.p, got, want)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	tests := map[string]struct {
		x, n      uint64
		alpha     float64
		wantLower float64
		wantUpper float64
	}{
		// Closed forms: lower bound of n/n is alpha^(1/n); upper bound of 0/m is 1−alpha^(1/m).
		"10 of 10":  {x: 10, n: 10, alpha: 0.001, wantLower: math.Pow(0.001, 0.1), wantUpper: 1},
		"0 of 190":  {x: 0, n: 190, alpha: 0.0005, wantLower: 0, wantUpper: 1 - math.Pow(0.0005, 1.0/190)},
		"2 of 2":    {x: 2, n: 2, alpha: 0.001, wantLower: math.Pow(0.001, 0.5), wantUpper: 1},
		"1 of 5 lb": {x: 1, n: 5, alpha: 0.001, wantLower: 1 - math.Pow(0.999, 0.2), wantUpper: -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := lowerBound(tc.x, tc.n, tc.alpha); math.Abs(got-tc.wantLower) > 1e-9 {
				t.Fatalf("lowerBound = %v, want %v", got, tc.wantLower)
			}
			if tc.wantUpper >= 0 {
				if got := upperBound(tc.x, tc.n, tc.alpha); math.Abs(got-tc.wantUpper) > 1e-9 {
					t.Fatalf("upperBound = %v, want %v", got, tc.wantUpper)
				}
			}
		})
	}
}

func TestLargeCountsStayFinite(t *testing.T) {
	// A gateway can see millions of requests in a window.
	p := upperTail(10500, 1_000_000, 0.01)
	if math.IsNaN(p) || p < 0 || p > 1 || p > 1e-3 {
		t.Fatalf("upperTail(10500, 1e6, 1%%) = %v", p)
	}
	u := upperBound(10000, 1_000_000, 0.0005)
	if !(u > 0.01 && u < 0.0105) {
		t.Fatalf("upperBound(1e4, 1e6) = %v", u)
	}
}
