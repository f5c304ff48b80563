package manager

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Lease timings by default: a replica that dies is replaced within about LeaseDuration +
// 2×RetryPeriod (client-go's followers retry every RetryPeriod plus up to 1.2× jitter),
// for one Lease update per RetryPeriod by the leader and one read per 1.6×RetryPeriod on
// average by each follower. README "High availability" has the measurements.
const (
	DefaultLeaseDuration = time.Second
	DefaultRenewDeadline = 800 * time.Millisecond
	DefaultRetryPeriod   = 200 * time.Millisecond
)

// LeaseName is the Lease the replicas elect their leader with.
const LeaseName = "sluice.sluice.dev"

// inClusterNamespace is where a pod finds its own namespace.
const inClusterNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// LeaderOptions are the leader election settings (--leader-elect and its companions).
type LeaderOptions struct {
	// Elect turns leader election on: only the leader reconciles and sends notifications;
	// the other replicas keep their caches and the active rollouts' stats windows warm.
	Elect bool
	// Namespace of the Lease; empty means $POD_NAMESPACE, else the pod's own namespace.
	Namespace string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's lease timings; zero
	// means the Default* above.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Identity names this replica in the Lease; empty means host name + "_" + a UUID.
	Identity string
}

func (o *LeaderOptions) bindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.Elect, "leader-elect", false, "elect a leader so that only one replica acts; the others keep the active rollouts' stats windows warm to take over")
	fs.StringVar(&o.Namespace, "leader-elect-namespace", "", "namespace of the leader election Lease (default: $POD_NAMESPACE, else the pod's service-account namespace)")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", DefaultLeaseDuration, "how long the other replicas wait after the leader's last renewal before taking over (whole seconds: the Lease stores seconds)")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", DefaultRenewDeadline, "how long the leader keeps retrying a renewal before it gives up leadership and exits (its writes stop before that: at the lease duration less a quarter, less 100ms, after its last renewal)")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", DefaultRetryPeriod, "time between the leader's renewals and between the other replicas' attempts to take over")
}

// withDefaults fills zero timings with the defaults.
func (o LeaderOptions) withDefaults() LeaderOptions {
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	return o
}

// validate applies client-go's rules on the timings, plus whole seconds for the lease.
func (o LeaderOptions) validate() error {
	switch {
	case o.LeaseDuration < time.Second || o.LeaseDuration%time.Second != 0:
		return fmt.Errorf("--leader-elect-lease-duration %s: must be whole seconds, at least 1s (the Lease records seconds)", o.LeaseDuration)
	case o.RenewDeadline >= o.LeaseDuration:
		return fmt.Errorf("--leader-elect-renew-deadline %s must be shorter than --leader-elect-lease-duration %s", o.RenewDeadline, o.LeaseDuration)
	case float64(o.RenewDeadline) <= 1.2*float64(o.RetryPeriod):
		return fmt.Errorf("--leader-elect-renew-deadline %s must be more than 1.2 × --leader-elect-retry-period %s", o.RenewDeadline, o.RetryPeriod)
	case o.RetryPeriod <= 0:
		return fmt.Errorf("--leader-elect-retry-period %s must be positive", o.RetryPeriod)
	case 2*o.RetryPeriod > o.LeaseDuration-leaseClientTimeout(o)-sendMargin:
		return fmt.Errorf("--leader-elect-retry-period %s is too long for --leader-elect-lease-duration %s: the leader's writes would stop between renewals (at most %s)",
			o.RetryPeriod, o.LeaseDuration, (o.LeaseDuration-leaseClientTimeout(o)-sendMargin)/2)
	}
	return nil
}

// leaseNamespace is the Lease's namespace: the flag, else $POD_NAMESPACE, else the
// namespace file every pod has. readFile is os.ReadFile outside tests.
func leaseNamespace(flagValue string, getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if ns := getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	data, err := readFile(inClusterNamespace)
	if ns := strings.TrimSpace(string(data)); err == nil && ns != "" {
		return ns, nil
	}
	return "", errors.New("--leader-elect needs the Lease's namespace: set --leader-elect-namespace (or $POD_NAMESPACE; in a pod it is read from " + inClusterNamespace + ")")
}

