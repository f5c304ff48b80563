package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	tests := map[string]struct {
		args   []string
		code   int
		output string // expected in stdout+stderr
	}{
		"stats goes to runStats":   {args: []string{"stats"}, code: 2, output: "kubectl sluice stats <file|url>"},
		"other commands go to cli": {args: []string{"help"}, code: 0, output: "wait    <service>"},
		"unknown command":          {args: []string{"frobnicate"}, code: 2, output: `unknown command "frobnicate"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tc.output) {
				t.Errorf("output lacks %q:\n%s", tc.output, out)
			}
		})
	}
}
