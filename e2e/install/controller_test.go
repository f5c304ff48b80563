package install

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/sluicedev/sluice/e2e/inproc"
	"github.com/sluicedev/sluice/pkg/alerts"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller"
	"github.com/sluicedev/sluice/pkg/controller/manager"
	"github.com/sluicedev/sluice/pkg/record"
)

// notifySecret is the notification Secret rbac.yaml names: the one Secret sluice may read.
const notifySecret = "sluice-notify"

var (
	ctrlOnce sync.Once
	ctrlErr  error
	ctrlRun  *inproc.Controller
	// receiverURL is the controller's Alertmanager receiver; receiverToken the token it
	// expects (the content of the file it reads, as the mounted Secret would hold).
	receiverURL, receiverToken string
	// sinkServer is the webhook sink whose URL the notification Secret holds; sinkRecords
	// what it received.
	sinkServer  *httptest.Server
	sinkRecords records
	// clientLog holds what client-go logs through klog (reflectors' list and watch errors).
	clientLog lineLog
)

// lineLog collects log lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *lineLog) matching(re *regexp.Regexp) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if re.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

// controllerAsServiceAccount runs sluice in this process, authenticated as the manifests'
// ServiceAccount, once for the package: its notification sink reads the named Secret and
// its Alertmanager receiver listens on loopback. When t ends, passed or not, a request the
// API server refused the controller fails it, naming the request.
func controllerAsServiceAccount(t *testing.T) {
	t.Helper()
	ctrlOnce.Do(func() { ctrlErr = startController(context.Background()) })
	if ctrlErr != nil {
		t.Fatalf("starting the controller as %s: %v", saUser, ctrlErr)
	}
	t.Cleanup(func() { noRightMissing(t) })
}

func startController(ctx context.Context) error {
	klog.SetLogger(funcr.New(func(prefix, args string) { clientLog.add(prefix + " " + args) }, funcr.Options{}))
	dir, err := os.MkdirTemp("", "sluice-e2e-install-ctrl-")
	if err != nil {
		return err
	}
	receiverToken = "install-e2e-token-7d2a"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(receiverToken), 0o600); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	_ = l.Close()
	receiverURL = "http://" + addr + alerts.Path
	sinkServer = httptest.NewServer(http.HandlerFunc(sinkRecords.receive))
	if err := createNotifySecret(ctx, sinkServer.URL); err != nil {
		return err
	}
	sink, err := controller.ParseSink("name=audit,type=webhook,secret=" + notifySecret + ",events=promoted|rolled-back")
	if err != nil {
		return err
	}
	ctrlRun, err = inproc.Start(context.WithoutCancel(ctx), saConfig, manager.Options{
		Alerts: manager.AlertOptions{BindAddress: addr, Credentials: alerts.Credentials{TokenFile: tokenFile}},
		Notify: controller.NotifyConfig{Namespace: sluiceNamespace, Defaults: []sluicev1alpha1.NotifySink{sink}},
	}, filepath.Join(dir, "controller.log"))
	return err
}

func stopController() error {
	if ctrlRun == nil {
		return nil
	}
	err := ctrlRun.Stop()
	sinkServer.Close()
	return err
}

// createNotifySecret writes the notification Secret the sink reads: its URL.
func createNotifySecret(ctx context.Context, url string) error {
	return adminC.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: notifySecret, Namespace: sluiceNamespace},
		StringData: map[string]string{"url": url}})
}

// records are the rollout records a webhook sink received.
type records struct {
	mu  sync.Mutex
	got []record.Record
}

func (r *records) receive(w http.ResponseWriter, req *http.Request) {
	var rec record.Record
	if err := json.NewDecoder(req.Body).Decode(&rec); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, rec)
	r.mu.Unlock()
}

// has reports whether a record of event for namespace/service arrived.
func (r *records) has(event record.Event, namespace, service string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.got {
		if rec.Event == event && rec.Namespace == namespace && rec.Service == service {
			return true
		}
	}
	return false
}

// forbidden matches an authorization failure in a log line.
var forbidden = regexp.MustCompile(`(?i)\bforbidden\b|\bunauthorized\b`)

// noRightMissing fails t when the controller's log or client-go's shows a request the API
// server refused: a right the manifests do not grant.
func noRightMissing(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(ctrlRun.LogPath)
	must(t, err)
	var bad []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if forbidden.MatchString(line) {
			bad = append(bad, line)
		}
	}
	bad = append(bad, clientLog.matching(forbidden)...)
	if len(bad) > 0 {
		t.Errorf("the controller, running as %s, was refused %d request(s):\n%s", saUser, len(bad), strings.Join(bad, "\n"))
	}
}
