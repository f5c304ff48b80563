package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// MaxBody is the largest payload the receiver reads (Alertmanager's own payloads are far
// smaller; its max_alerts truncates big groups).
const MaxBody = 1 << 20

// Path is where the receiver listens.
const Path = "/alertmanager"

// Recorder stores one firing alert for a Service (Store does, on its TrafficShift).
type Recorder interface {
	Record(ctx context.Context, svc types.NamespacedName, canary string, rec sluicev1alpha1.AlertRecord) (Result, error)
}

// Handler is the Alertmanager webhook receiver.
type Handler struct {
	// Auth checks the caller; nil accepts every caller.
	Auth     *Authenticator
	Selector Selector
	Store    Recorder
	// Received counts alerts by result; nil counts nothing.
	Received *prometheus.CounterVec
	Log      logr.Logger
}

// Reply is the receiver's answer: what became of each alert.
type Reply struct {
	Alerts []AlertResult `json:"alerts"`
}

// AlertResult is the fate of one alert of the payload.
type AlertResult struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Service     string `json:"service,omitempty"`
	Result      Result `json:"result"`
}

// ServeHTTP authenticates first (401 without reading the body), bounds the body (413),
// decodes it (400 with a one-line reason), records every firing alert, and answers 200
// only when each one is recorded or needs no record; 500 otherwise, which Alertmanager
// retries (repeats are idempotent).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, BadRequest, "use POST")
		return
	}
	if !h.Auth.Allow(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice", Basic realm="sluice"`)
		h.fail(w, http.StatusUnauthorized, RejectedAuth, "missing or wrong credentials")
		return
	}
	if r.ContentLength > MaxBody {
		h.fail(w, http.StatusRequestEntityTooLarge, BadRequest, fmt.Sprintf("payload of %d bytes is over the %d-byte limit", r.ContentLength, MaxBody))
		return
	}
	msg, err := Decode(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.fail(w, http.StatusRequestEntityTooLarge, BadRequest, fmt.Sprintf("payload over the %d-byte limit", MaxBody))
			return
		}
		h.fail(w, http.StatusBadRequest, BadRequest, oneLine(err.Error()))
		return
	}
	reply, failed := h.record(r.Context(), msg)
	w.Header().Set("Content-Type", "application/json")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
	}
	_ = json.NewEncoder(w).Encode(reply)
}

// record files each alert of msg and says whether any could not be recorded.
func (h *Handler) record(ctx context.Context, msg *Message) (Reply, bool) {
	var reply Reply
	failed := false
	for _, a := range msg.Alerts {
		res := AlertResult{Name: a.Labels["alertname"], Fingerprint: a.Fingerprint}
		svc, canary, ok := h.Selector.Target(a.Labels)
		switch {
		case a.Status != "firing":
			res.Result = IgnoredResolved
		case !ok:
			res.Result = UnknownService
		default:
			res.Service = svc.String()
			r, err := h.Store.Record(ctx, svc, canary, newRecord(a))
			res.Result = r
			if err != nil {
				failed = true
				h.Log.Error(err, "recording an alert", "alert", res.Name, "fingerprint", a.Fingerprint, "service", res.Service)
			}
		}
		h.count(res.Result)
		h.Log.Info("alert received", "alert", res.Name, "fingerprint", a.Fingerprint, "status", a.Status, "service", res.Service, "result", string(res.Result))
		reply.Alerts = append(reply.Alerts, res)
	}
	return reply, failed
}

// newRecord is the status record of a firing alert.
func newRecord(a template.Alert) sluicev1alpha1.AlertRecord {
	summary := a.Annotations["summary"]
	if summary == "" {
		summary = a.Annotations["description"]
	}
	fp := a.Fingerprint
	if fp == "" {
		fp = a.Labels["alertname"] + "/" + a.StartsAt.String()
	}
	return sluicev1alpha1.AlertRecord{
		Fingerprint: fp, Name: a.Labels["alertname"], Summary: truncate(summary, 512),
		StartsAt: metav1.NewTime(a.StartsAt), GeneratorURL: truncate(a.GeneratorURL, 1024),
	}
}

func (h *Handler) fail(w http.ResponseWriter, code int, res Result, msg string) {
	h.count(res)
	h.Log.Info("webhook call refused", "code", code, "reason", msg)
	http.Error(w, msg, code)
}

func (h *Handler) count(res Result) {
	if h.Received != nil {
		h.Received.WithLabelValues(string(res)).Inc()
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
