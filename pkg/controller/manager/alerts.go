package manager

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sluicedev/sluice/pkg/alerts"
	"github.com/sluicedev/sluice/pkg/metrics"
)

// AlertOptions configure the Alertmanager receiver.
type AlertOptions struct {
	// BindAddress is the receiver's listen address; empty disables it.
	BindAddress string
	// Credentials are what Alertmanager must present.
	Credentials alerts.Credentials
	// AllowUnauthenticated serves without credentials (tests, trusted networks only).
	AllowUnauthenticated bool
	// CertFile and KeyFile serve TLS.
	CertFile, KeyFile string
	// Selector reads Services and canaries from alert labels (zero: the default).
	Selector alerts.Selector
}

func (o *AlertOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.BindAddress, "webhook-bind-address", "", "address of the Alertmanager receiver (path "+alerts.Path+"), e.g. :9443; empty disables it")
	fs.StringVar(&o.Credentials.TokenFile, "alert-token-file", "", "file holding the bearer token Alertmanager sends (http_config.authorization.credentials_file)")
	fs.StringVar(&o.Credentials.Username, "alert-username", "", "basic-auth user name Alertmanager sends (http_config.basic_auth)")
	fs.StringVar(&o.Credentials.PasswordFile, "alert-password-file", "", "file holding the basic-auth password")
	fs.BoolVar(&o.AllowUnauthenticated, "alert-allow-unauthenticated", false, "serve the receiver without credentials (never on a network others reach)")
	fs.StringVar(&o.CertFile, "webhook-tls-cert-file", "", "TLS certificate of the receiver (reloaded when it changes)")
	fs.StringVar(&o.KeyFile, "webhook-tls-key-file", "", "TLS key of the receiver")
	def := alerts.DefaultSelector()
	o.Selector = def
	fs.Func("alert-service-labels", "alert label pairs naming a Service's namespace and name, tried in order (default namespace=service,destination_service_namespace=destination_service_name)", func(v string) error {
		pairs, err := alerts.ParseServiceLabels(v)
		o.Selector.Services = pairs
		return err
	})
	fs.Func("alert-canary-labels", "alert labels naming the subset an alert is about, tried in order (default subset,version,destination_version; empty: none)", func(v string) error {
		o.Selector.Canaries = nil
		for _, l := range strings.Split(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				o.Selector.Canaries = append(o.Selector.Canaries, l)
			}
		}
		return nil
	})
}

// addAlertReceiver adds the receiver to mgr when it is enabled.
func addAlertReceiver(mgr ctrl.Manager, o AlertOptions, m *metrics.Metrics) error {
	if o.BindAddress == "" {
		return nil
	}
	if !o.Credentials.Configured() && !o.AllowUnauthenticated {
		return errors.New("--webhook-bind-address needs credentials (--alert-token-file, or --alert-username and --alert-password-file), or --alert-allow-unauthenticated")
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return errors.New("--webhook-tls-cert-file and --webhook-tls-key-file go together")
	}
	sel := o.Selector
	if len(sel.Services) == 0 {
		sel.Services = alerts.DefaultSelector().Services
	}
	h := &alerts.Handler{
		Selector: sel, Received: m.AlertsReceived, Log: mgr.GetLogger().WithName("alerts"),
		Store: &alerts.Store{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
	}
	if o.Credentials.Configured() {
		auth, err := alerts.NewAuthenticator(o.Credentials)
		if err != nil {
			return fmt.Errorf("alert receiver: %w", err)
		}
		h.Auth = auth
	}
	return mgr.Add(&alerts.Server{Addr: o.BindAddress, Handler: h, CertFile: o.CertFile, KeyFile: o.KeyFile, Log: h.Log})
}
