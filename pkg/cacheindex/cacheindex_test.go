package cacheindex

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

func TestPick(t *testing.T) {
	tests := map[string]struct {
		sel    string
		prefer []string
		want   string // the index value; "" for no option
	}{
		"one equality":             {sel: "app=reviews", want: "app=reviews"},
		"first key":                {sel: "version=v2,app=reviews", want: "app=reviews"},
		"preferred key":            {sel: "version=v2,app=reviews", prefer: []string{"version"}, want: "version=v2"},
		"preferred absent":         {sel: "version=v2,app=reviews", prefer: []string{"tier", "version"}, want: "version=v2"},
		"in with one value":        {sel: "app in (reviews)", want: "app=reviews"},
		"set-based only":           {sel: "app in (a,b),!canary"},
		"exists and one equality":  {sel: "canary,app!=x,tier==web", want: "tier=web"},
		"everything":               {sel: ""},
		"not-equals is not a pick": {sel: "app!=reviews"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sel, err := labels.Parse(tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := pick(sel, tc.prefer)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("pick(%q, %v) = %q, %t; want %q", tc.sel, tc.prefer, got, ok, tc.want)
			}
		})
	}
}

func TestExtractors(t *testing.T) {
	dr := func(ns, host string) *networkingv1.DestinationRule {
		return &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dr"}, Spec: istiov1.DestinationRule{Host: host}}
	}
	tests := map[string]struct {
		obj  client.Object
		fn   client.IndexerFunc
		want []string
	}{
		"dr short host":     {dr("shop", "reviews"), destinationRuleTargets, []string{"shop/reviews"}},
		"dr fqdn":           {dr("shop", "ratings.data.svc.cluster.local"), destinationRuleTargets, []string{"data/ratings"}},
		"dr wildcard":       {dr("shop", "*.shop.svc.cluster.local"), destinationRuleTargets, nil},
		"dr external":       {dr("shop", "api.example.com"), destinationRuleTargets, nil},
		"vs":                {vs("shop", "v", "reviews", "ratings.data"), virtualServiceTargets, []string{"shop/reviews", "data/ratings"}},
		"not a vs":          {&corev1.Pod{}, virtualServiceTargets, nil},
		"not a dr":          {&corev1.Pod{}, destinationRuleTargets, nil},
		"vs with no routes": {vs("shop", "v"), virtualServiceTargets, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.fn(tc.obj)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) || (got == nil) != (tc.want == nil) {
				t.Errorf("= %#v, want %#v", got, tc.want)
			}
		})
	}
}

// vs is a VirtualService with one http route to each of hosts.
func vs(ns, name string, hosts ...string) *networkingv1.VirtualService {
	v := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: istiov1.VirtualService{Hosts: []string{"front"}}}
	for _, h := range hosts {
		v.Spec.Http = append(v.Spec.Http, &istiov1.HTTPRoute{Route: []*istiov1.HTTPRouteDestination{{Destination: &istiov1.Destination{Host: h}}}})
	}
	return v
}

