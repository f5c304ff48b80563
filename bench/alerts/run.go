package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluicedev/sluice/e2e/amserver"
	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/inproc"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	"github.com/sluicedev/sluice/pkg/alerts"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

type options struct {
	runs int
	out  string
}

const (
	ns, svc, canary = "alerts", "reviews", "v2"
	token           = "bench-alert-token"
)

// bench is the set-up one run of the benchmark shares.
type bench struct {
	c        *cluster.Cluster
	vs       *vswatch.Log
	receiver string
	am       *amserver.Server
	tokens   int
}

func run(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("-out %s: %w", o.out, err)
	}
	dir, err := os.MkdirTemp("", "sluice-bench-alerts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := cluster.Start(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	b := &bench{c: c}
	stop, err := b.setUp(ctx, dir)
	if err != nil {
		return err
	}
	res := results{Runs: o.runs, Started: time.Now().UTC()}
	for _, path := range []struct {
		name string
		out  *[]float64
		send func(context.Context, int) error
	}{{"receiver", &res.ReceiverMillis, b.postReceiver}, {"alertmanager", &res.AlertmanagerMillis, b.postAlertmanager}} {
		for i := range o.runs {
			ms, err := b.measure(ctx, func(ctx context.Context) error { return path.send(ctx, i) })
			if err != nil {
				return errors.Join(fmt.Errorf("%s run %d: %w", path.name, i, err), stop())
			}
			*path.out = append(*path.out, ms)
			fmt.Printf("%s run %d: %.1f ms\n", path.name, i+1, ms)
		}
	}
	res.Took = time.Since(res.Started).Round(time.Second).String()
	if err := stop(); err != nil {
		return err
	}
	return write(o.out, res)
}

// setUp creates the Service, its routing and stand-in pods, and starts the controller
// with its receiver and the real Alertmanager pointed at it.
func (b *bench) setUp(ctx context.Context, dir string) (stop func() error, err error) {
	kube, err := kubernetes.NewForConfig(b.c.Config)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(b.c.Config)
	if err != nil {
		return nil, err
	}
	if err := b.objects(ctx); err != nil {
		return nil, err
	}
	fleet, err := standin.Start(ctx, standin.Config{Client: kube, Dynamic: dyn, Namespace: ns, Service: svc, VirtualService: svc, Rate: 200, IPPrefix: "127.0.91.", Seed: 1})
	if err != nil {
		return nil, err
	}
	for _, v := range []string{"v1", "v2"} {
		if _, err := fleet.AddPods(ctx, v, map[string]string{"app": svc, "version": v}, 2); err != nil {
			fleet.Stop()
			return nil, err
		}
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		fleet.Stop()
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fleet.Stop()
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	b.receiver = "http://" + addr + alerts.Path
	ctrl, err := inproc.Start(ctx, b.c.Config, manager.Options{Alerts: manager.AlertOptions{BindAddress: addr, Credentials: alerts.Credentials{TokenFile: tokenFile}}}, filepath.Join(dir, "controller.log"))
	if err != nil {
		fleet.Stop()
		return nil, err
	}
	b.am, err = amserver.Start(ctx, dir, amserver.Config{WebhookURL: b.receiver, TokenFile: tokenFile, GroupWait: 0, GroupInterval: 500 * time.Millisecond})
	if err == nil {
		b.vs, err = vswatch.Watch(ctx, dyn, ns, svc, svc)
	}
	stop = func() error {
		if b.am != nil {
			b.am.Stop()
		}
		err := ctrl.Stop()
		fleet.Stop()
		return err
	}
	if err != nil {
		return nil, errors.Join(err, stop())
	}
	return stop, nil
}

func (b *bench) objects(ctx context.Context) error {
	labels := func(v string) map[string]string { return map[string]string{"app": svc, "version": v} }
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": svc}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}}},
		&networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec: istiov1.DestinationRule{Host: svc, Subsets: []*istiov1.Subset{{Name: "v1", Labels: labels("v1")}, {Name: "v2", Labels: labels("v2")}}}},
		&networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec: istiov1.VirtualService{Hosts: []string{svc}, Http: []*istiov1.HTTPRoute{{Route: []*istiov1.HTTPRouteDestination{{Destination: &istiov1.Destination{Host: svc, Subset: "v1"}}}}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: svc + "-v1", Namespace: ns}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels("v1")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("v1")}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: svc, Image: "example.invalid/reviews:v1"}}}}}},
	}
	for _, o := range objs {
		if err := b.c.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// measure starts (or retries) the rollout, waits for the canary at 5 %, calls send and
// returns the milliseconds from the call to the VirtualService watch event with the
// canary at 0.
func (b *bench) measure(ctx context.Context, send func(context.Context) error) (float64, error) {
	b.tokens++
	ann := fmt.Sprintf(`{"metadata":{"annotations":{"sluice.dev/enabled":"true","sluice.dev/canary":%q,"sluice.dev/steps":"5,100","sluice.dev/step-duration":"10m","sluice.dev/retry":"%s@%d"}}}`, canary, canary, b.tokens)
	if err := b.c.Client.Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns}}, client.RawPatch(types.MergePatchType, []byte(ann))); err != nil {
		return 0, fmt.Errorf("starting the rollout: %w", err)
	}
	if err := b.wait(ctx, 30*time.Second, func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5 && ts.Status.LastRetry == fmt.Sprintf("%s@%d", canary, b.tokens)
	}); err != nil {
		return 0, err
	}
	sent := time.Now()
	if err := send(ctx); err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if at, ok := b.vs.FirstAfter(sent, canary, 0); ok {
			if err := b.wait(ctx, 10*time.Second, func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Phase == sluicev1alpha1.PhaseRolledBack }); err != nil {
				return 0, err
			}
			return float64(at.Sub(sent).Microseconds()) / 1000, nil
		}
	}
	return 0, fmt.Errorf("no canary weight 0 within 15s of the alert")
}

