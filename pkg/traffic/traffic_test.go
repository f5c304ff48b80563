package traffic

import (
	"strconv"
	"testing"
)

func TestGRPCServerFailure(t *testing.T) {
	// Every status of gRPC's codes.Code (0–16), by number as Istio labels it.
	failures := map[int]bool{2: true, 4: true, 12: true, 13: true, 14: true, 15: true}
	for code := 0; code <= 16; code++ {
		status := strconv.Itoa(code)
		t.Run(status, func(t *testing.T) {
			if got := GRPCServerFailure(status); got != failures[code] {
				t.Errorf("GRPCServerFailure(%q) = %v, want %v", status, got, failures[code])
			}
		})
	}
	for name, status := range map[string]string{"absent": "", "name not number": "INTERNAL", "padded": " 13", "out of range": "17"} {
		t.Run(name, func(t *testing.T) {
			if GRPCServerFailure(status) {
				t.Errorf("GRPCServerFailure(%q) = true, want false", status)
			}
		})
	}
}

func TestHistogramClone(t *testing.T) {
	tests := map[string]Histogram{
		"empty":            {},
		"bounds, no count": {Bounds: []float64{1, 10}, Counts: []uint64{0, 0}},
		"observations":     {Bounds: []float64{1, 10}, Counts: []uint64{3, 7}, Count: 9, Sum: 40},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			c := h.Clone()
			if len(c.Bounds) != len(h.Bounds) || len(c.Counts) != len(h.Counts) || c.Count != h.Count || c.Sum != h.Sum {
				t.Fatalf("Clone() = %+v, want a copy of %+v", c, h)
			}
			for i := range c.Counts {
				if c.Bounds[i] != h.Bounds[i] || c.Counts[i] != h.Counts[i] {
					t.Fatalf("Clone() = %+v, want a copy of %+v", c, h)
				}
				c.Bounds[i]++
				c.Counts[i]++
				if c.Bounds[i] == h.Bounds[i] || c.Counts[i] == h.Counts[i] {
					t.Fatal("the clone shares memory with the original")
				}
			}
		})
	}
}

func TestCountsErrors(t *testing.T) {
	c := Counts{Requests: 20, Rq2xx: 10, Rq3xx: 1, Rq4xx: 4, Rq5xx: 3}
	if got := c.Errors(); got != 3 {
		t.Errorf("Errors() = %d, want the 5xx (3): 4xx are the caller's fault", got)
	}
}
