package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/pkg/version"
)

// versions is what the version command reports.
type versions struct {
	Plugin     version.Info      `json:"plugin"`
	Controller controllerVersion `json:"controller"`
}

// controllerVersion is the controller's version as read from its Deployment.
type controllerVersion struct {
	// Version is the image tag (or the app.kubernetes.io/version label), "unknown" when
	// the Deployment could not be read.
	Version    string `json:"version"`
	Image      string `json:"image,omitempty"`
	Deployment string `json:"deployment"`
	// Error says why the version is unknown.
	Error string `json:"error,omitempty"`
}

func (r *root) newVersionCommand() *cobra.Command {
	var output, ns, name string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "The plugin's version, and the controller's when the cluster is reachable",
		Long: `Prints the plugin's version (set at build time, else the Go module's) and the sluice
controller's, read from its Deployment (--controller-namespace/--controller-deployment,
as installed by manifests/): the app.kubernetes.io/version label, else the image tag of
its "sluice" container. "unknown" when that cannot be read; the reason follows.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return usageErrorf(ExitUsage, "version: -o must be json or yaml (default: text), not %q", output)
			}
			v := versions{Plugin: version.Get(), Controller: r.controllerVersion(c.Context(), ns, name)}
			switch output {
			case "json", "yaml":
				data, err := json.MarshalIndent(v, "", "    ")
				if err != nil {
					return fmt.Errorf("version: encoding: %w", err)
				}
				if output == "yaml" {
					if data, err = yaml.JSONToYAML(data); err != nil {
						return fmt.Errorf("version: encoding: %w", err)
					}
				} else {
					data = append(data, '\n')
				}
				_, err = r.streams.Out.Write(data)
				return err
			}
			fmt.Fprintf(r.streams.Out, "Plugin:     %s\n", v.Plugin)
			ctl := v.Controller.Version
			switch {
			case v.Controller.Error != "":
				ctl += " (" + v.Controller.Error + ")"
			case v.Controller.Image != "":
				ctl += " (deployment " + v.Controller.Deployment + ", image " + v.Controller.Image + ")"
			}
			fmt.Fprintf(r.streams.Out, "Controller: %s\n", ctl)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: text)")
	cmd.Flags().StringVar(&ns, "controller-namespace", "sluice-system", "namespace of the controller's Deployment")
	cmd.Flags().StringVar(&name, "controller-deployment", "sluice", "name of the controller's Deployment")
	return cmd
}

// controllerVersion reads the controller's Deployment; never fails (unknown + reason).
func (r *root) controllerVersion(ctx context.Context, ns, name string) controllerVersion {
	v := controllerVersion{Version: "unknown", Deployment: ns + "/" + name}
	s, err := r.connect()
	if err != nil {
		v.Error = err.Error()
		return v
	}
	d := &appsv1.Deployment{}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		v.Error = fmt.Sprintf("reading Deployment %s: %v", v.Deployment, err)
		return v
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "sluice" || v.Image == "" {
			v.Image = c.Image
		}
	}
	switch {
	case d.Labels["app.kubernetes.io/version"] != "":
		v.Version = d.Labels["app.kubernetes.io/version"]
	case imageTag(v.Image) != "":
		v.Version = imageTag(v.Image)
	default:
		v.Error = fmt.Sprintf("Deployment %s has no app.kubernetes.io/version label and its image %q no tag", v.Deployment, v.Image)
	}
	return v
}

// imageTag returns the tag of an image reference (registry:5000/repo:tag@digest → tag), or
// the digest when there is no tag, or "".
func imageTag(image string) string {
	ref, digest, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(ref, ":"); i >= 0 && !strings.Contains(ref[i:], "/") {
		return ref[i+1:]
	}
	return digest
}
