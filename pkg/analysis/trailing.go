package analysis

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/sluicedev/sluice/pkg/window"
)

// The guard judges a family of windows, not just the full one: a fault that started a
// second ago is diluted, in a 10 s window, by nine seconds of healthy requests, and waits
// for the window to fill before its rate shows. So the guard also tests the last Window/10,
// Window/4 and Window/2 (1 s, 2.5 s and 5 s by default), each canary sub-window against
// stable over the same sub-window, and trips when any member of the family does.
//
// The members split α between them (weighted Bonferroni): the full window, which has the
// power for small differences, gets α/2; each shorter sub-window half the share of the next
// longer one, the shortest as much as the one before it (α/4, α/8, α/8 for three). The
// shares sum to α, so the chance that a tick trips on a canary within the policy stays
// ≤ α however the members are correlated. Short members are there for hard faults, which
// clear their smaller share by far on the first tick that holds them.
//
// Stable is compared over the same sub-window on purpose: a shared dependency that starts
// failing (or slowing) both subsets at once shows in stable's last second as in the
// canary's, and must not look like a canary fault against stable's older, healthier
// traffic. Only when stable had no request in the sub-window is its full window (or the
// StableBaseline) used instead.

// Trailing is both subsets' trailing sub-window of length Span ending at Input.Now:
// Window.StatsSince(now, Span) of each.
type Trailing struct {
	Span           time.Duration
	Canary, Stable window.Stats
}

// TrailingSpans returns the sub-window lengths the guard tests besides the full window of
// length w, shortest first: w/10, w/4 and w/2 (1 s, 2.5 s, 5 s for the default 10 s). The
// controller fills Input.Trailing with one Trailing per span.
func TrailingSpans(w time.Duration) []time.Duration {
	if w <= 0 {
		return nil
	}
	var spans []time.Duration
	for _, d := range []time.Duration{w / 10, w / 4, w / 2} {
		if d > 0 && (len(spans) == 0 || d > spans[len(spans)-1]) {
			spans = append(spans, d)
		}
	}
	return spans
}

// member is one window of the guard's family.
type member struct {
	// where says which window it is, for messages: "10s", "the last 2.5s", "the latest tick".
	where          string
	canary, stable window.Stats
	// stableFull is stable's full window (the reference of last resort).
	stableFull window.Stats
	// share is the member's part of α.
	share float64
}

// family returns the windows the guard tests with their shares of α: the full window,
// then the trailing sub-windows shorter than it, shortest first. Without Trailing, the
// latest tick (CanaryTick) stands in as the one sub-window, against stable's full window.
func family(in Input) []member {
	stable := in.Stable
	if stable.Requests == 0 && in.StableBaseline.Requests > 0 {
		stable = in.StableBaseline
	}
	full := member{where: dur(in.Canary.Span), canary: in.Canary, stable: stable, stableFull: stable}
	subs := make([]Trailing, 0, len(in.Trailing)+1)
	for _, tr := range in.Trailing {
		if tr.Span > 0 && (in.Thresholds.Window <= 0 || tr.Span < in.Thresholds.Window) {
			subs = append(subs, tr)
		}
	}
	legacyTick := len(subs) == 0 && in.CanaryTick.Requests > 0
	if legacyTick {
		subs = append(subs, Trailing{Span: in.CanaryTick.Span, Canary: in.CanaryTick})
	}
	slices.SortStableFunc(subs, func(a, b Trailing) int { return cmp.Compare(a.Span, b.Span) })

	full.share = 1
	fam := make([]member, 1, 1+len(subs))
	fam[0] = full
	if len(subs) > 0 {
		fam[0].share = 0.5
	}
	for i, tr := range subs {
		s := tr.Stable
		if s.Requests == 0 {
			s = stable
		}
		// Shortest first: 1/2^len for the shortest, then doubling up to 1/4 for the longest.
		share := math.Ldexp(1, -(len(subs) - i + 1))
		if i == 0 {
			share = math.Ldexp(1, -len(subs))
		}
		where := "the last " + dur(tr.Span)
		if legacyTick {
			where = "the latest tick"
		}
		fam = append(fam, member{where: where, canary: tr.Canary, stable: s, stableFull: stable, share: share})
	}
	return fam
}
