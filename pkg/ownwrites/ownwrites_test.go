package ownwrites

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func cm(rv string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", ResourceVersion: rv}}
}

func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	notFound := errors.New("not found")
	tests := map[string]struct {
		written  string
		cached   string
		cacheErr error
		age      time.Duration
		want     source
	}{
		"cache caught up exactly":          {written: "120", cached: "120", want: useCache},
		"cache past the write":             {written: "120", cached: "131", want: useCache},
		"cache past the write, longer rv":  {written: "999", cached: "1000", want: useCache},
		"cache behind":                     {written: "120", cached: "119", want: useWrite},
		"cache behind, shorter rv":         {written: "1000", cached: "999", want: useWrite},
		"cache has not seen the create":    {written: "120", cacheErr: notFound, want: useWrite},
		"cache behind for too long":        {written: "120", cached: "119", age: 1500 * time.Millisecond, want: useLive},
		"missing from cache for too long":  {written: "120", cacheErr: notFound, age: 2 * time.Second, want: useLive},
		"cache behind at the lag exactly":  {written: "120", cached: "119", age: time.Second, want: useWrite},
		"unparsable cached version":        {written: "120", cached: "abc", want: useLive},
		"cached version with leading zero": {written: "120", cached: "0121", want: useLive},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(t0.Add(tc.age))
			r := &Reader{Clock: clk}
			got := r.judge(write{obj: cm(tc.written), at: t0}, cm(tc.cached), tc.cacheErr)
			if got != tc.want {
				t.Errorf("judge = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWroteKeepsTheNewest(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	r := &Reader{Clock: clk}
	r.Wrote(cm("200"))
	r.Wrote(cm("150")) // an older answer arriving late
	w, ok := r.pending(cm(""))
	if !ok || w.obj.GetResourceVersion() != "200" {
		t.Fatalf("recorded %v, want resourceVersion 200", w.obj)
	}
	r.Wrote(cm("201"))
	if w, _ = r.pending(cm("")); w.obj.GetResourceVersion() != "201" {
		t.Errorf("recorded %s, want 201", w.obj.GetResourceVersion())
	}
	r.Wrote(cm("")) // no version: nothing to compare, not recorded
	if w, _ = r.pending(cm("")); w.obj.GetResourceVersion() != "201" {
		t.Errorf("recorded %s after a write without a version, want 201", w.obj.GetResourceVersion())
	}
	other := cm("5")
	other.Name = "b"
	r.Wrote(other)
	if w, _ = r.pending(cm("")); w.obj.GetResourceVersion() != "201" {
		t.Errorf("a write of another object replaced this one's record")
	}
}

func TestForgetKeepsANewerWrite(t *testing.T) {
	r := &Reader{Clock: clocktesting.NewFakePassiveClock(time.Now())}
	r.Wrote(cm("10"))
	old, _ := r.pending(cm(""))
	r.Wrote(cm("11"))
	r.forget(cm(""), old)
	if w, ok := r.pending(cm("")); !ok || w.obj.GetResourceVersion() != "11" {
		t.Errorf("forgetting the old write dropped the newer one")
	}
	cur, _ := r.pending(cm(""))
	r.forget(cm(""), cur)
	if _, ok := r.pending(cm("")); ok {
		t.Errorf("the write is still recorded after forget")
	}
}

func TestAssignRefusesAnotherType(t *testing.T) {
	if err := assign(&corev1.Secret{}, cm("1")); err == nil {
		t.Fatal("assign of a ConfigMap into a Secret succeeded")
	}
	dst := &corev1.ConfigMap{}
	src := cm("7")
	src.Data = map[string]string{"k": "v"}
	if err := assign(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Data["k"] = "changed"
	if dst.ResourceVersion != "7" || dst.Data["k"] != "v" {
		t.Errorf("assign = %+v, want a deep copy of the source", dst)
	}
}
