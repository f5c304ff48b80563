package cli

// TestTranscripts captures the README's transcripts from real runs: the sluice
// controller running in this process against the test API server, stand-in pods serving
// Istio stats whose traffic follows the VirtualService weights, and the plugin run
// through kubectl. It runs only with SLUICE_CLI_TRANSCRIPTS=<output file>.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

func TestTranscripts(t *testing.T) {
	out := os.Getenv("SLUICE_CLI_TRANSCRIPTS")
	if out == "" {
		t.Skip("set SLUICE_CLI_TRANSCRIPTS=<file> to capture the README transcripts (runs the controller)")
	}
	needCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	routing := func(ns, name string, subsets ...string) []client.Object {
		var ss []string
		for _, s := range subsets {
			ss = append(ss, fmt.Sprintf(`{"name":%q,"labels":{"version":%q}}`, s, s))
		}
		dr, vs := &networkingv1.DestinationRule{}, &networkingv1.VirtualService{}
		mustJSON(t, fmt.Sprintf(`{"metadata":{"name":%q,"namespace":%q},"spec":{"host":%q,"subsets":[%s]}}`, name, ns, name, strings.Join(ss, ",")), dr)
		mustJSON(t, fmt.Sprintf(`{"metadata":{"name":%q,"namespace":%q},"spec":{"hosts":[%q],"http":[{"match":[{"headers":{"x-canary-tester":{"exact":"yes"}}}],"route":[{"destination":{"host":%q,"subset":"v2"}}]},{"route":[{"destination":{"host":%q,"subset":"v1"}}],"timeout":"10s"}]}}`, name, ns, name, name, name), vs)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{"sluice.dev/enabled": "true", "sluice.dev/step-duration": "3s"}},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}},
		}
		return []client.Object{svc, dr, vs}
	}
	createNamespace(t, "shop")
	createNamespace(t, "web")
	for _, o := range append(routing("shop", "reviews", "v1", "v2", "v3"), routing("web", "frontend", "v1", "v2")...) {
		if err := env.c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	kube, err := kubernetes.NewForConfig(env.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(env.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := standin.Start(ctx, standin.Config{Client: kube, Dynamic: dyn, Namespace: "shop", Service: "reviews", VirtualService: "reviews", Rate: 200, IPPrefix: "127.0.78.", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Stop()
	for _, v := range []string{"v1", "v2", "v3"} {
		if _, err := fleet.AddPods(ctx, v, map[string]string{"app": "reviews", "version": v}, 2); err != nil {
			t.Fatal(err)
		}
	}
	healthy := standin.SubsetBehaviour{ErrorRate: 0.001, LatencyP50: 12 * time.Millisecond, LatencyP99: 45 * time.Millisecond}
	fleet.SetBehaviour("v1", healthy)
	fleet.SetBehaviour("v2", healthy)
	fleet.SetBehaviour("v3", standin.SubsetBehaviour{ErrorRate: 0.3, LatencyP50: 12 * time.Millisecond, LatencyP99: 45 * time.Millisecond})

	logf, err := os.Create(filepath.Join(env.dir, "controller.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ctrlCtx, stopCtrl := context.WithCancel(ctx)
	ctrlDone := make(chan error, 1)
	go func() {
		ctrlDone <- manager.Run(ctrlCtx, env.c.Config, manager.Options{
			MetricsAddr: "0", ProbeAddr: "0", LogFormat: "json", Workers: 2, LogOutput: logf,
			ScrapeTimeout: 300 * time.Millisecond, Registerer: prometheus.NewRegistry(), AllowRestart: true,
		})
	}()
	defer func() {
		stopCtrl()
		<-ctrlDone
	}()
	for _, key := range []client.ObjectKey{{Namespace: "shop", Name: "reviews"}, {Namespace: "web", Name: "frontend"}} {
		eventually(t, "sluice to pick "+key.String()+" up", func() bool {
			ts := &sluicev1alpha1.TrafficShift{}
			return env.c.Client.Get(ctx, key, ts) == nil && ts.Status.Phase == sluicev1alpha1.PhaseIdle
		})
	}

	var doc bytes.Buffer
	admin := func(args ...string) []string { return append(args, "--kubeconfig", env.kubeconfig) }
	shown := func(args []string) string {
		var s []string
		for i := 0; i < len(args); i++ {
			if args[i] == "--kubeconfig" {
				i++
				continue
			}
			a := args[i]
			if strings.ContainsAny(a, " {}'") {
				// Quote the value: --for='jsonpath={…}=Promoted'.
				if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
					a = k + "='" + v + "'"
				} else {
					a = "'" + a + "'"
				}
			}
			s = append(s, a)
		}
		return "kubectl " + strings.Join(s, " ")
	}
	step := func(title, stdin, pipeFrom string, want int, args ...string) {
		t.Helper()
		r := runKubectl(t, stdin, args...)
		if r.code != want {
			t.Fatalf("%s: exit code %d, want %d\nstdout: %s\nstderr: %s", shown(args), r.code, want, r.stdout, r.stderr)
		}
		fmt.Fprintf(&doc, "%s\n\n```console\n$ ", title)
		if pipeFrom != "" {
			doc.WriteString(pipeFrom + " | ")
		}
		fmt.Fprintf(&doc, "%s\n%s%s", shown(args), r.stdout, r.stderr)
		fmt.Fprintf(&doc, "$ echo $?\n%d\n```\n\n", r.code)
	}
	step("Every opted-in Service, before any release:", "", "", 0, admin("sluice", "status", "-A")...)
	vsYAML := runKubectl(t, "", admin("get", "virtualservice", "reviews", "-n", "shop", "-o", "yaml")...)
	step("What sluice would write for the first step of v2, reviewed offline:", vsYAML.stdout, "kubectl get virtualservice reviews -n shop -o yaml", 0,
		"sluice", "plan", "-f", "-", "--canary", "v2", "--weight", "5")
	step("A CI job releases v2 and waits (exit 0: promoted):", "", "", 0, admin("sluice", "release", "reviews", "-n", "shop", "--canary", "v2",
		"--commit", "3f9c2ab", "--pipeline", "1842", "--url", "https://ci.example.com/shop/reviews/1842", "--by", "ci-bot", "--wait", "--timeout", "5m")...)
	step("kubectl's own wait on the phase (the TrafficShift has no Promoted condition):", "", "", 0,
		admin("wait", "--for=jsonpath={.status.phase}=Promoted", "trafficshift/reviews", "-n", "shop", "--timeout=10s")...)
	step("There is no Promoted condition, so waiting on one only times out:", "", "", 1,
		admin("wait", "--for=condition=Promoted", "trafficshift/reviews", "-n", "shop", "--timeout=3s")...)
	step("The next release, v3, fails 30 % of its calls (exit 1: rolled back):", "", "", ExitRolledBack, admin("sluice", "release", "reviews", "-n", "shop", "--canary", "v3",
		"--commit", "9e1d04b", "--pipeline", "1843", "--by", "ci-bot", "--wait", "--timeout", "5m")...)
	step("The Service after the rollback:", "", "", 0, admin("sluice", "status", "reviews", "-n", "shop")...)
	step("And every namespace:", "", "", 0, admin("sluice", "status", "-A")...)
	step("Its past rollouts:", "", "", 0, admin("sluice", "history", "reviews", "-n", "shop")...)
	text := regexp.MustCompile(`(?m)[ \t]+$`).ReplaceAllString(doc.String(), "")
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("transcripts written to %s", out)
}

func mustJSON(t *testing.T, s string, into any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), into); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}