// Through a real API server and informer cache: every indexed list returns exactly what
// a list of the whole namespace, filtered the same way, returns.
func TestIndexedListsAgreeWithNamespaceLists(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx)
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	defer func() { _ = c.Stop() }()
	for _, ns := range []string{"shop", "data"} {
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	objs := []client.Object{
		vs("shop", "reviews", "reviews"),
		vs("shop", "reviews-fqdn", "Reviews.shop.svc.cluster.local."),
		vs("shop", "both", "reviews", "ratings"),
		vs("shop", "other-ns", "ratings.data"),
		vs("shop", "external", "api.example.com"),
		vs("data", "ratings", "ratings"),
	}
	for i, host := range []string{"reviews", "reviews.shop", "ratings", "*.shop.svc.cluster.local", "ratings.data.svc"} {
		objs = append(objs, &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("dr-%d", i)},
			Spec: istiov1.DestinationRule{Host: host}})
	}
	for i, l := range []map[string]string{
		{"app": "reviews", "version": "v1"}, {"app": "reviews", "version": "v2"}, {"app": "ratings", "version": "v1"},
		{"app": "reviews"}, {"istio": "ingressgateway"}, {"version": "v2"},
	} {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("pod-%d", i), Labels: l},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}})
	}
	objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "data", Name: "elsewhere", Labels: map[string]string{"app": "reviews", "version": "v1"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}})
	for _, o := range objs {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	informers, err := cache.New(c.Config, cache.Options{Scheme: c.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := Register(ctx, informers)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	names := func(list client.ObjectList, keep func(client.Object) bool, opts ...client.ListOption) []string {
		t.Helper()
		if err := informers.List(ctx, list, opts...); err != nil {
			t.Fatalf("listing %T with %v: %v", list, opts, err)
		}
		items, err := apimeta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, item := range items {
			if o := item.(client.Object); keep(o) {
				out = append(out, o.GetNamespace()+"/"+o.GetName())
			}
		}
		slices.Sort(out)
		return out
	}
	inShop := client.InNamespace("shop")
	for _, tg := range []istio.Target{{Name: "reviews", Namespace: "shop"}, {Name: "ratings", Namespace: "shop"}, {Name: "ratings", Namespace: "data"}, {Name: "api", Namespace: "shop"}} {
		routes := func(o client.Object) bool { return istio.RoutesTo(o.(*networkingv1.VirtualService), tg) }
		hosts := func(o client.Object) bool {
			dr := o.(*networkingv1.DestinationRule)
			return tg.MatchesHost(dr.Spec.GetHost(), dr.Namespace)
		}
		all := func(client.Object) bool { return true }
		for kind, lists := range map[string][2][]string{
			"VirtualServices":  {names(&networkingv1.VirtualServiceList{}, routes, inShop), names(&networkingv1.VirtualServiceList{}, all, inShop, ix.AppliesTo(tg))},
			"DestinationRules": {names(&networkingv1.DestinationRuleList{}, hosts, inShop), names(&networkingv1.DestinationRuleList{}, all, inShop, ix.AppliesTo(tg))},
		} {
			if !slices.Equal(lists[0], lists[1]) {
				t.Errorf("%s for %v: namespace list %v, index %v", kind, tg, lists[0], lists[1])
			}
		}
	}
	if got := names(&networkingv1.VirtualServiceList{}, func(client.Object) bool { return true }, inShop, ix.AppliesTo(istio.Target{Name: "reviews", Namespace: "shop"})); len(got) != 3 {
		t.Errorf("VirtualServices routing to shop/reviews by index: %v, want reviews, reviews-fqdn and both", got)
	}
	for _, s := range []string{"app=reviews", "app=reviews,version=v2", "version=v2", "istio=ingressgateway", "app in (reviews,ratings)", "app=nothing"} {
		sel, err := labels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		matches := func(o client.Object) bool { return sel.Matches(labels.Set(o.GetLabels())) }
		want := names(&corev1.PodList{}, matches, inShop)
		for _, prefer := range [][]string{nil, {"version"}, {"tier", "app"}} {
			found, err := ix.Pods("shop", sel, prefer...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range found {
				got = append(got, p.Namespace+"/"+p.Name)
			}
			if !slices.IsSorted(got) {
				t.Errorf("pods %q: %v, want them by name", s, got)
			}
			// Read again, the same objects in the same order: their copies are not made again.
			var copies PodCopies
			again, err := ix.Pods("shop", sel, prefer...)
			if first, second := copies.Of(found), copies.Of(again); err != nil || len(first) > 0 && &first[0] != &second[0] {
				t.Errorf("pods %q read twice: copied twice (%v)", s, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("pods %q (prefer %v): namespace list %v, index %v", s, prefer, want, got)
			}
		}
	}
}

// PodCopies copies pods once, and again only when the objects change.
func TestPodCopies(t *testing.T) {
	mk := func(name, ip string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{PodIP: ip}}
	}
	a, b := mk("a", "10.0.0.1"), mk("b", "10.0.0.2")
	var c PodCopies
	first := c.Of([]*corev1.Pod{a, b})
	if len(first) != 2 || first[0].Name != "a" || first[1].Status.PodIP != "10.0.0.2" {
		t.Fatalf("copies %+v", first)
	}
	if again := c.Of([]*corev1.Pod{a, b}); &again[0] != &first[0] {
		t.Errorf("the same pods were copied again")
	}
	b2 := mk("b", "10.0.0.9") // an update: a new object
	updated := c.Of([]*corev1.Pod{a, b2})
	if &updated[0] == &first[0] || updated[1].Status.PodIP != "10.0.0.9" || first[1].Status.PodIP != "10.0.0.2" {
		t.Errorf("after an update: %+v (before: %+v)", updated, first)
	}
	if got := c.Of([]*corev1.Pod{b2}); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("after a pod went away: %+v", got)
	}
	if got := c.Of(nil); len(got) != 0 {
		t.Errorf("no pods: %+v", got)
	}
}
