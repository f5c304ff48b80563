package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedev/sluice/e2e/meshlab"
)

// faultRequest is what `sluice-lab fault` asks the lab for.
type faultRequest struct {
	Subset string `json:"subset"`
	// Errors is the fraction of calls failing with INTERNAL; Latency multiplies the
	// healthy latency (0 or 1: unchanged); Healthy resets both.
	Errors  float64 `json:"errors"`
	Latency float64 `json:"latency"`
	Healthy bool    `json:"healthy"`
}

// parseFault reads `SUBSET [--errors F] [--latency Nx] [--healthy]`.
func parseFault(args []string) (faultRequest, error) {
	fs := flag.NewFlagSet("fault", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var r faultRequest
	var latency string
	fs.Float64Var(&r.Errors, "errors", 0, "fraction of calls failing with INTERNAL, 0–1")
	fs.StringVar(&latency, "latency", "", "latency multiplier, like 5x")
	fs.BoolVar(&r.Healthy, "healthy", false, "answer healthily again")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return r, fmt.Errorf("usage: sluice-lab fault SUBSET [--errors 0.3] [--latency 5x] [--healthy]")
	}
	r.Subset = args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return r, err
	}
	if r.Errors < 0 || r.Errors > 1 {
		return r, fmt.Errorf("--errors %v: want a fraction in 0..1", r.Errors)
	}
	if latency != "" {
		f, err := strconv.ParseFloat(strings.TrimSuffix(latency, "x"), 64)
		if err != nil || f < 1 || f > 1000 {
			return r, fmt.Errorf("--latency %q: want a multiplier like 5x (1–1000)", latency)
		}
		r.Latency = f
	}
	if !r.Healthy && r.Errors == 0 && r.Latency == 0 {
		return r, fmt.Errorf("say what to change: --errors, --latency or --healthy")
	}
	return r, nil
}

// fault sends the request to the lab named by $SLUICE_LAB.
func fault(args []string, out io.Writer) error {
	r, err := parseFault(args)
	if err != nil {
		return err
	}
	addr := os.Getenv(controlEnv)
	if addr == "" {
		return fmt.Errorf("$%s is not set: run the export line the lab printed", controlEnv)
	}
	body, _ := json.Marshal(r)
	resp, err := http.PostForm("http://"+addr+"/fault", url.Values{"request": {string(body)}})
	if err != nil {
		return fmt.Errorf("reaching the lab at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the lab refused: %s", strings.TrimSpace(string(msg)))
	}
	fmt.Fprint(out, string(msg))
	return nil
}

// behaviour is what r asks a subset's backends to do, from the healthy behaviour.
func behaviour(r faultRequest, healthy meshlab.Behaviour) meshlab.Behaviour {
	b := healthy
	if r.Healthy {
		return b
	}
	b.ErrorRate, b.ErrorCode = r.Errors, codes.Internal
	if r.Latency > 1 {
		base := healthy.Latency
		if base == 0 {
			base = 10 * time.Millisecond
		}
		b.Latency = time.Duration(float64(base) * r.Latency)
	}
	return b
}

// controlHandler applies fault requests to the lab's backends.
func controlHandler(lab *meshlab.Lab, healthy meshlab.Behaviour) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var r faultRequest
		if req.Method != http.MethodPost || json.Unmarshal([]byte(req.FormValue("request")), &r) != nil {
			http.Error(w, "POST /fault with a request", http.StatusBadRequest)
			return
		}
		if len(lab.BackendsOf(r.Subset)) == 0 {
			http.Error(w, fmt.Sprintf("no subset %q in the lab (v1, v2, v3)", r.Subset), http.StatusNotFound)
			return
		}
		b := behaviour(r, healthy)
		lab.SetSubsetBehaviour(r.Subset, b)
		fmt.Fprintf(w, "%s: %.0f%% of calls fail with INTERNAL, %s added latency\n", r.Subset, 100*b.ErrorRate, b.Latency)
	})
}
