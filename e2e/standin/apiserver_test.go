package standin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// The fleet and caller tests run against a real kube-apiserver and etcd (e2e/cluster,
// with Istio's CRDs), started once for the package on first use and stopped after the
// tests: they check the pod objects the fleet writes, the servers, the generator loop
// and how it follows the VirtualService through a real watch.

var (
	apiOnce sync.Once
	api     *cluster.Cluster
	apiErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if api != nil {
		if err := api.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test API server:", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// apiClients returns clients of the package's API server, with namespace ns and the
// given VirtualServices created in it.
func apiClients(t *testing.T, ns string, vss ...*unstructured.Unstructured) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	apiOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		api, apiErr = cluster.Start(ctx)
	})
	if apiErr != nil {
		t.Fatalf("starting the API server: %v", apiErr)
	}
	kube, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, vs := range vss {
		vs.SetNamespace(ns)
		if _, err := dyn.Resource(VirtualServiceGVR).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating VirtualService %s/%s: %v", ns, vs.GetName(), err)
		}
	}
	return kube, dyn
}

// setWeights replaces the route of VirtualService ns/reviews with weights.
func setWeights(t *testing.T, dyn dynamic.Interface, ns string, weights map[string]int32) {
	t.Helper()
	patch, err := json.Marshal(map[string]any{"spec": vsObject(t, weights).Object["spec"]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(VirtualServiceGVR).Namespace(ns).Patch(t.Context(), "reviews", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("setting the weights of %s/reviews: %v", ns, err)
	}
}
