// Package metricsapi is a stand-in metrics server for end-to-end tests: an extension API
// server on loopback that speaks the resource metrics API (metrics.k8s.io/v1beta1
// PodMetrics and PodMetricsList, with their discovery documents) over TLS, accepts only
// the aggregation layer's client certificate, and is registered with the real API server
// through an APIService, so that clients read it through the API server as they read
// metrics-server.
package metricsapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/cert"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Group and Version are the API the server speaks.
const (
	Group   = "metrics.k8s.io"
	Version = "v1beta1"
)

// Pod is one pod's labels and per-container usage.
type Pod struct {
	Labels map[string]string
	// Usage is per container: memory in bytes and CPU in cores.
	Usage map[string]Usage
}

// Usage is one container's memory (bytes) and CPU (cores).
type Usage struct {
	MemoryBytes int64
	CPUCores    float64
}

// Server is a running stand-in metrics server.
type Server struct {
	// Addr is host:port on loopback.
	Addr string
	srv  *http.Server

	mu   sync.Mutex
	pods map[string]map[string]Pod // namespace → name → pod
	hang bool
	// Requests counts the PodMetrics requests served (lists and gets).
	requests int
}

// Start serves on a free port of ip (a 127.0.0.0/8 address), trusting clients whose
// certificate clientCA signed (the aggregation layer's front-proxy CA).
func Start(ip string, clientCA *x509.CertPool) (*Server, error) {
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey(ip, []net.IP{net.ParseIP(ip)}, nil)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return nil, fmt.Errorf("listening for the stand-in metrics server: %w", err)
	}
	s := &Server{Addr: l.Addr().String(), pods: map[string]map[string]Pod{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA, MinVersion: tls.VersionTLS12}}
	go func() { _ = s.srv.ServeTLS(l, "", "") }()
	return s, nil
}

// Stop closes the server.
func (s *Server) Stop() { _ = s.srv.Close() }

// Port is the server's port.
func (s *Server) Port() int32 {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// SetPod sets a pod's labels and usage (replacing what it had).
func (s *Server) SetPod(ns, name string, p Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pods[ns] == nil {
		s.pods[ns] = map[string]Pod{}
	}
	s.pods[ns][name] = p
}

// SetHang makes PodMetrics requests hang until the client gives up (a stuck metrics
// server), or answer again.
func (s *Server) SetHang(h bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = h
}

// Requests is how many PodMetrics requests the server has had.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Register creates (or replaces) the APIService v1beta1.metrics.k8s.io and its
// ExternalName Service in kube-system pointing at the server, and waits until the API
// server reports it Available.
func (s *Server) Register(ctx context.Context, c client.Client) error {
	host, _, _ := net.SplitHostPort(s.Addr)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "stand-in-metrics-server", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: host}}
	if err := c.Create(ctx, svc); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("creating the metrics Service: %w", err)
	}
	as := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": Version + "." + Group},
		"spec": map[string]any{
			"group": Group, "version": Version, "insecureSkipTLSVerify": true,
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"service": map[string]any{"namespace": "kube-system", "name": svc.Name, "port": int64(s.Port())},
		},
	}}
	_ = c.Delete(ctx, as.DeepCopy())
	if err := c.Create(ctx, as); err != nil {
		return fmt.Errorf("creating the APIService: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := &unstructured.Unstructured{}
		got.SetAPIVersion("apiregistration.k8s.io/v1")
		got.SetKind("APIService")
		err := c.Get(ctx, client.ObjectKey{Name: Version + "." + Group}, got)
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, cd := range conds {
			if m, ok := cd.(map[string]any); ok && m["type"] == "Available" && m["status"] == "True" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("APIService %s.%s not Available after 60s (%v): %v", Version, Group, err, conds)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ServeHTTP answers discovery and PodMetrics requests as metrics-server does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	base := "/apis/" + Group + "/" + Version
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/healthz" || path == "/readyz" || path == "/livez":
		_, _ = w.Write([]byte("ok"))
	case path == "/apis":
		write(w, metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{group()}})
	case path == "/apis/"+Group:
		g := group()
		g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		write(w, g)
	case path == base:
		write(w, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: Group + "/" + Version,
			APIResources: []metav1.APIResource{
				{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: metav1.Verbs{"get", "list"}},
				{Name: "nodes", Namespaced: false, Kind: "NodeMetrics", Verbs: metav1.Verbs{"get", "list"}},
			}})
	case strings.HasPrefix(path, base+"/namespaces/"):
		s.podMetrics(w, r, strings.Split(strings.TrimPrefix(path, base+"/namespaces/"), "/"))
	default:
		status(w, http.StatusNotFound, "the server could not find the requested resource")
	}
}

func group() metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: Group + "/" + Version, Version: Version}
	return metav1.APIGroup{Name: Group, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}
}

// podMetrics serves namespaces/{ns}/pods (a list, with labelSelector) and
// namespaces/{ns}/pods/{name}.
func (s *Server) podMetrics(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) < 2 || len(parts) > 3 || parts[1] != "pods" {
		status(w, http.StatusNotFound, "the server could not find the requested resource")
		return
	}
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		status(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.requests++
	hang := s.hang
	pods := map[string]Pod{}
	for n, p := range s.pods[parts[0]] {
		pods[n] = p
	}
	s.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	if len(parts) == 3 {
		p, ok := pods[parts[2]]
		if !ok {
			status(w, http.StatusNotFound, fmt.Sprintf("podmetrics.metrics.k8s.io %q not found", parts[2]))
			return
		}
		pm := podMetrics(parts[0], parts[2], p, now)
		pm.TypeMeta = metav1.TypeMeta{Kind: "PodMetrics", APIVersion: Group + "/" + Version}
		write(w, pm)
		return
	}
	list := metricsv1beta1.PodMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: Group + "/" + Version}}
	for n, p := range pods {
		if sel.Matches(labels.Set(p.Labels)) {
			list.Items = append(list.Items, podMetrics(parts[0], n, p, now))
		}
	}
	write(w, list)
}

func podMetrics(ns, name string, p Pod, now metav1.Time) metricsv1beta1.PodMetrics {
	pm := metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: p.Labels, CreationTimestamp: now},
		Timestamp: now, Window: metav1.Duration{Duration: 15 * time.Second}}
	for c, u := range p.Usage {
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Name: c, Usage: corev1.ResourceList{
			corev1.ResourceMemory: *resource.NewQuantity(u.MemoryBytes, resource.BinarySI),
			corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(u.CPUCores*1e9), resource.Nano),
		}})
	}
	return pm
}

func write(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func status(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Code: int32(code), Message: msg, Reason: metav1.StatusReasonNotFound})
}
