// Package manager wires sluice's reconciler into a controller-runtime manager: scheme,
// logging, metrics, health checks and the stats scraper. Both the sluice binary and the
// end-to-end tests start the controller through Run.
package manager

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/cacheindex"
	"github.com/sluicedev/sluice/pkg/controller"
	"github.com/sluicedev/sluice/pkg/dataplane"
	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/metrics"
	"github.com/sluicedev/sluice/pkg/notify"
	"github.com/sluicedev/sluice/pkg/ownwrites"
	"github.com/sluicedev/sluice/pkg/sampler"
	"github.com/sluicedev/sluice/pkg/source"
)

// Options are the controller's settings (the sluice binary's flags).
type Options struct {
	MetricsAddr string
	ProbeAddr   string
	// PprofAddr serves net/http/pprof (empty: off).
	PprofAddr string
	// Leader configures leader election (--leader-elect and its companions).
	Leader        LeaderOptions
	LogFormat     string // json or console
	LogDebug      bool
	Workers       int
	ScrapeTimeout time.Duration
	StatsPort     int
	// StatusEvery bounds how often a steady rollout's status window is rewritten
	// (0: controller.DefaultStatusEvery).
	StatusEvery time.Duration
	// StatusRefreshRate bounds all rollouts' window-only status refreshes per second.
	StatusRefreshRate float64
	// APIQPS and APIBurst are the client's rate limit towards the API server.
	APIQPS   float64
	APIBurst int
	// CallerPageMaxAge is how old a stats-from caller's page may be and still serve
	// another Service's read (0: source.DefaultPageMaxAge, the default tick; negative:
	// only overlapping reads share a request).
	CallerPageMaxAge time.Duration
	// ConfigDumpPort enables data-plane confirmation: the callers' proxies' config dump
	// is read on this port (0 disables; Envoy's admin port is 15000).
	ConfigDumpPort int
	// IstiodDebugURLs enables data-plane confirmation through istiod instead: the debug
	// HTTP endpoints of every istiod replica (/debug/syncz, /debug/config_dump).
	IstiodDebugURLs []string
	// DataPlaneTimeout is how long a weight write may stay unconfirmed before sluice says so.
	DataPlaneTimeout time.Duration
	// PrometheusURL enables the Prometheus stats source (policies with statsSource Prometheus).
	PrometheusURL string
	// Clock is injected by tests; nil means the real clock.
	Clock clock.PassiveClock
	// AllowRestart lets a process start the controller more than once (tests).
	AllowRestart bool
	// LogOutput receives the logs; nil means stderr.
	LogOutput io.Writer
	// Registerer receives the controller's metrics; nil means controller-runtime's registry.
	Registerer prometheus.Registerer
	// Alerts configure the Alertmanager receiver (off unless Alerts.BindAddress is set).
	Alerts AlertOptions
	// ClusterName names this cluster in rollout records and notifications.
	ClusterName string
	// Notify is where rollout records go besides the log: the namespace of the sinks'
	// Secrets and the sinks every policy gets.
	Notify controller.NotifyConfig
}

