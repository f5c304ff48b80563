package cli

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/spec"
)

// completionTimeout bounds the API calls made to complete a word.
const completionTimeout = 5 * time.Second

const completionLong = `Prints the shell completion script of kubectl-sluice for bash, zsh, fish or powershell.

As "kubectl sluice …" (kubectl ≥ 1.26): put the kubectl_complete-sluice helper (shipped
beside the binary in the release archives, and in the repository's hack/) on your PATH
next to kubectl-sluice. kubectl's own completion then runs it to complete the commands,
flags and the opted-in Service names of "kubectl sluice <TAB>".

As "kubectl-sluice …":
  bash:  source <(kubectl-sluice completion bash)
  zsh:   kubectl-sluice completion zsh > "${fpath[1]}/_kubectl-sluice"
  fish:  kubectl-sluice completion fish > ~/.config/fish/completions/kubectl-sluice.fish`

func (r *root) newCompletionCommand(rootCmd *cobra.Command) *cobra.Command {
	shells := []string{"bash", "zsh", "fish", "powershell"}
	return &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "Shell completion scripts (and how kubectl completes the plugin)",
		Long:      completionLong,
		ValidArgs: shells,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf(ExitUsage, "name one shell: %s", strings.Join(shells, ", "))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			out := r.streams.Out
			switch args[0] {
			case "bash":
				return rootCmd.GenBashCompletionV2(out, true)
			case "zsh":
				return rootCmd.GenZshCompletion(out)
			case "fish":
				return rootCmd.GenFishCompletion(out, true)
			case "powershell":
				return rootCmd.GenPowerShellCompletionWithDesc(out)
			}
			return usageErrorf(ExitUsage, "unknown shell %q: want one of %s", args[0], strings.Join(shells, ", "))
		},
	}
}

// registerCompletions adds the completion command and completes the namespace and
// context flags from the cluster and the kubeconfig.
func (r *root) registerCompletions(cmd *cobra.Command) {
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.AddCommand(r.newCompletionCommand(cmd))
	_ = cmd.RegisterFlagCompletionFunc("namespace", func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		s, err := r.connect()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(c.Context(), completionTimeout)
		defer cancel()
		l := &corev1.NamespaceList{}
		if err := s.c.List(ctx, l); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, ns := range l.Items {
			if strings.HasPrefix(ns.Name, toComplete) {
				out = append(out, ns.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("context", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		raw, err := r.config.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for name := range raw.Contexts {
			if strings.HasPrefix(name, toComplete) {
				out = append(out, name)
			}
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	})
}

// completeServices completes the first argument with the opted-in Services of the
// namespace (sluice.dev/enabled=true), each described by its canary annotation.
func (r *root) completeServices(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	s, err := r.connect()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(c.Context(), completionTimeout)
	defer cancel()
	l := &corev1.ServiceList{}
	if err := s.c.List(ctx, l, client.InNamespace(s.ns)); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, svc := range l.Items {
		if !spec.Enabled(svc.Annotations) || !strings.HasPrefix(svc.Name, toComplete) {
			continue
		}
		name := svc.Name
		if canary := svc.Annotations[spec.AnnCanary]; canary != "" {
			name += "\tcanary " + canary
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}
