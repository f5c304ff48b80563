package manager

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestLeaseNamespace(t *testing.T) {
	file := func(data string, err error) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if p != inClusterNamespace {
				t.Fatalf("read %s", p)
			}
			return []byte(data), err
		}
	}
	env := func(v string) func(string) string { return func(string) string { return v } }
	for name, tc := range map[string]struct {
		flag    string
		getenv  func(string) string
		read    func(string) ([]byte, error)
		want    string
		wantErr string
	}{
		"the flag wins":            {flag: "ops", getenv: env("pods-ns"), read: file("sa-ns", nil), want: "ops"},
		"then POD_NAMESPACE":       {getenv: env("pods-ns"), read: file("sa-ns", nil), want: "pods-ns"},
		"then the pod's namespace": {getenv: env(""), read: file("sa-ns\n", nil), want: "sa-ns"},
		"outside a pod: a clear error": {getenv: env(""), read: file("", os.ErrNotExist),
			wantErr: "--leader-elect needs the Lease's namespace: set --leader-elect-namespace"},
		"an empty namespace file is no namespace": {getenv: env(""), read: file("  ", nil), wantErr: "--leader-elect-namespace"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := leaseNamespace(tc.flag, tc.getenv, tc.read)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLeaderOptionsValidate(t *testing.T) {
	ms := time.Millisecond
	for name, tc := range map[string]struct {
		o       LeaderOptions
		wantErr string
	}{
		"defaults":                     {o: LeaderOptions{}.withDefaults()},
		"controller-runtime defaults":  {o: LeaderOptions{LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}},
		"sub-second lease":             {o: LeaderOptions{LeaseDuration: 900 * ms, RenewDeadline: 500 * ms, RetryPeriod: 100 * ms}, wantErr: "whole seconds"},
		"fractional seconds":           {o: LeaderOptions{LeaseDuration: 1500 * ms, RenewDeadline: 800 * ms, RetryPeriod: 200 * ms}, wantErr: "whole seconds"},
		"renew deadline not shorter":   {o: LeaderOptions{LeaseDuration: time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * ms}, wantErr: "shorter than"},
		"retry too long for deadline":  {o: LeaderOptions{LeaseDuration: time.Second, RenewDeadline: 800 * ms, RetryPeriod: 700 * ms}, wantErr: "1.2 ×"},
		"retry too long for the fence": {o: LeaderOptions{LeaseDuration: time.Second, RenewDeadline: 900 * ms, RetryPeriod: 400 * ms}, wantErr: "writes would stop between renewals"},
		"zero retry after defaults ok": {o: LeaderOptions{LeaseDuration: time.Second, RenewDeadline: 800 * ms}.withDefaults()},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.o.validate()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
