package inproc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// panicMsg is how controller-runtime logs a panic it recovered in Reconcile. It recovers
// them by default, so without a look at the log a panicking reconcile only shows as a
// rollout that stalls.
const panicMsg = "Observed a panic"

// panics lists the reconcile panics in a controller log (JSON lines; other lines are
// skipped): when, the panic's value, and the first frame of sluice's code in its stack.
func panics(log io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e struct {
			TS         string `json:"ts"`
			Msg        string `json:"msg"`
			Panic      string `json:"panic"`
			Stacktrace string `json:"stacktrace"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Msg != panicMsg {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s (at %s)", e.TS, e.Panic, firstOwnFrame(e.Stacktrace)))
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("reading the controller log: %w", err)
	}
	return out, nil
}

// firstOwnFrame is the first function of this module in a Go stack trace, with the file
// line under it; "unknown" when there is none.
func firstOwnFrame(stack string) string {
	lines := strings.Split(stack, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "github.com/sluicedev/sluice/") && i+1 < len(lines) {
			return l + " " + strings.TrimSpace(lines[i+1])
		}
	}
	return "unknown"
}
