package cli

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
)

// historyShown is how many past rollouts status prints.
const historyShown = 5

// renderStatus writes the human-readable status of ts. total is the number of steps
// (0 when unknown); now dates the ages.
func renderStatus(out io.Writer, ts *sluicev1alpha1.TrafficShift, total int, now time.Time) error {
	st := &ts.Status
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("Service:\t%s/%s\n", ts.Namespace, ts.Name)
	phase := orDash(string(st.Phase))
	if st.Phase == sluicev1alpha1.PhasePaused && st.PausedReason != "" {
		phase += " (" + st.PausedReason + ")"
	}
	p("Phase:\t%s\n", phase)
	p("Stable → canary:\t%s → %s\n", orDash(st.Stable), orDash(st.Canary))
	p("Step:\t%s, canary weight %d%%\n", stepText(st.Step, total), st.Weight)
	if d := st.LastDecision; d != nil {
		p("Last decision:\t%s %s (%s ago)\n", orDash(d.Action), orDash(d.Reason), age(now, d.Time))
		if d.Message != "" {
			p("\t%s\n", d.Message)
		}
	}
	if len(st.VirtualServices) > 0 {
		p("VirtualServices:\t%s (%d managed route(s))\n", strings.Join(st.VirtualServices, ", "), len(st.ManagedRoutes))
	}
	if len(st.BypassRoutes) > 0 {
		p("Bypass routes:\t%s\n", routeRefs(st.BypassRoutes))
	}
	if dp := st.DataPlane; dp != nil {
		p("Data plane:\t%s\n", dataPlaneText(dp))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	renderWindow(tw, st.Window)
	if len(st.Conditions) > 0 {
		fmt.Fprintln(tw, "\nConditions:")
		fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
		for _, c := range st.Conditions {
			t := c.LastTransitionTime
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, orDash(c.Reason), age(now, &t), c.Message)
		}
	}
	if len(st.History) > 0 {
		fmt.Fprintln(tw, "\nHistory (newest first):")
		fmt.Fprintln(tw, "  CANARY\tSTABLE\tRESULT\tREASON\tFINISHED\tMESSAGE")
		for i, h := range st.History {
			if i == historyShown {
				fmt.Fprintf(tw, "  … %d more\n", len(st.History)-historyShown)
				break
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s ago\t%s\n", h.Canary, orDash(h.Stable), h.Result, orDash(h.Reason), age(now, h.FinishedAt), h.Message)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// renderWindow writes the latest per-subset window, when there is one.
func renderWindow(tw *tabwriter.Writer, w *sluicev1alpha1.WindowStatus) {
	if w == nil || (w.Stable == nil && w.Canary == nil) {
		return
	}
	fmt.Fprintf(tw, "\nWindow (%s):\n", windowSeconds(w.Seconds))
	q := guardedQuantile(w)
	header := "  ROLE\tSUBSET\tREQUESTS\tERRORS\tERROR RATE\tP50\tP99\t"
	if q != "" {
		header += q + "\t"
	}
	fmt.Fprintln(tw, header+"PODS")
	for _, r := range []struct {
		role string
		sw   *sluicev1alpha1.SubsetWindow
	}{{"stable", w.Stable}, {"canary", w.Canary}} {
		if r.sw == nil {
			continue
		}
		pods := strconv.Itoa(int(r.sw.Pods))
		if r.sw.FailedPods > 0 {
			pods += fmt.Sprintf(" (%d failed)", r.sw.FailedPods)
		}
		extra := ""
		if q != "" {
			extra = millis(r.sw.LatencyMillis) + "\t"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\t%s\t%s%s\n", r.role, orDash(r.sw.Subset), r.sw.Requests, r.sw.Errors,
			percent(r.sw.ErrorRate), millis(r.sw.P50Millis), millis(r.sw.P99Millis), extra, pods)
	}
}

// guardedQuantile is the column header of the quantile the latency guard judges ("P95",
// "P99.9"), or "" when it is p99 (already a column) or unknown.
func guardedQuantile(w *sluicev1alpha1.WindowStatus) string {
	q := ""
	for _, sw := range []*sluicev1alpha1.SubsetWindow{w.Stable, w.Canary} {
		if sw != nil && sw.Quantile != "" {
			q = sw.Quantile
		}
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil || f <= 0 || f >= 1 || q == "0.99" {
		return ""
	}
	return "P" + strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64)
}

// renderLive writes the live view of status --watch on a terminal: the step ladder with
// the current position, the window, the data plane and the decisions seen (newest first).
func renderLive(out io.Writer, ts *sluicev1alpha1.TrafficShift, steps schedule.Schedule, decisions []sluicev1alpha1.Decision, now time.Time) error {
	st := &ts.Status
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	phase := orDash(string(st.Phase))
	if st.Phase == sluicev1alpha1.PhasePaused && st.PausedReason != "" {
		phase += " (" + st.PausedReason + ")"
	}
	fmt.Fprintf(tw, "%s/%s\t%s\t%s → %s\t%s\n", ts.Namespace, ts.Name, phase, orDash(st.Stable), orDash(st.Canary), now.Format("15:04:05"))
	if len(steps) > 0 {
		fmt.Fprintf(tw, "Steps:\t%s\tcanary weight %d%%, step %s\n", ladder(steps, st.Step), st.Weight, stepText(st.Step, len(steps)))
	} else {
		fmt.Fprintf(tw, "Step:\t%s\tcanary weight %d%%\n", stepText(st.Step, 0), st.Weight)
	}
	if dp := st.DataPlane; dp != nil {
		fmt.Fprintf(tw, "Data plane:\t%s\n", dataPlaneText(dp))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	renderWindow(tw, st.Window)
	if len(decisions) > 0 {
		fmt.Fprintln(tw, "\nDecisions (newest first):")
		for _, d := range decisions {
			fmt.Fprintf(tw, "  %s ago\t%s\t%s\t%s\n", age(now, d.Time), orDash(d.Action), orDash(d.Reason), d.Message)
		}
	}
	fmt.Fprintln(tw, "\n(Ctrl-C to stop)")
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// renderTable writes the list of opted-in Services; wide adds the VirtualServices, the
// data-plane confirmation and the last decision's message.
func renderTable(out io.Writer, rows []row, wide bool, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "NAMESPACE\tSERVICE\tSTABLE\tCANARY\tWEIGHT\tSTEP\tPHASE\tREASON\tAGE"
	if wide {
		header += "\tVIRTUALSERVICES\tDATA PLANE\tMESSAGE"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		if r.ts == nil {
			created := r.svc.CreationTimestamp
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\tNoTrafficShiftYet\t%s", r.svc.Namespace, r.svc.Name, age(now, &created))
			if wide {
				fmt.Fprint(tw, "\t-\t-\tsluice has not picked the Service up yet")
			}
			fmt.Fprintln(tw)
			continue
		}
		st := &r.ts.Status
		reason := ""
		if d := st.LastDecision; d != nil {
			reason = d.Reason
		}
		if st.Phase == sluicev1alpha1.PhasePaused && st.PausedReason != "" {
			reason = st.PausedReason
		}
		created := r.ts.CreationTimestamp
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d%%\t%s\t%s\t%s\t%s", r.svc.Namespace, r.svc.Name, orDash(st.Stable), orDash(st.Canary),
			st.Weight, stepText(st.Step, len(r.steps)), orDash(string(st.Phase)), orDash(reason), age(now, &created))
		if wide {
			dp, msg := "-", "-"
			if st.DataPlane != nil {
				dp = fmt.Sprintf("%d/%d at %d%%", st.DataPlane.Applied, st.DataPlane.Callers, st.DataPlane.Weight)
			}
			if d := st.LastDecision; d != nil && d.Message != "" {
				msg = d.Message
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s", orDash(strings.Join(st.VirtualServices, ",")), dp, msg)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the table: %w", err)
	}
	return nil
}

// progressLine is the line wait prints when the phase, canary, step or weight changes.
func progressLine(now time.Time, name string, st *sluicev1alpha1.TrafficShiftStatus, total int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", now.Format("15:04:05"), name, orDash(string(st.Phase)))
	if st.Canary != "" {
		fmt.Fprintf(&b, " %s → %s step %s weight %d%%", orDash(st.Stable), st.Canary, stepText(st.Step, total), st.Weight)
	} else if st.Stable != "" {
		fmt.Fprintf(&b, " stable %s", st.Stable)
	}
	if st.Phase == sluicev1alpha1.PhasePaused && st.PausedReason != "" {
		fmt.Fprintf(&b, " (paused: %s)", st.PausedReason)
	}
	b.WriteString(decisionSuffix(st.LastDecision))
	return b.String()
}

// progressKey identifies what progressLine reports, so a line is printed only on change.
func progressKey(st *sluicev1alpha1.TrafficShiftStatus) string {
	return fmt.Sprintf("%s|%s|%s|%d|%d|%s", st.Phase, st.Stable, st.Canary, st.Step, st.Weight, st.PausedReason)
}

func stepText(step int32, total int) string {
	switch {
	case step == 0:
		return "-"
	case total > 0:
		return fmt.Sprintf("%d/%d", step, total)
	default:
		return strconv.Itoa(int(step))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age renders how long ago t was, kubectl style ("5m", "2d3h"); "?" without a time.
func age(now time.Time, t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "?"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// percent renders a decimal rate string ("0.0123") as "1.23%"; "-" when empty, the raw
// text when it is not a number.
func percent(rate string) string {
	if rate == "" {
		return "-"
	}
	f, err := strconv.ParseFloat(rate, 64)
	if err != nil {
		return rate
	}
	return strconv.FormatFloat(f*100, 'f', 2, 64) + "%"
}

func millis(v string) string {
	if v == "" {
		return "-"
	}
	return v + "ms"
}

func windowSeconds(v string) string {
	if v == "" {
		return "length unknown"
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return "last " + strconv.FormatFloat(f, 'f', -1, 64) + "s"
	}
	return v
}

func routeRefs(rs []sluicev1alpha1.RouteRef) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s[%d]", r.VirtualService, r.Index)
		if r.Name != "" {
			parts[i] = fmt.Sprintf("%s/%s", r.VirtualService, r.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// dataPlaneText says what the callers confirmed of the last weight write.
func dataPlaneText(dp *sluicev1alpha1.DataPlaneStatus) string {
	s := fmt.Sprintf("canary weight %d", dp.Weight)
	if dp.AppliedAt == nil {
		s += fmt.Sprintf(" not yet applied (%d of %d callers)", dp.Applied, dp.Callers)
	} else {
		s += fmt.Sprintf(" applied by %d caller(s) %ss after the write", dp.Applied, dp.PropagationSeconds)
	}
	if dp.CanaryDrainedAt != nil {
		s += fmt.Sprintf("; canary traffic stopped %ss after it", dp.DrainSeconds)
	}
	return s
}
