package main

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedev/sluice/e2e/meshlab"
)

func TestParseFault(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    faultRequest
		wantErr string
	}{
		"errors":          {args: []string{"v3", "--errors", "0.3"}, want: faultRequest{Subset: "v3", Errors: 0.3}},
		"latency":         {args: []string{"v3", "--latency", "5x"}, want: faultRequest{Subset: "v3", Latency: 5}},
		"both":            {args: []string{"v2", "--errors=1", "--latency=2"}, want: faultRequest{Subset: "v2", Errors: 1, Latency: 2}},
		"healthy":         {args: []string{"v3", "--healthy"}, want: faultRequest{Subset: "v3", Healthy: true}},
		"no subset":       {args: []string{"--errors", "0.3"}, wantErr: "usage"},
		"nothing asked":   {args: []string{"v3"}, wantErr: "say what to change"},
		"errors above 1":  {args: []string{"v3", "--errors", "3"}, wantErr: "fraction in 0..1"},
		"latency below 1": {args: []string{"v3", "--latency", "0.5x"}, wantErr: "multiplier"},
		"unknown flag":    {args: []string{"v3", "--slow"}, wantErr: "flag provided but not defined"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseFault(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseFault = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestBehaviour(t *testing.T) {
	base := meshlab.Behaviour{Latency: 10 * time.Millisecond}
	if b := behaviour(faultRequest{Errors: 0.3, Latency: 5}, base); b.ErrorRate != 0.3 || b.ErrorCode != codes.Internal || b.Latency != 50*time.Millisecond {
		t.Fatalf("fault behaviour %+v", b)
	}
	if b := behaviour(faultRequest{Healthy: true, Errors: 1}, base); b != base {
		t.Fatalf("healthy behaviour %+v", b)
	}
}
