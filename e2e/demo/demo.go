package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

type demo struct {
	c     *cluster.Cluster
	out   io.Writer
	ns    string
	svc   string
	fleet *standin.Fleet
	dyn   dynamic.Interface
	// served is each subset's (requests, errors) at the last printed line.
	served map[string][2]uint64
}

const routing = `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"reviews","namespace":"demo"},
"spec":{"host":"reviews","subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}},{"name":"v3","labels":{"version":"v3"}}]}}
---
{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews","namespace":"demo"},
"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"}}],"timeout":"10s"}]}}`

func (d *demo) setup(ctx context.Context) error {
	c := d.c.Client
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.ns}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: d.svc, Namespace: d.ns, Annotations: map[string]string{"sluice.dev/enabled": "true"}},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": d.svc},
				Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}},
		},
	}
	for _, v := range []string{"v1", "v2"} {
		labels := map[string]string{"app": d.svc, "version": v}
		objs = append(objs, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.svc + "-" + v, Namespace: d.ns, Labels: labels},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: d.svc, Image: "example.invalid/reviews:" + v}}}}},
		})
	}
	for _, doc := range strings.Split(routing, "\n---\n") {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			return err
		}
		var obj client.Object = &networkingv1.VirtualService{}
		if kind.Kind == "DestinationRule" {
			obj = &networkingv1.DestinationRule{}
		}
		if err := json.Unmarshal([]byte(doc), obj); err != nil {
			return fmt.Errorf("demo routing object: %w", err)
		}
		objs = append(objs, obj)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

func (d *demo) deploymentVersions(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range []string{"reviews-v1", "reviews-v2"} {
		dep := &appsv1.Deployment{}
		if err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: n}, dep); err != nil {
			return nil, err
		}
		out[n] = dep.ResourceVersion
	}
	return out, nil
}

// rollout annotates the Service with the canary and prints the rollout until it ends.
func (d *demo) rollout(ctx context.Context, canary string, step time.Duration) error {
	start0 := time.Now()
	vs, err := vswatch.Watch(ctx, d.dyn, d.ns, d.svc, d.svc)
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"sluice.dev/canary":%q,"sluice.dev/step-duration":%q}}}`, canary, step.String())
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: d.svc, Namespace: d.ns}}
	if err := d.c.Client.Patch(ctx, svc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("annotating the Service: %w", err)
	}
	start := time.Now()
	if d.served == nil {
		d.served = map[string][2]uint64{}
	}
	prev := d.served
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastLine := ""
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		ts := &sluicev1alpha1.TrafficShift{}
		if err := d.c.Client.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: d.svc}, ts); err != nil {
			continue
		}
		weights := d.fleet.Weights()
		line := fmt.Sprintf("  %5.1fs  %-11s step %d  weights %-14s %s", time.Since(start).Seconds(), ts.Status.Phase, ts.Status.Step, fmtWeights(weights), d.traffic(prev))
		if line != lastLine {
			fmt.Fprintln(d.out, line)
			lastLine = line
		}
		st := ts.Status
		if st.Canary != canary && st.Stable != canary {
			continue
		}
		switch st.Phase {
		case sluicev1alpha1.PhasePromoted:
			fmt.Fprintf(d.out, "  ✔ %s promoted in %s: %s\n", canary, time.Since(start).Round(100*time.Millisecond), st.LastDecision.Message)
			return nil
		case sluicev1alpha1.PhaseRolledBack:
			fmt.Fprintf(d.out, "  ✘ %s rolled back: %s — %s\n", canary, st.LastDecision.Reason, st.LastDecision.Message)
			if on, ok := vs.FirstAbove(start0, canary); ok {
				if off, ok := vs.FirstAfter(on, canary, 0); ok {
					fmt.Fprintf(d.out, "  fault → canary weight 0: %s (from the VirtualService watch event that first sent %s traffic to the one that removed it)\n", off.Sub(on).Round(time.Millisecond), canary)
				}
			}
			return nil
		case sluicev1alpha1.PhaseInvalid:
			return fmt.Errorf("rollout invalid: %s", st.LastDecision.Message)
		}
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("rollout of %s did not finish in 5 minutes", canary)
		}
	}
}

// traffic renders each subset's requests and errors since the last call.
func (d *demo) traffic(prev map[string][2]uint64) string {
	var parts []string
	for _, v := range []string{"v1", "v2", "v3"} {
		r, e := d.fleet.Served(v)
		p := prev[v]
		prev[v] = [2]uint64{r, e}
		dr, de := r-p[0], e-p[1]
		if dr == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %4d req %5.1f%% err", v, dr, 100*float64(de)/float64(dr)))
	}
	return strings.Join(parts, " | ")
}

func fmtWeights(w map[string]int32) string {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, w[k]))
	}
	return strings.Join(parts, ",")
}
