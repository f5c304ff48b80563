package analysis

import "math"

// This file holds the exact small-count statistics the guard uses: binomial tail
// probabilities through the regularised incomplete beta function, and Clopper–Pearson
// bounds found by bisection on them. No normal approximation is involved anywhere, so the
// tests keep their level at n = 5 as at n = 50 000.

// upperTail returns P(X ≥ k) for X ~ Binomial(n, p).
func upperTail(k, n uint64, p float64) float64 {
	switch {
	case k == 0:
		return 1
	case k > n || p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	// P(X ≥ k) = I_p(k, n−k+1).
	return regIncBeta(float64(k), float64(n-k+1), p)
}

// lowerBound is the one-sided Clopper–Pearson lower confidence bound at level 1−alpha
// for x successes in n trials: the p at which P(X ≥ x) = alpha.
func lowerBound(x, n uint64, alpha float64) float64 {
	if x == 0 || n == 0 {
		return 0
	}
	// upperTail(x, n, p) rises with p.
	return bisect(func(p float64) bool { return upperTail(x, n, p) < alpha })
}

// upperBound is the one-sided Clopper–Pearson upper confidence bound at level 1−alpha
// for y successes in m trials: the p at which P(X ≤ y) = alpha.
func upperBound(y, m uint64, alpha float64) float64 {
	if y >= m {
		return 1
	}
	// P(X ≤ y) = 1 − P(X ≥ y+1) falls as p rises.
	return bisect(func(p float64) bool { return 1-upperTail(y+1, m, p) > alpha })
}

// bisect returns the boundary in [0, 1] where below(p) turns from true to false.
func bisect(below func(float64) bool) float64 {
	lo, hi := 0.0, 1.0
	for range 64 {
		mid := (lo + hi) / 2
		if below(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// regIncBeta is the regularised incomplete beta function I_x(a, b) for a, b > 0,
// evaluated by its continued fraction (Lentz's method) on the side where it converges fast.
func regIncBeta(a, b, x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

func betaCF(a, b, x float64) float64 {
	const (
		maxIter = 100000
		eps     = 1e-15
		tiny    = 1e-300
	)
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}
