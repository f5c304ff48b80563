package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sluicedev/sluice/bench/internal/arrival"
)

// limits explains, with numbers computed here, why two goal cells are out of reach of any
// rule that keeps sluice's false-rollback bound: they are limits of the evidence, not of
// the test. Appended to the report.
func limits() string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("\n## What the evidence allows\n\n")
	p("**+5 pt with stable at 2 %%, 50 canary req/s.** Ten seconds after the fault the canary has served about\n")
	p("500 requests at 7 %%. Even a test that knew stable's rate exactly (2 %%) and looked once, at exactly 10 s,\n")
	p("with a window holding only faulty requests, misses with these probabilities:\n\n")
	p("| level of that one look | errors needed of 500 | miss probability at 7 %% |\n|---|---|---|\n")
	for _, a := range []float64{1e-3, 1e-4, 1e-5} {
		c := criticalCount(500, 0.02, a)
		p("| %g | %d | %.2f %% |\n", a, c, 100*(1-binomUpperTail(c, 500, 0.07)))
	}
	p("\nThe guard looks every tick, through a rollout of hundreds of ticks, and must still roll back no healthy\n")
	p("canary. Looks at 0.1 %% each add up: a variant of the guard with Fisher's exact test at 0.1 %% per tick,\n")
	p("measured once while writing this (see ../README.md), reached p99 10.2 s here but rolled back 44 of 1,000\n")
	p("healthy rollouts at 1000 req/s with stable at 2 %%. Keeping a rollout's false-rollback chance near 0.1 %%\n")
	p("needs each look at a level tens of times lower, where a single look at 10 s already misses more than\n")
	p("1 %% of the faults (table). So p99 ≤ 10 s in this cell and no false rollbacks cannot both hold.\n\n")
	p("**100 %% errors at 20 canary req/s.** With stable at 380 req/s and no stable errors, 2 canary errors of the\n")
	p("last second's 20 requests are not significant at that window's share of α (α/8 = 1.25e-4): even Fisher's\n")
	p("exact one-sided p is %.1e (C(20,2)/C(400,2)), and sluice's Berger–Boos test is more conservative still;\n",
		fisherAllCanary(2, 20, 380))
	p("3 errors have Fisher's p = %.1e. Any rule that needs the third error and decides on a 500 ms tick\n", fisherAllCanary(3, 20, 380))
	p("has p99 ≥ %.2f s from the fault (third arrival of a 20/s Poisson stream plus the wait for the next tick),\n", sumQuantile(3, 20, 0.5, 0.99))
	p("before any processing; with two errors it would be %.2f s. At 50 canary req/s the same bound is %.2f s.\n", sumQuantile(2, 20, 0.5, 0.99), sumQuantile(3, 50, 0.5, 0.99))
	lean := criticalCount(20, 0.01, 0.05)
	p("sluice's rechecks (../../pkg/analysis/recheck.go) cut the wait: once a tick sees failures improbable at 5 %%\n")
	p("under the 1 %% limit (%d of a second's 20 requests), it looks again every 100 ms. The tick that first sees\n", lean)
	p("them is still a regular one, so the same rule (third error) with rechecks has p99 ≥ %.2f s at 20/s and\n", recheckQuantile(lean, 3, 20, 0.99))
	p("%.2f s at 50/s (simulated, 10⁶ faults); sluice needs a few errors more than three when stable has errors\n", recheckQuantile(lean, 3, 50, 0.99))
	p("of its own, which the tables above show.\n")
	return b.String()
}

// recheckQuantile is the q-quantile of the time from a fault to the first look that has
// seen trip failures of a 100 %-failing stream of rate lambda, when looks come every 500 ms
// until one has seen lean failures and every 100 ms after that; the fault starts at a
// uniformly random phase of the tick. Monte Carlo, seeded.
func recheckQuantile(lean, trip int, lambda, q float64) float64 {
	const n, tick, fine = 1000000, 0.5, 0.1
	r := rand.New(rand.NewPCG(1, 1))
	times := make([]float64, n)
	for i := range times {
		look := r.Float64() * tick
		next, seen := r.ExpFloat64()/lambda, 0
		for {
			for next <= look && seen < trip {
				seen++
				next += r.ExpFloat64() / lambda
			}
			if seen >= trip {
				break
			}
			if seen >= lean {
				look += fine
			} else {
				look += tick
			}
		}
		times[i] = look
	}
	return quantile(times, q)
}

// criticalCount is the smallest c with P(Binomial(n, p) ≥ c) ≤ alpha.
func criticalCount(n int, p, alpha float64) int {
	for c := 0; c <= n; c++ {
		if binomUpperTail(c, n, p) <= alpha {
			return c
		}
	}
	return n + 1
}

// binomUpperTail is P(X ≥ k) for X ~ Binomial(n, p), by direct summation (n is small here).
func binomUpperTail(k, n int, p float64) float64 {
	var s float64
	for i := max(k, 0); i <= n; i++ {
		s += math.Exp(lchoose(n, i) + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return math.Min(s, 1)
}

// fisherAllCanary is Fisher's one-sided p-value when all x errors are the canary's, with
// n canary and m stable requests: C(n, x) / C(n+m, x).
func fisherAllCanary(x, n, m int) float64 {
	return math.Exp(lchoose(n, x) - lchoose(n+m, x))
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// sumQuantile is the q-quantile of T + U, T the k-th arrival of a Poisson stream of rate
// lambda (Gamma(k, lambda)) and U uniform on [0, tick): the wait for the next tick.
func sumQuantile(k int, lambda, tick, q float64) float64 {
	cdf := func(s float64) float64 {
		const steps = 2000
		var sum float64
		for i := range steps {
			sum += arrival.CDF(k, lambda, s-tick*(float64(i)+0.5)/steps)
		}
		return sum / steps
	}
	return arrival.Quantile(cdf, q)
}
