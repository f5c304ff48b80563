package main

import (
	"fmt"
	"strings"
)

// plot draws one faulty run (the first errors-100% run at 5 % without error): the
// canary's calls per scrape, then one lane per rule with its checks and decision.
func plot(res results) string {
	var run *runRecord
	for i, r := range res.Records {
		if r.Scenario == "errors-100%" && r.Weight == 5 && r.Error == "" && r.RolledBack {
			run = &res.Records[i]
			break
		}
	}
	var b strings.Builder
	const W, H, left, right = 900, 380, 120, 20
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", W, H)
	p(`<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	if run == nil {
		p(`<text x="20" y="30">no errors-100%% run to plot</text></svg>`)
		return b.String()
	}
	xmax := run.FaultMs + 25000
	x := func(msv float64) float64 { return left + (W-left-right)*msv/xmax }
	p(`<text x="10" y="18" font-size="13">%s at %d %%, run %d: fault at %.2f s; one timeline per rule (same traffic)</text>`+"\n", run.Scenario, run.Weight, run.Run, run.FaultMs/1000)
	// calls panel
	top, ph := 35.0, 90.0
	var peak uint64 = 1
	for _, s := range run.Series {
		peak = max(peak, s.Calls)
	}
	p(`<text x="10" y="%.0f">canary calls</text><text x="10" y="%.0f">per 1 s scrape</text>`+"\n", top+40, top+54)
	for _, s := range run.Series {
		if s.AtMs > xmax {
			break
		}
		h := ph * float64(s.Calls) / float64(peak)
		he := ph * float64(s.Errors) / float64(peak)
		x0 := x(s.AtMs - 1000)
		wd := x(s.AtMs) - x0 - 1
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#9ecae1"/>`, x0, top+ph-h, wd, h-he)
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#de2d26"/>`+"\n", x0, top+ph-he, wd, he)
	}
	p(`<text x="%.0f" y="%.0f" fill="#555">max %d; red = 5xx</text>`+"\n", W-right-120.0, top+10, peak)
	// lanes
	lanes := []string{"sluice", "Flagger-style", "Argo-style"}
	laneY := func(i int) float64 { return top + ph + 45 + float64(i)*60 }
	for i, n := range lanes {
		y := laneY(i)
		p(`<text x="10" y="%.0f">%s</text><line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#ccc"/>`+"\n", y+4, n, left, y, W-right, y)
	}
	bottom := laneY(2) + 30
	// step writes and fault
	for _, s := range run.Steps {
		p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#999" stroke-dasharray="2,3"/><text x="%.1f" y="%.0f" fill="#777">%d%%</text>`+"\n",
			x(s.AtMs), top, x(s.AtMs), bottom, x(s.AtMs)+2, bottom+12, s.Weight)
	}
	p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#de2d26" stroke-width="2"/><text x="%.1f" y="%.0f" fill="#de2d26">fault</text>`+"\n",
		x(run.FaultMs), top, x(run.FaultMs), bottom, x(run.FaultMs)+3, top+ph+14)
	mark := func(y, atMs float64, color, label string, up bool) {
		p(`<path d="M%.1f %.1f l-5 -9 h10 z" fill="%s"/>`, x(atMs), y, color)
		ty := y - 12
		if !up {
			ty = y + 18
		}
		p(`<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", x(atMs)-4, ty, color, label)
	}
	y0 := laneY(0)
	if run.WrittenMs != nil {
		mark(y0, run.FaultMs+*run.WrittenMs, "black", fmt.Sprintf("VS written +%.0f ms", *run.WrittenMs), true)
		mark(y0, run.FaultMs+*run.AppliedMs, "#3182bd", fmt.Sprintf("client applied +%.0f ms", *run.AppliedMs), false)
	}
	for i, n := range []string{"flagger", "argo"} {
		y := laneY(i + 1)
		rr := run.Baselines[n]
		for _, c := range rr.Checks {
			col := "#31a354"
			if c.Failed {
				col = "#de2d26"
			}
			p(`<circle cx="%.1f" cy="%.0f" r="3" fill="%s"/>`, x(c.AtMs), y, col)
		}
		p("\n")
		if rr.DecidedMs != nil {
			mark(y-5, run.FaultMs+*rr.DecidedMs, "black", fmt.Sprintf("decides +%.1f s", *rr.DecidedMs/1000), true)
			if rr.AppliedMs != nil {
				mark(y-5, run.FaultMs+*rr.AppliedMs, "#3182bd", fmt.Sprintf("client applied ≈ +%.1f s", *rr.AppliedMs/1000), false)
			}
		}
	}
	for s := 0.0; s <= xmax; s += 5000 {
		p(`<text x="%.1f" y="%.0f" fill="#555">%.0f s</text>`, x(s)-6, bottom+28, s/1000)
	}
	p("\n"+`<text x="10" y="%d" fill="#555">dots: checks (green pass, red fail); time since the rollout was annotated</text>`+"\n</svg>\n", H-8)
	return b.String()
}
