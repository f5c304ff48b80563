package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunArguments covers everything decided before the cluster is contacted.
func TestRunArguments(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-kubeconfig")
	tests := map[string]struct {
		args     []string
		code     int
		stdout   string
		stderr   string
		noStderr bool
	}{
		"no arguments":          {args: nil, code: ExitUsage, stderr: "Commands:"},
		"unknown command":       {args: []string{"rollout"}, code: ExitUsage, stderr: `unknown command "rollout"`},
		"help":                  {args: []string{"help"}, code: ExitOK, stdout: "stats   <file|url>", noStderr: true},
		"--help":                {args: []string{"--help"}, code: ExitOK, stdout: "wait    <service>", noStderr: true},
		"help of a command":     {args: []string{"help", "retry"}, code: ExitOK, stdout: "<canary>@<unix-nanos>", noStderr: true},
		"command --help":        {args: []string{"status", "--help"}, code: ExitOK, stdout: "--kubeconfig", noStderr: true},
		"wait -h lists codes":   {args: []string{"wait", "-h"}, code: ExitPromoted, stdout: "4  Paused (only with --fail-on-pause)", noStderr: true},
		"status without name":   {args: []string{"status"}, code: ExitUsage, stderr: "missing the Service name"},
		"promote two names":     {args: []string{"promote", "a", "b"}, code: ExitUsage, stderr: "got 2 arguments"},
		"unknown flag":          {args: []string{"pause", "--force", "svc"}, code: ExitUsage, stderr: "unknown flag: --force"},
		"bad output format":     {args: []string{"status", "svc", "-o", "wide"}, code: ExitUsage, stderr: "-o must be text, json or yaml"},
		"wait without name":     {args: []string{"wait"}, code: ExitError, stderr: "missing the Service name"},
		"wait negative timeout": {args: []string{"wait", "svc", "--timeout=-1s"}, code: ExitError, stderr: "must not be negative"},
		"wait bad duration":     {args: []string{"wait", "svc", "--timeout", "soon"}, code: ExitError, stderr: "invalid argument"},
		"status bad kubeconfig": {
			args: []string{"status", "svc", "--kubeconfig", missing}, code: ExitFailed, stderr: "loading the kubeconfig",
		},
		"wait bad kubeconfig is an error, not a timeout": {
			args: []string{"wait", "svc", "--kubeconfig", missing, "-n", "x"}, code: ExitError, stderr: "loading the kubeconfig",
		},
		"flags after the name": {
			args: []string{"retry", "svc", "--context", "nope", "--kubeconfig", missing}, code: ExitFailed, stderr: "loading the kubeconfig",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if tc.stdout != "" && !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout.String())
			}
			if tc.stderr != "" && !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
			if tc.noStderr && stderr.Len() > 0 {
				t.Errorf("unexpected stderr: %s", stderr.String())
			}
		})
	}
}

// Every command in the table is documented in the top-level help.
func TestUsageListsEveryCommand(t *testing.T) {
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(Usage, "\n  "+name+" ") {
				t.Errorf("Usage does not list %q", name)
			}
		})
	}
}