// BindFlags registers the options as command-line flags.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address of the controller's own /metrics (\"0\" disables)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "", "address of net/http/pprof, e.g. 127.0.0.1:6060 (empty: off)")
	fs.StringVar(&o.LogFormat, "log-format", "json", "log format: json or console")
	fs.BoolVar(&o.LogDebug, "debug", false, "debug-level logs")
	fs.IntVar(&o.Workers, "workers", 4, "Services reconciled concurrently")
	fs.DurationVar(&o.ScrapeTimeout, "scrape-timeout", 400*time.Millisecond, "timeout of one stats scrape")
	fs.IntVar(&o.StatsPort, "stats-port", 15090, "port of the sidecars' Prometheus stats")
	fs.DurationVar(&o.StatusEvery, "status-every", controller.DefaultStatusEvery, "how often a rollout's TrafficShift status is rewritten when only its stats window changed (a change of phase, step, weight, conditions or decision is written at once)")
	fs.Float64Var(&o.StatusRefreshRate, "status-refresh-rate", controller.DefaultStatusRefreshRate, "window-only status refreshes for all rollouts together in any second: past status-refresh-rate × status-every active rollouts, each refreshes less often, and a refresh over the rate waits for a later tick (negative: no bound)")
	fs.Float64Var(&o.APIQPS, "kube-api-qps", 100, "requests per second to the API server (the Lease has its own connection and limit)")
	fs.IntVar(&o.APIBurst, "kube-api-burst", 200, "burst of requests to the API server")
	fs.DurationVar(&o.CallerPageMaxAge, "caller-page-max-age", source.DefaultPageMaxAge, "how old a stats-from caller's page may be and still serve another Service's read: every Service reading a caller pod shares one scrape of it within this age, and a rollout takes only pages newer than the one its last tick read (a rollout with a shorter tick interval asks for younger pages; negative: share only overlapping reads)")
	fs.IntVar(&o.ConfigDumpPort, "config-dump-port", 0, "port of the stats-from callers' /config_dump; when set, each weight write is confirmed there and a step's dwell starts at confirmation (0 disables)")
	fs.Func("istiod-debug-url", "debug HTTP endpoint of istiod, e.g. http://istiod.istio-system:15014 (repeat or comma-separate for every replica); when set, each weight write is confirmed through istiod's /debug/syncz and /debug/config_dump, for callers whose Envoy admin is not reachable", func(v string) error {
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				if _, err := url.ParseRequestURI(u); err != nil || !strings.HasPrefix(u, "http") {
					return fmt.Errorf("%q is not an http(s) URL", u)
				}
				o.IstiodDebugURLs = append(o.IstiodDebugURLs, u)
			}
		}
		return nil
	})
	fs.DurationVar(&o.DataPlaneTimeout, "dataplane-timeout", 10*time.Second, "how long a weight write may stay unconfirmed before a DataPlaneUnconfirmed condition and Event")
	fs.StringVar(&o.PrometheusURL, "prometheus-url", "", "Prometheus HTTP API address, for ShiftPolicies with statsSource: Prometheus (empty: disabled)")
	fs.StringVar(&o.ClusterName, "cluster-name", "", "name of this cluster in rollout records and notifications")
	fs.StringVar(&o.Notify.Namespace, "notify-namespace", envOr("POD_NAMESPACE", "sluice-system"), "namespace of the Secrets notification sinks name (sluice's own)")
	fs.Func("notify", "a notification sink every rollout record goes to, besides its policy's: name=N,type=slack|wecom|feishu|dingtalk|cloudevents|webhook,secret=SECRET[,events=started|rolled-back|…] (repeat for more)", func(v string) error {
		s, err := controller.ParseSink(v)
		if err == nil {
			o.Notify.Defaults = append(o.Notify.Defaults, s)
		}
		return err
	})
	o.Alerts.bindFlags(fs)
	o.Leader.bindFlags(fs)
}

// Scheme has every type the controller reads or writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, sluicev1alpha1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// Run starts the manager and blocks until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	logger, raw, err := newLogger(o)
	if err != nil {
		return err
	}
	ctrl.SetLogger(logger)
	mgr, fence, err := newManager(cfg, o, logger)
	if err != nil {
		return err
	}
	reg := o.Registerer
	if reg == nil {
		reg = crmetrics.Registry
	}
	m, err := metrics.New(reg)
	if err != nil {
		return err
	}
	r, err := newReconciler(mgr, o, m, fence, raw)
	if err != nil {
		return err
	}
	if err := addRunnables(mgr, cfg, o, r, m, reg, logger); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// newLogger builds the zap logger of o's format and level.
