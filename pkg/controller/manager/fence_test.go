package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestWriteWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	for name, tc := range map[string]struct {
		renewed, now   time.Time
		renew, horizon time.Duration
		ok             bool
		deadline       time.Time
	}{
		"never renewed":                         {now: t0, renew: 800 * ms, horizon: 750 * ms},
		"right after a renewal":                 {renewed: t0, now: t0, renew: 800 * ms, horizon: 750 * ms, ok: true, deadline: t0.Add(750 * ms)},
		"before the horizon less the margin":    {renewed: t0, now: t0.Add(649 * ms), renew: 800 * ms, horizon: 750 * ms, ok: true, deadline: t0.Add(750 * ms)},
		"at the horizon less the margin":        {renewed: t0, now: t0.Add(650 * ms), renew: 800 * ms, horizon: 750 * ms},
		"a renew deadline shorter than that":    {renewed: t0, now: t0.Add(350 * ms), renew: 300 * ms, horizon: 750 * ms},
		"within a long lease":                   {renewed: t0, now: t0.Add(9 * time.Second), renew: 10 * time.Second, horizon: 11250 * ms, ok: true, deadline: t0.Add(11250 * ms)},
		"past the renew deadline of a long one": {renewed: t0, now: t0.Add(10 * time.Second), renew: 10 * time.Second, horizon: 11250 * ms},
		"renewal after now (clock step)":        {renewed: t0.Add(time.Second), now: t0, renew: 800 * ms, horizon: 750 * ms},
	} {
		t.Run(name, func(t *testing.T) {
			deadline, ok := writeWindow(tc.renewed, tc.now, tc.renew, tc.horizon)
			if ok != tc.ok || !deadline.Equal(tc.deadline) {
				t.Errorf("writeWindow = %v, %v; want %v, %v", deadline, ok, tc.deadline, tc.ok)
			}
		})
	}
}

// Two renewals within one second must look different to a follower: client-go restarts
// its countdown only when the raw record changes.
func TestEveryRenewalIsVisible(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 100_000_000, time.UTC)
	rec := func(at time.Time) *resourcelock.LeaderElectionRecord {
		return &resourcelock.LeaderElectionRecord{HolderIdentity: "me", LeaseDurationSeconds: 1, RenewTime: metav1.NewTime(at)}
	}
	raw := func(r *resourcelock.LeaderElectionRecord) []byte {
		b, err := json.Marshal(*r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := rec(t0), rec(t0.Add(200*time.Millisecond))
	if !bytes.Equal(raw(a), raw(b)) {
		t.Fatal("client-go's raw records differ within a second: the premise of fencedLock.Get no longer holds")
	}
	if bytes.Equal(preciseRaw(raw(a), a), preciseRaw(raw(b), b)) {
		t.Error("renewals 200 ms apart have the same raw record")
	}
	if !bytes.Equal(preciseRaw(raw(a), a), preciseRaw(raw(a), rec(t0))) {
		t.Error("the same renewal read twice looks like a change")
	}
}

func TestFenceFollowsTheLock(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	f := NewFence(800*time.Millisecond, 750*time.Millisecond)
	inner := &recordingLock{id: "me"}
	l := &fencedLock{Interface: inner, fence: f, now: func() time.Time { return now }}
	ctx := context.Background()
	steps := []struct {
		name     string
		do       func() error
		at       time.Time // when the fence is asked
		mayWrite bool
	}{
		{"before any acquisition", func() error { return nil }, t0, false},
		{"acquired by creating the Lease", func() error { return l.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}) }, t0.Add(100 * time.Millisecond), true},
		{"a renewal that failed does not extend", func() error {
			now = t0.Add(500 * time.Millisecond)
			inner.fail = errors.New("timeout")
			_ = l.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
			inner.fail = nil
			return nil
		}, t0.Add(900 * time.Millisecond), false},
		{"a renewal that succeeded does", func() error {
			now = t0.Add(time.Second)
			return l.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
		}, t0.Add(1600 * time.Millisecond), true},
		{"a release closes it at once", func() error {
			now = t0.Add(1100 * time.Millisecond)
			return l.Update(ctx, resourcelock.LeaderElectionRecord{})
		}, t0.Add(1100 * time.Millisecond), false},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		_, err := f.Check(s.at)
		if (err == nil) != s.mayWrite {
			t.Errorf("%s: Check = %v, want a write allowed: %v", s.name, err, s.mayWrite)
		}
		if err != nil && !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s: %v is not ErrNotLeader", s.name, err)
		}
	}
}

