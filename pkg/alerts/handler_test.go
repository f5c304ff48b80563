package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// memStore records alerts in memory: Services with a rollout of the given canary, or a
// failure for every record.
type memStore struct {
	rollouts map[types.NamespacedName]string
	fail     error
	got      []sluicev1alpha1.AlertRecord
}

func (m *memStore) Record(_ context.Context, svc types.NamespacedName, canary string, rec sluicev1alpha1.AlertRecord) (Result, error) {
	if m.fail != nil {
		return Error, m.fail
	}
	c, ok := m.rollouts[svc]
	switch {
	case !ok:
		return UnknownService, nil
	case canary != "" && canary != c:
		return IgnoredOtherCanary, nil
	}
	for _, r := range m.got {
		if r.Fingerprint == rec.Fingerprint {
			return Repeat, nil
		}
	}
	m.got = append(m.got, rec)
	return Acted, nil
}

// readSpy fails the test's expectation when the body is read.
type readSpy struct {
	io.Reader
	read bool
}

func (r *readSpy) Read(p []byte) (int, error) {
	r.read = true
	return r.Reader.Read(p)
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	token, password := filepath.Join(dir, "token"), filepath.Join(dir, "password")
	must(t, os.WriteFile(token, []byte("s3cret-token\n"), 0o600))
	must(t, os.WriteFile(password, []byte("hunter2"), 0o600))
	auth, err := NewAuthenticator(Credentials{TokenFile: token, Username: "alertmanager", PasswordFile: password})
	must(t, err)
	firing := string(readPayload(t, "webhook-v4-firing.json"))
	resolved := string(readPayload(t, "webhook-v4-resolved.json"))
	reviews := types.NamespacedName{Namespace: "bookinfo", Name: "reviews"}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }

	tests := map[string]struct {
		method     string
		body       string
		header     func(*http.Request)
		store      *memStore
		wantCode   int
		wantResult Result // in the reply and the metric
		wantBody   string
		bodyUnread bool
		recorded   int
	}{
		"firing alert for a rollout: recorded": {
			body: firing, header: bearer, store: &memStore{rollouts: map[types.NamespacedName]string{reviews: "v2"}},
			wantCode: 200, wantResult: Acted, recorded: 1,
		},
		"basic auth": {
			body: firing, header: func(r *http.Request) { r.SetBasicAuth("alertmanager", "hunter2") },
			store: &memStore{rollouts: map[types.NamespacedName]string{reviews: "v2"}}, wantCode: 200, wantResult: Acted, recorded: 1,
		},
		"resolved alert: acknowledged, nothing recorded": {
			body: resolved, header: bearer, store: &memStore{rollouts: map[types.NamespacedName]string{reviews: "v2"}},
			wantCode: 200, wantResult: IgnoredResolved,
		},
		"alert naming another canary": {
			body: firing, header: bearer, store: &memStore{rollouts: map[types.NamespacedName]string{reviews: "v3"}},
			wantCode: 200, wantResult: IgnoredOtherCanary,
		},
		"alert for a Service sluice does not manage": {
			body: firing, header: bearer, store: &memStore{}, wantCode: 200, wantResult: UnknownService,
		},
		"alert without Service labels": {
			body: strings.NewReplacer(`"namespace":"bookinfo",`, "", `"service":"reviews",`, "").Replace(firing), header: bearer, store: &memStore{},
			wantCode: 200, wantResult: UnknownService,
		},
		"the record cannot be stored: 5xx so that Alertmanager retries": {
			body: firing, header: bearer, store: &memStore{fail: errors.New("etcd is down")}, wantCode: 500, wantResult: Error,
		},
		"no credentials: 401 before the body is read": {
			body: firing, store: &memStore{}, wantCode: 401, wantResult: RejectedAuth, bodyUnread: true,
		},
		"wrong token": {
			body: firing, header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-tokeN") }, store: &memStore{},
			wantCode: 401, wantResult: RejectedAuth, bodyUnread: true,
		},
		"wrong password": {
			body: firing, header: func(r *http.Request) { r.SetBasicAuth("alertmanager", "hunter3") }, store: &memStore{},
			wantCode: 401, wantResult: RejectedAuth, bodyUnread: true,
		},
		"token sent as a password": {
			body: firing, header: func(r *http.Request) { r.SetBasicAuth("alertmanager", "s3cret-token") }, store: &memStore{},
			wantCode: 401, wantResult: RejectedAuth, bodyUnread: true,
		},
		"GET": {
			method: http.MethodGet, header: bearer, store: &memStore{}, wantCode: 405, wantResult: BadRequest,
		},
		"over the size cap (Content-Length): 413 unread": {
			body: strings.Repeat(" ", MaxBody+1), header: bearer, store: &memStore{}, wantCode: 413, wantResult: BadRequest, bodyUnread: true,
		},
		"invalid JSON": {
			body: "{alerts", header: bearer, store: &memStore{}, wantCode: 400, wantResult: BadRequest, wantBody: "decoding the webhook payload",
		},
		"payload version 3": {
			body: strings.Replace(firing, `"version":"4"`, `"version":"3"`, 1), header: bearer, store: &memStore{},
			wantCode: 400, wantResult: BadRequest, wantBody: `payload version "3"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			received := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"result"})
			h := &Handler{Auth: auth, Selector: DefaultSelector(), Store: tc.store, Received: received, Log: logr.Discard()}
			spy := &readSpy{Reader: strings.NewReader(tc.body)}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, Path, spy)
			req.ContentLength = int64(len(tc.body))
			if tc.header != nil {
				tc.header(req)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
			if tc.bodyUnread && spy.read {
				t.Error("the body was read")
			}
			if got := testutil.ToFloat64(received.WithLabelValues(string(tc.wantResult))); got != 1 {
				t.Errorf("metric result=%s is %v, want 1", tc.wantResult, got)
			}
			if len(tc.store.got) != tc.recorded {
				t.Errorf("%d records, want %d", len(tc.store.got), tc.recorded)
			}
			if tc.wantBody != "" && !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("body %q lacks %q", rec.Body, tc.wantBody)
			}
			if rec.Code == 200 || rec.Code == 500 {
				var reply Reply
				must(t, json.Unmarshal(rec.Body.Bytes(), &reply))
				if len(reply.Alerts) != 1 || reply.Alerts[0].Result != tc.wantResult || reply.Alerts[0].Name != "CanaryHighErrorRate" {
					t.Errorf("reply %+v", reply)
				}
			}
		})
	}
}

// A chunked body over the cap is cut off at the cap: 413.
func TestHandlerChunkedOverCap(t *testing.T) {
	h := &Handler{Selector: DefaultSelector(), Store: &memStore{}, Log: logr.Discard()}
	req := httptest.NewRequest(http.MethodPost, Path, io.MultiReader(strings.NewReader(`{"version":"4","alerts":[`), strings.NewReader(strings.Repeat(`{},`, MaxBody))))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("code %d, want 413: %s", rec.Code, rec.Body)
	}
}

// The same alert twice is one record.
func TestHandlerRepeat(t *testing.T) {
	store := &memStore{rollouts: map[types.NamespacedName]string{{Namespace: "bookinfo", Name: "reviews"}: "v2"}}
	h := &Handler{Selector: DefaultSelector(), Store: store, Log: logr.Discard()}
	for i, want := range []Result{Acted, Repeat} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader(string(readPayload(t, "webhook-v4-firing.json")))))
		var reply Reply
		must(t, json.Unmarshal(rec.Body.Bytes(), &reply))
		if rec.Code != 200 || reply.Alerts[0].Result != want {
			t.Fatalf("call %d: %d %+v, want %s", i, rec.Code, reply, want)
		}
	}
	if len(store.got) != 1 {
		t.Fatalf("%d records", len(store.got))
	}
}

// A rotated credential file takes effect without a restart.
func TestAuthenticatorRereadsRotatedToken(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(token, []byte("old"), 0o600))
	auth, err := NewAuthenticator(Credentials{TokenFile: token})
	must(t, err)
	req := func(tok string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, Path, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	if !auth.Allow(req("old")) {
		t.Fatal("old token refused")
	}
	must(t, os.WriteFile(token+".new", []byte("new-and-longer"), 0o600))
	must(t, os.Rename(token+".new", token))
	if auth.Allow(req("old")) || !auth.Allow(req("new-and-longer")) {
		t.Fatal("the rotated token is not in force")
	}
}

func TestNewAuthenticatorRejects(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	must(t, os.WriteFile(empty, []byte("\n"), 0o600))
	tests := map[string]Credentials{
		"nothing":            {},
		"user only":          {Username: "am"},
		"password only":      {PasswordFile: empty},
		"missing token file": {TokenFile: "/nonexistent/token"},
		"empty token file":   {TokenFile: empty},
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewAuthenticator(c); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestSelectorTarget(t *testing.T) {
	tests := map[string]struct {
		labels      map[string]string
		wantSvc     string
		wantCanary  string
		wantMatched bool
	}{
		"namespace and service":              {labels: map[string]string{"namespace": "shop", "service": "cart", "version": "v2"}, wantSvc: "shop/cart", wantCanary: "v2", wantMatched: true},
		"Istio's destination labels":         {labels: map[string]string{"destination_service_namespace": "shop", "destination_service_name": "cart", "destination_version": "v3"}, wantSvc: "shop/cart", wantCanary: "v3", wantMatched: true},
		"Istio's host-style service name":    {labels: map[string]string{"destination_service_namespace": "shop", "destination_service_name": "cart.shop.svc.cluster.local"}, wantSvc: "shop/cart", wantMatched: true},
		"first pair wins":                    {labels: map[string]string{"namespace": "a", "service": "b", "destination_service_namespace": "c", "destination_service_name": "d"}, wantSvc: "a/b", wantMatched: true},
		"subset before version":              {labels: map[string]string{"namespace": "a", "service": "b", "subset": "canary", "version": "v2"}, wantSvc: "a/b", wantCanary: "canary", wantMatched: true},
		"half a pair":                        {labels: map[string]string{"namespace": "a"}},
		"a pod label is no Service":          {labels: map[string]string{"namespace": "a", "pod": "b"}},
		"a dotted name of another namespace": {labels: map[string]string{"namespace": "a", "service": "b.other"}, wantSvc: "a/b.other", wantMatched: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			svc, canary, ok := DefaultSelector().Target(tc.labels)
			if ok != tc.wantMatched || (ok && (svc.String() != tc.wantSvc || canary != tc.wantCanary)) {
				t.Fatalf("Target = %v %q %v, want %s %q %v", svc, canary, ok, tc.wantSvc, tc.wantCanary, tc.wantMatched)
			}
		})
	}
}

func TestParseServiceLabels(t *testing.T) {
	if got, err := ParseServiceLabels("ns=svc, kubernetes_namespace=app"); err != nil || len(got) != 2 || got[1] != (LabelPair{"kubernetes_namespace", "app"}) {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "ns", "=svc", "ns=", ","} {
		if _, err := ParseServiceLabels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