func newLogger(o Options) (logr.Logger, *uberzap.Logger, error) {
	if o.LogFormat != "json" && o.LogFormat != "console" {
		return logr.Logger{}, nil, fmt.Errorf("--log-format %q: expected json or console", o.LogFormat)
	}
	raw := zap.NewRaw(zap.UseDevMode(o.LogFormat == "console"), func(zo *zap.Options) {
		zo.TimeEncoder = zapcore.RFC3339NanoTimeEncoder
		if o.LogOutput != nil {
			zo.DestWriter = o.LogOutput
		}
		zo.Level = zapcore.InfoLevel
		if o.LogDebug {
			zo.Level = zapcore.DebugLevel
		}
		zo.ZapOpts = append(zo.ZapOpts, uberzap.WrapCore(deferFields))
	})
	return zapr.NewLogger(raw), raw, nil
}

// newManager creates the controller-runtime manager, with leader election when o asks;
// the fence then guards the reconciler's writes.
func newManager(cfg *rest.Config, o Options, logger logr.Logger) (ctrl.Manager, *Fence, error) {
	cfg = withRateLimit(cfg, o.APIQPS, o.APIBurst)
	scheme, err := Scheme()
	if err != nil {
		return nil, nil, err
	}
	mo := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
		PprofBindAddress:       o.PprofAddr,
		Logger:                 logger,
	}
	fence, err := leaderElection(cfg, o.Leader, &mo)
	if err != nil {
		return nil, nil, err
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the manager: %w", err)
	}
	if lock := mo.LeaderElectionResourceLockInterface; lock != nil {
		logger.Info("electing a leader", "identity", lock.Identity(), "lease", lock.Describe(),
			"leaseDuration", mo.LeaseDuration.String(), "renewDeadline", mo.RenewDeadline.String(), "retryPeriod", mo.RetryPeriod.String())
	}
	return mgr, fence, nil
}

// newReconciler builds the reconciler: its clients (writes through the fence), stats
// sources and data-plane confirmation.
func newReconciler(mgr ctrl.Manager, o Options, m *metrics.Metrics, fence *Fence, raw *uberzap.Logger) (*controller.Reconciler, error) {
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	scraper := envoy.NewScraper(envoy.ScrapeOptions{Timeout: o.ScrapeTimeout})
	// A caller's page serves every Service that reads the caller: backing off from it for
	// up to 30 s would leave them all without stats that long.
	callerScraper := envoy.NewScraper(envoy.ScrapeOptions{Timeout: o.ScrapeTimeout, MaxBackoff: source.CallerMaxBackoff})
	callers := &source.Callers{Reader: mgr.GetClient(), Scraper: scraper, Port: o.StatsPort,
		Pages: source.NewCallerPages(callerScraper, o.CallerPageMaxAge)}
	r := &controller.Reconciler{
		Client:    FencedClient(mgr.GetClient(), fence, time.Now),
		APIReader: mgr.GetAPIReader(),
		Fresh:     &ownwrites.Reader{Cache: mgr.GetCache(), Live: mgr.GetAPIReader(), Clock: clk},
		Recorder:  mgr.GetEventRecorder("sluice"),
		Clock:     clk,
		Stats: controller.Sources{
			Destination: &source.Destination{Scraper: scraper, Port: o.StatsPort},
			Callers:     callers,
		},
		Metrics:           m,
		StatusEvery:       o.StatusEvery,
		StatusRefreshRate: o.StatusRefreshRate,
		Cluster:           o.ClusterName,
		RecordLog:         raw.Named("rollout"),
		Notify:            o.Notify,
	}
	if err := dataPlane(r, mgr, o, scraper); err != nil {
		return nil, err
	}
	// After the options are checked: the indexes need the API server's discovery.
	ix, err := cacheindex.Register(context.Background(), mgr.GetCache())
	if err != nil {
		return nil, err
	}
	r.Index, callers.Index = ix, ix
	callers.Pages.Failing = r.Wake
	return r, nil
}