func TestNilFenceLetsEverythingThrough(t *testing.T) {
	var f *Fence
	if d, err := f.Check(time.Now()); err != nil || !d.IsZero() {
		t.Errorf("nil fence: %v, %v", d, err)
	}
}

// recordingLock is a resourcelock.Interface that answers Create and Update with fail.
type recordingLock struct {
	resourcelock.Interface
	id   string
	fail error
}

func (l *recordingLock) Identity() string { return l.id }
func (l *recordingLock) Create(context.Context, resourcelock.LeaderElectionRecord) error {
	return l.fail
}
func (l *recordingLock) Update(context.Context, resourcelock.LeaderElectionRecord) error {
	return l.fail
}

func TestFencedClientChecksEveryWrite(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f := NewFence(800*time.Millisecond, 750*time.Millisecond)
	f.Renewed(t0)
	inner := &stubClient{}
	now := t0.Add(100 * time.Millisecond)
	c := FencedClient(inner, f, func() time.Time { return now })
	ctx := context.Background()
	obj := &corev1.ConfigMap{}
	writes := map[string]func() error{
		"create":        func() error { return c.Create(ctx, obj) },
		"update":        func() error { return c.Update(ctx, obj) },
		"patch":         func() error { return c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, []byte("[]"))) },
		"delete":        func() error { return c.Delete(ctx, obj) },
		"status update": func() error { return c.Status().Update(ctx, obj) },
		"status patch":  func() error { return c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte("{}"))) },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			inner.calls, now = 0, t0.Add(100*time.Millisecond)
			if err := write(); err != nil || inner.calls != 1 || !inner.deadline.Equal(t0.Add(750*time.Millisecond)) {
				t.Fatalf("within the lease: err %v, calls %d, deadline %v", err, inner.calls, inner.deadline)
			}
			now = t0.Add(900 * time.Millisecond)
			if err := write(); !errors.Is(err, ErrNotLeader) || inner.calls != 1 {
				t.Fatalf("past the renew deadline: err %v, calls %d", err, inner.calls)
			}
		})
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "x"}, obj); err != nil || inner.reads != 1 {
		t.Errorf("reads pass through: %v, %d", err, inner.reads)
	}
}

// stubClient counts the calls that reach it and keeps the last write's deadline.
type stubClient struct {
	client.Client
	calls, reads int
	deadline     time.Time
}

func (s *stubClient) note(ctx context.Context) error {
	s.calls++
	s.deadline, _ = ctx.Deadline()
	return nil
}
func (s *stubClient) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	s.reads++
	return nil
}
func (s *stubClient) Create(ctx context.Context, _ client.Object, _ ...client.CreateOption) error {
	return s.note(ctx)
}
func (s *stubClient) Update(ctx context.Context, _ client.Object, _ ...client.UpdateOption) error {
	return s.note(ctx)
}
func (s *stubClient) Patch(ctx context.Context, _ client.Object, _ client.Patch, _ ...client.PatchOption) error {
	return s.note(ctx)
}
func (s *stubClient) Delete(ctx context.Context, _ client.Object, _ ...client.DeleteOption) error {
	return s.note(ctx)
}
func (s *stubClient) SubResource(string) client.SubResourceClient { return &stubSub{s: s} }

type stubSub struct {
	client.SubResourceClient
	s *stubClient
}

func (u *stubSub) Update(ctx context.Context, _ client.Object, _ ...client.SubResourceUpdateOption) error {
	return u.s.note(ctx)
}
func (u *stubSub) Patch(ctx context.Context, _ client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
	return u.s.note(ctx)
}
