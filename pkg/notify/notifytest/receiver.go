// Package notifytest runs notification sinks for tests: loopback receivers that read each
// request the way its real sink type does, answer failures on demand, and record what
// arrived.
package notifytest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Answer is how a receiver answers one request.
type Answer struct {
	// Status is the HTTP status; 0 is the sink type's success.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Body replaces the sink type's own answer body when set.
	Body string
	// Hang holds the request without answering until the client gives up or the
	// receiver closes.
	Hang bool
}

// Refuse is a robot's refusal in its body, with HTTP 200 (WeCom and DingTalk answer
// {"errcode": code}, Feishu {"code": code}).
func Refuse(typ v1alpha1.SinkType, code int) Answer {
	if typ == v1alpha1.SinkFeishu {
		return Answer{Status: http.StatusOK, Body: `{"code":` + strconv.Itoa(code) + `,"msg":"refused by the test"}`}
	}
	return Answer{Status: http.StatusOK, Body: `{"errcode":` + strconv.Itoa(code) + `,"errmsg":"refused by the test"}`}
}

// Arrival is one request a receiver got.
type Arrival struct {
	At time.Time
	// Message is what the request carried; Err is why the real sink would refuse it.
	Message Message
	Err     error
	// Answer is what the receiver answered.
	Answer Answer
	Header http.Header
	Query  url.Values
	Body   []byte
}

// Accepted reports whether the receiver took the message: a valid request answered with
// success.
func (a Arrival) Accepted() bool {
	return a.Err == nil && !a.Answer.Hang && (a.Answer.Status == 0 || a.Answer.Status/100 == 2) && a.Answer.Body == ""
}

// Receiver is a sink of one type on a loopback address.
type Receiver struct {
	// URL is the receiver's webhook URL (with a credential-like path and query, as the
	// real sinks have).
	URL    string
	Type   v1alpha1.SinkType
	Secret string
	Token  string

	srv    *httptest.Server
	closed chan struct{}

	mu       sync.Mutex
	script   []Answer
	always   *Answer
	arrivals []Arrival
	changed  chan struct{}
}

// NewReceiver starts a receiver of type typ on 127.0.0.1, checking signatures with secret
// and bearer tokens with token; it stops when the test ends.
func NewReceiver(t testing.TB, typ v1alpha1.SinkType, secret, token string) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	r := &Receiver{Type: typ, Secret: secret, Token: token, closed: make(chan struct{}), changed: make(chan struct{})}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener = ln
	r.srv.Start()
	r.URL = r.srv.URL + "/hook/SECRET-PATH-TOKEN?key=SECRET-QUERY-KEY"
	t.Cleanup(r.Close)
	return r
}

// Close stops the receiver, releasing held requests.
func (r *Receiver) Close() {
	select {
	case <-r.closed:
		return
	default:
	}
	close(r.closed)
	r.srv.Close()
}

// Next queues answers for the next requests, in order; after them the receiver answers
// with Always's answer, or success.
func (r *Receiver) Next(answers ...Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, answers...)
}

// Always answers every request not scripted by Next with a; Always(Answer{}) restores
// success.
func (r *Receiver) Always(a Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.always = &a
}

// Arrivals are the requests so far, in order.
func (r *Receiver) Arrivals() []Arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Arrival(nil), r.arrivals...)
}

// Accepted are the arrivals the receiver took.
func (r *Receiver) Accepted() []Arrival {
	var out []Arrival
	for _, a := range r.Arrivals() {
		if a.Accepted() {
			out = append(out, a)
		}
	}
	return out
}

// Wait returns the arrivals once cond holds for them, or fails the test after timeout.
func (r *Receiver) Wait(t testing.TB, timeout time.Duration, cond func([]Arrival) bool) []Arrival {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		as, ch := append([]Arrival(nil), r.arrivals...), r.changed
		r.mu.Unlock()
		if cond(as) {
			return as
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s receiver: condition not met after %s; %d arrivals", r.Type, timeout, len(as))
			return nil
		}
	}
}

// WaitAccepted waits until the receiver took n messages and returns them.
func (r *Receiver) WaitAccepted(t testing.TB, n int, timeout time.Duration) []Arrival {
	t.Helper()
	r.Wait(t, timeout, func(as []Arrival) bool {
		k := 0
		for _, a := range as {
			if a.Accepted() {
				k++
			}
		}
		return k >= n
	})
	return r.Accepted()
}

func (r *Receiver) answerFor() Answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.script) > 0 {
		a := r.script[0]
		r.script = r.script[1:]
		return a
	}
	if r.always != nil {
		return *r.always
	}
	return Answer{}
}

func (r *Receiver) record(a Arrival) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrivals = append(r.arrivals, a)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	req.Body = io.NopCloser(bytes.NewReader(body))
	msg, err := Check(r.Type, r.Secret, r.Token, req, now)
	a := r.answerFor()
	if err != nil && !a.Hang && a.Status == 0 {
		// The real sinks refuse a malformed or unsigned message.
		a = Answer{Status: http.StatusBadRequest, Body: "refused by the test receiver: " + err.Error()}
	}
	r.record(Arrival{At: now, Message: msg, Err: err, Answer: a, Header: req.Header.Clone(), Query: req.URL.Query(), Body: body})
	if a.Hang {
		select {
		case <-req.Context().Done():
		case <-r.closed:
		}
		return
	}
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	status, out := a.Status, a.Body
	if status == 0 {
		status = http.StatusOK
	}
	if out == "" && status/100 == 2 {
		out = successBody(r.Type)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, out)
}

func successBody(t v1alpha1.SinkType) string {
	switch t {
	case v1alpha1.SinkSlack:
		return "ok"
	case v1alpha1.SinkWeCom, v1alpha1.SinkDingTalk:
		return `{"errcode":0,"errmsg":"ok"}`
	case v1alpha1.SinkFeishu:
		return `{"code":0,"data":{},"msg":"success"}`
	}
	return ""
}
