package manager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Fence keeps a leader from writing once another replica may hold the lease.
//
// A follower takes the lease over no sooner than one lease duration after the time it
// read the last renewal it saw (fencedLock.Get makes every renewal visible), by its own
// clock; it reads the time before it sends the read, so its read of this replica's last
// renewal may be counted from up to one request timeout before the renewal. With S the
// start of this replica's last successful renewal, no other replica holds the lease
// before S + LeaseDuration − the Lease client's timeout: the safe horizon. The fence lets
// a write go out only before S + RenewDeadline and before the horizon less a margin for
// its transit, and gives it the horizon as its context's deadline. A write whose bytes
// are still on the wire past that point (a partition that later heals) is left to the
// writes' own preconditions: the VirtualService patches' test ops and the status's
// resourceVersion.
type Fence struct {
	renewDeadline, horizon time.Duration

	mu      sync.Mutex
	renewed time.Time // start of the last successful renewal; zero: not the leader
}

// sendMargin is how long before the safe horizon the fence stops letting writes out.
const sendMargin = 100 * time.Millisecond

// NewFence returns a closed fence for the renew deadline and the safe horizon (the lease
// duration less the Lease client's request timeout).
func NewFence(renewDeadline, horizon time.Duration) *Fence {
	return &Fence{renewDeadline: renewDeadline, horizon: horizon}
}

// Renewed records a successful acquisition or renewal that started at start.
func (f *Fence) Renewed(start time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if start.After(f.renewed) {
		f.renewed = start
	}
}

// Released records that this replica gave the lease up.
func (f *Fence) Released() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewed = time.Time{}
}

// Check says whether a write may go out at now and, if so, by when it must be done.
// A nil fence (no leader election) lets every write through without a deadline.
func (f *Fence) Check(now time.Time) (deadline time.Time, err error) {
	if f == nil {
		return time.Time{}, nil
	}
	f.mu.Lock()
	renewed := f.renewed
	f.mu.Unlock()
	deadline, ok := writeWindow(renewed, now, f.renewDeadline, f.horizon)
	if !ok {
		return time.Time{}, fmt.Errorf("%w (last renewal %s)", ErrNotLeader, describeRenewal(renewed, now))
	}
	return deadline, nil
}

// ErrNotLeader is the fence's answer to a write it does not let out.
var ErrNotLeader = errors.New("not writing: this replica may no longer hold the leader lease")

// writeWindow is the fence's rule: a write may go out at now only before renewed +
// renewDeadline and before renewed + horizon − sendMargin, and must be done by renewed +
// horizon.
func writeWindow(renewed, now time.Time, renewDeadline, horizon time.Duration) (deadline time.Time, ok bool) {
	if renewed.IsZero() || now.Before(renewed) {
		return time.Time{}, false
	}
	if !now.Before(renewed.Add(min(renewDeadline, horizon-sendMargin))) {
		return time.Time{}, false
	}
	return renewed.Add(horizon), true
}

func describeRenewal(renewed, now time.Time) string {
	if renewed.IsZero() {
		return "none"
	}
	return now.Sub(renewed).Round(time.Millisecond).String() + " ago"
}

// FencedClient is c with every write (create, update, patch, delete, apply, and those of
// subresources such as status) checked by f first and bounded by its deadline; reads
// pass through. now is time.Now outside tests. A nil f returns c.
func FencedClient(c client.Client, f *Fence, now func() time.Time) client.Client {
	if f == nil {
		return c
	}
	return &fencedClient{Client: c, guard: guard{f: f, now: now}}
}

// guard runs one write if the fence lets it out, under the fence's deadline.
type guard struct {
	f   *Fence
	now func() time.Time
}

func (g guard) do(ctx context.Context, write func(context.Context) error) error {
	deadline, err := g.f.Check(g.now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return write(ctx)
}

type fencedClient struct {
	client.Client
	guard guard
}

func (c *fencedClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	return c.guard.do(ctx, func(ctx context.Context) error { return c.Client.Create(ctx, obj, opts...) })
}

func (c *fencedClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	return c.guard.do(ctx, func(ctx context.Context) error { return c.Client.Update(ctx, obj, opts...) })
}

func (c *fencedClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	return c.guard.do(ctx, func(ctx context.Context) error { return c.Client.Patch(ctx, obj, p, opts...) })
}

func (c *fencedClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	return c.guard.do(ctx, func(ctx context.Context) error { return c.Client.Apply(ctx, obj, opts...) })
}

func (c *fencedClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	return c.guard.do(ctx, func(ctx context.Context) error { return c.Client.Delete(ctx, obj, opts...) })
}

func (c *fencedClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	return c.guard.do(ctx, func(ctx context.Context) error { return c.Client.DeleteAllOf(ctx, obj, opts...) })
}

func (c *fencedClient) Status() client.SubResourceWriter { return c.SubResource("status") }

func (c *fencedClient) SubResource(sub string) client.SubResourceClient {
	return &fencedSubResource{SubResourceClient: c.Client.SubResource(sub), guard: c.guard}
}

type fencedSubResource struct {
	client.SubResourceClient
	guard guard
}

func (s *fencedSubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	return s.guard.do(ctx, func(ctx context.Context) error { return s.SubResourceClient.Create(ctx, obj, sub, opts...) })
}

func (s *fencedSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	return s.guard.do(ctx, func(ctx context.Context) error { return s.SubResourceClient.Update(ctx, obj, opts...) })
}

func (s *fencedSubResource) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	return s.guard.do(ctx, func(ctx context.Context) error { return s.SubResourceClient.Patch(ctx, obj, p, opts...) })
}

func (s *fencedSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	return s.guard.do(ctx, func(ctx context.Context) error { return s.SubResourceClient.Apply(ctx, obj, opts...) })
}
