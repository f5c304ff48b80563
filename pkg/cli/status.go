package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"sigs.k8s.io/yaml"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

const statusUsage = `usage: kubectl sluice status <service> [-o text|json|yaml] [-n NAMESPACE]

Shows the rollout state sluice keeps in the Service's TrafficShift: phase, stable → canary,
step i/n and canary weight, the last decision (reason and message), the latest per-subset
window (requests, errors, error rate, p50/p99), conditions and the last rollouts.
-o json|yaml prints the whole TrafficShift.
`

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var k kubeFlags
	fs := newFlagSet("status", &k, stderr)
	output := fs.StringP("output", "o", "text", "output format: text, json or yaml")
	name, err := parseOne(fs, statusUsage, args, stdout)
	if errors.Is(err, errHelp) {
		return ExitOK
	}
	if err == nil {
		err = checkOutput(*output)
	}
	if err != nil {
		fmt.Fprintf(stderr, "status: %v\n", err)
		return ExitUsage
	}
	s, err := connect(k)
	if err != nil {
		fmt.Fprintf(stderr, "status: %v\n", err)
		return ExitFailed
	}
	if err := status(ctx, s, name, *output, stdout); err != nil {
		fmt.Fprintf(stderr, "status: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

func checkOutput(o string) error {
	switch o {
	case "text", "json", "yaml":
		return nil
	}
	return fmt.Errorf("-o must be text, json or yaml, not %q", o)
}

func status(ctx context.Context, s *session, name, output string, out io.Writer) error {
	svc, err := s.service(ctx, name)
	if err != nil {
		return err
	}
	ts, err := s.shift(ctx, name)
	if err != nil {
		return err
	}
	if output != "text" {
		return encodeShift(out, ts, output)
	}
	return renderStatus(out, ts, s.stepCount(ctx, svc), time.Now())
}

// encodeShift prints ts as JSON or YAML with its apiVersion and kind, like kubectl get -o.
func encodeShift(out io.Writer, ts *sluicev1alpha1.TrafficShift, format string) error {
	obj := ts.DeepCopy()
	obj.APIVersion = sluicev1alpha1.GroupVersion.String()
	obj.Kind = "TrafficShift"
	obj.ManagedFields = nil
	data, err := json.MarshalIndent(obj, "", "    ")
	if err != nil {
		return fmt.Errorf("encoding TrafficShift %s/%s: %w", ts.Namespace, ts.Name, err)
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encoding TrafficShift %s/%s as YAML: %w", ts.Namespace, ts.Name, err)
		}
	} else {
		data = append(data, '\n')
	}
	if _, err := out.Write(data); err != nil {
		return fmt.Errorf("writing TrafficShift: %w", err)
	}
	return nil
}