func (b *bench) wait(ctx context.Context, timeout time.Duration, cond func(*sluicev1alpha1.TrafficShift) bool) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ts := &sluicev1alpha1.TrafficShift{}
		if err := b.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: svc}, ts); err == nil && cond(ts) {
			return nil
		}
	}
	return fmt.Errorf("TrafficShift %s/%s did not reach the expected state within %s", ns, svc, timeout)
}

// firstAlert is when the first run's alert started firing.
var firstAlert = time.Now().Add(-time.Hour).Truncate(time.Second)

// alert is run i's alert: a start time of its own, so each run's alert is a new one
// (Alertmanager tells alerts apart by their labels, sluice by fingerprint and start).
func alert(i int) amserver.Alert {
	return amserver.Alert{
		Labels:       map[string]string{"alertname": "ReviewsCanaryErrors", "namespace": ns, "service": svc, "version": canary, "run": strconv.Itoa(i)},
		Annotations:  map[string]string{"summary": "reviews v2: 5xx ratio over 5%"},
		StartsAt:     firstAlert.Add(time.Duration(i) * time.Second),
		GeneratorURL: "http://prometheus.bench/graph",
	}
}

// postReceiver calls the receiver directly, as Alertmanager's webhook does.
func (b *bench) postReceiver(ctx context.Context, i int) error {
	a := alert(i)
	body, err := json.Marshal(map[string]any{"version": "4", "status": "firing", "receiver": "sluice", "groupKey": "{}:{}",
		"alerts": []map[string]any{{"status": "firing", "labels": a.Labels, "annotations": a.Annotations, "startsAt": a.StartsAt,
			"endsAt": time.Time{}, "generatorURL": a.GeneratorURL, "fingerprint": fmt.Sprintf("%016x", a.StartsAt.UnixNano())}}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.receiver, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// postAlertmanager posts the alert to Alertmanager's API, as Prometheus does.
func (b *bench) postAlertmanager(ctx context.Context, i int) error {
	return b.am.Post(ctx, alert(1000+i))
}