// dataPlane sets r's data-plane confirmation, if o asks for one.
func dataPlane(r *controller.Reconciler, mgr ctrl.Manager, o Options, scraper *envoy.Scraper) error {
	switch {
	case o.ConfigDumpPort > 0 && len(o.IstiodDebugURLs) > 0:
		return fmt.Errorf("--config-dump-port and --istiod-debug-url both confirm the data plane: set one")
	case o.ConfigDumpPort > 0:
		r.DataPlane = &dataplane.Confirmer{Reader: mgr.GetClient(), Scraper: scraper, Port: o.ConfigDumpPort}
		r.DataPlaneTimeout = o.DataPlaneTimeout
	case len(o.IstiodDebugURLs) > 0:
		r.DataPlane = &dataplane.Istiod{Reader: mgr.GetClient(), Scraper: scraper, URLs: o.IstiodDebugURLs}
		r.DataPlaneTimeout = o.DataPlaneTimeout
	}
	return nil
}

// addRunnables adds the notifier, the alert receiver, the reconciler, the standby (with
// leader election) and the health checks to mgr.
func addRunnables(mgr ctrl.Manager, cfg *rest.Config, o Options, r *controller.Reconciler, m *metrics.Metrics, reg prometheus.Registerer, logger logr.Logger) error {
	if err := addNotifier(mgr, r, reg, logger); err != nil {
		return err
	}
	if err := addSignals(mgr, r, cfg, o, r.Clock); err != nil {
		return err
	}
	if err := addAlertReceiver(mgr, o.Alerts, m); err != nil {
		return err
	}
	if o.Leader.Elect {
		if err := mgr.Add(controller.NewStandby(r, mgr.Elected(), mgr.GetCache())); err != nil {
			return fmt.Errorf("adding the standby: %w", err)
		}
	}
	workers := max(o.Workers, 1)
	if err := r.SetupWithManager(mgr, workers, o.AllowRestart); err != nil {
		return fmt.Errorf("setting up the reconciler: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	return nil
}

// addSignals gives r the Prometheus stats source (with --prometheus-url) and the sampler
// of the signals read beside the tick: the resource metrics API, and Prometheus for
// resources and custom checks.
func addSignals(mgr ctrl.Manager, r *controller.Reconciler, cfg *rest.Config, o Options, clk clock.PassiveClock) error {
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("resource metrics API client: %w", err)
	}
	tc, ok := clk.(clock.WithTicker)
	if !ok {
		tc = clock.RealClock{}
	}
	r.Signals = controller.Signals{Runner: &sampler.Runner{Clock: tc}, MetricsAPI: &source.MetricsAPI{Client: mc.MetricsV1beta1()}}
	if o.PrometheusURL != "" {
		pc, err := promapi.NewClient(promapi.Config{Address: o.PrometheusURL})
		if err != nil {
			return fmt.Errorf("--prometheus-url %q: %w", o.PrometheusURL, err)
		}
		p := &source.Prometheus{API: promv1.NewAPI(pc), Timeout: o.ScrapeTimeout}
		r.Stats.Prometheus = p
		r.Signals.PrometheusUsage, r.Signals.Query = &source.PrometheusUsage{Prometheus: p}, p
	}
	if err := mgr.Add(r.Signals.Runner); err != nil {
		return fmt.Errorf("adding the signal sampler: %w", err)
	}
	return nil
}

// addNotifier gives r a notifier that only the leader runs, counting into reg.
func addNotifier(mgr ctrl.Manager, r *controller.Reconciler, reg prometheus.Registerer, logger logr.Logger) error {
	counter := notify.NewCounter()
	if err := reg.Register(counter); err != nil {
		return fmt.Errorf("registering the notification metric: %w", err)
	}
	n := notify.New(notify.Options{Log: logger.WithName("notify"), Counter: counter, OnFailing: r.SinkFailing})
	r.Notifier = n
	if err := mgr.Add(n); err != nil {
		return fmt.Errorf("adding the notifier: %w", err)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// withRateLimit is cfg with the client's rate limit set (controller-runtime's default is
// 20/s, burst 30: with a hundred rollouts a rollback's patch would queue behind status
// writes). qps <= 0 keeps cfg's own.
func withRateLimit(cfg *rest.Config, qps float64, burst int) *rest.Config {
	if qps <= 0 {
		return cfg
	}
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = float32(qps), max(burst, 1)
	return c
}