// leaderElection fills mgrOpts with the election settings of o and returns the fence the
// reconciler's writes go through (nil without election). The Lease lock has its own
// client: its own connection (a Dial of its own keeps client-go from sharing the
// controller's transport) and its own rate limiter, so renewals never wait behind the
// controller's requests, and a timeout that leaves room for a retry within RenewDeadline.
func leaderElection(cfg *rest.Config, o LeaderOptions, mgrOpts *ctrl.Options) (*Fence, error) {
	if !o.Elect {
		return nil, nil
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	ns, err := leaseNamespace(o.Namespace, os.Getenv, os.ReadFile)
	if err != nil {
		return nil, err
	}
	id := o.Identity
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("naming this replica for the Lease: %w", err)
		}
		id = host + "_" + string(uuid.NewUUID())
	}
	lock, err := newLeaseLock(leaseConfig(cfg, o), ns, id)
	if err != nil {
		return nil, err
	}
	fence := NewFence(o.RenewDeadline, o.LeaseDuration-leaseClientTimeout(o))
	mgrOpts.LeaderElection = true
	mgrOpts.LeaderElectionID = LeaseName
	mgrOpts.LeaderElectionNamespace = ns
	mgrOpts.LeaderElectionResourceLockInterface = &fencedLock{Interface: lock, fence: fence, now: time.Now}
	mgrOpts.LeaseDuration, mgrOpts.RenewDeadline, mgrOpts.RetryPeriod = &o.LeaseDuration, &o.RenewDeadline, &o.RetryPeriod
	mgrOpts.LeaderElectionReleaseOnCancel = true
	return fence, nil
}

// leaseConfig is the election client's configuration: a copy of cfg with its own dialer
// (a separate connection), QPS and burst, user agent and timeout.
func leaseConfig(cfg *rest.Config, o LeaderOptions) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 50, 100
	c.RateLimiter = nil
	c.Timeout = leaseClientTimeout(o)
	c.Dial = (&net.Dialer{Timeout: c.Timeout, KeepAlive: 30 * time.Second}).DialContext
	return rest.AddUserAgent(c, "leader-election")
}

// leaseClientTimeout bounds one Lease request: a quarter of the lease duration (250 ms
// by default), so a hung request leaves time for retries within the renew deadline, and a
// follower's read of the Lease (whose start is when client-go counts from) is never older
// than that when it arrives.
func leaseClientTimeout(o LeaderOptions) time.Duration { return o.LeaseDuration / 4 }

func newLeaseLock(cfg *rest.Config, ns, id string) (resourcelock.Interface, error) {
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	coord, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	return resourcelock.New(resourcelock.LeasesResourceLock, ns, LeaseName, core, coord, resourcelock.ResourceLockConfig{Identity: id})
}

// fencedLock is the Lease lock that tells the fence about every renewal this replica
// made and every release, and lets a follower see every renewal.
type fencedLock struct {
	resourcelock.Interface
	fence *Fence
	now   func() time.Time
}

// Get returns the record with a raw form that changes with every renewal. client-go's
// follower restarts its lease-duration countdown only when the raw record changes, and
// the lock's own raw form (JSON of the record) carries renewTime in whole seconds: a
// leader renewing every 200 ms changes it once a second, so a follower could count a
// 1 s lease from up to a second before the leader's last renewal and take over while the
// leader still renews. Adding the renewal time in microseconds restores "one lease
// duration after the last renewal seen".
func (l *fencedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	if err != nil || rec == nil {
		return rec, raw, err
	}
	return rec, preciseRaw(raw, rec), nil
}

// preciseRaw is raw with rec's renewal time in microseconds appended.
func preciseRaw(raw []byte, rec *resourcelock.LeaderElectionRecord) []byte {
	return append(append(raw[:len(raw):len(raw)], '@'), strconv.FormatInt(rec.RenewTime.UnixMicro(), 10)...)
}

// Create is the first acquisition of a Lease that did not exist.
func (l *fencedLock) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	start := l.now()
	err := l.Interface.Create(ctx, rec)
	l.note(start, rec, err)
	return err
}

// Update is an acquisition, a renewal or (with an empty holder) a release.
func (l *fencedLock) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	start := l.now()
	err := l.Interface.Update(ctx, rec)
	l.note(start, rec, err)
	return err
}

func (l *fencedLock) note(start time.Time, rec resourcelock.LeaderElectionRecord, err error) {
	switch {
	case err != nil:
	case rec.HolderIdentity == l.Identity():
		l.fence.Renewed(start)
	default:
		l.fence.Released()
	}
}
