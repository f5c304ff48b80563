package analysis

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The decision engine and the windows it reads are pure: no network, no processes, no
// files, no Kubernetes, no wire formats. TestEngineDoesNoIO holds them to it with
// `go list -deps`, which lists every package they link, however indirectly:
//
//  1. Every dependency is in the standard library or in this module. A third-party module
//     (k8s.io/client-go, sigs.k8s.io/controller-runtime, google.golang.org/grpc, the
//     Prometheus client, Envoy's protos, a logger) brings I/O or a wire format with it.
//  2. None of the standard-library packages in ioStd: "net" is imported by every network
//     client and server (net/http, crypto/tls, gRPC, client-go all depend on it), so its
//     absence rules out the network; os/exec and os/signal start and signal processes;
//     plugin loads code; database/sql and log/syslog talk to other services; log and
//     log/slog write output, which is the controller's act, not the decision's.
//  3. None of the packages of this module in ioModule: the parsers and scraper
//     (pkg/envoy), where stats come from (pkg/source), the data-plane confirmation,
//     the controller, the mesh patcher, the plugin, metrics, mains, tests and benchmarks.
//  4. No package of this module in the list imports, itself, a package in directIO.
//     Files cannot be ruled out by the transitive list: fmt imports os (for Printf to
//     stdout) and time imports syscall (to load zoneinfo), so os, syscall, io/fs and path
//     are always there; what matters is that the engine's own code does not use them.
//
// The real list on Go 1.26: pkg/analysis, pkg/window, pkg/traffic, pkg/schedule; cmp,
// errors, fmt, iter, math, math/bits, reflect, slices, strconv, strings, sync,
// sync/atomic, time, unicode, unicode/utf8, runtime, unsafe, internal/...; and, through
// fmt and time only, io, io/fs, os, path and syscall. pkg/window alone has no fmt, so
// neither os nor io/fs.
var (
	ioStd = []string{"net", "os/exec", "os/signal", "plugin", "database/sql", "log/syslog", "log", "log/slog"}

	ioModule = []string{"pkg/envoy", "pkg/source", "pkg/dataplane", "pkg/controller", "pkg/mesh", "pkg/cli", "pkg/metrics", "pkg/apis", "cmd", "e2e", "bench", "hack"}

	directIO = []string{"os", "syscall", "io/fs", "io/ioutil", "path/filepath"}
)

// listed is one package of `go list -deps -json`.
type listed struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Module     *struct{ Path string }
}

func TestEngineDoesNoIO(t *testing.T) {
	tests := map[string]string{
		"pkg/analysis": ".",
		"pkg/window":   "../window",
	}
	for name, dir := range tests {
		t.Run(name, func(t *testing.T) {
			pkgs := goListDeps(t, dir)
			root := pkgs[len(pkgs)-1] // -deps lists dependencies before their importers
			if root.Module == nil || !strings.HasSuffix(root.ImportPath, "/"+name) {
				t.Fatalf("go list -deps %s ended with %s, want the package %s of this module", dir, root.ImportPath, name)
			}
			module := root.Module.Path
			byPath := map[string]listed{}
			for _, p := range pkgs {
				byPath[p.ImportPath] = p
			}
			otherModules := map[string]bool{} // reported once each, not package by package
			for _, p := range pkgs {
				var why string
				switch rel, ours := strings.CutPrefix(p.ImportPath, module+"/"); {
				case !p.Standard && !ours:
					if p.Module == nil || otherModules[p.Module.Path] {
						continue
					}
					otherModules[p.Module.Path] = true
					why = "of module " + p.Module.Path + ", outside the standard library and this module"
				case p.Standard && slices.Contains(ioStd, p.ImportPath):
					why = "a standard-library package that does I/O"
				case ours && slices.ContainsFunc(ioModule, func(m string) bool { return rel == m || strings.HasPrefix(rel, m+"/") }):
					why = "a package of this module that does I/O or owns a wire format"
				case ours:
					for _, imp := range p.Imports {
						if slices.Contains(directIO, imp) {
							t.Errorf("%s imports %s itself (path: %s); the engine's own code does no I/O",
								p.ImportPath, imp, strings.Join(importChain(byPath, root.ImportPath, p.ImportPath), " → "))
						}
					}
				}
				if why != "" {
					t.Errorf("%s depends on %s, %s (path: %s)", name, p.ImportPath, why,
						strings.Join(importChain(byPath, root.ImportPath, p.ImportPath), " → "))
				}
			}
			if _, ok := byPath[module+"/pkg/traffic"]; !ok {
				t.Errorf("%s no longer depends on pkg/traffic: was the list read right? (%d packages)", name, len(pkgs))
			}
		})
	}
}

// goListDeps runs `go list -deps -json` on the package in dir.
func goListDeps(t *testing.T, dir string) []listed {
	t.Helper()
	goBin, err := exec.LookPath("go") // `go test` puts its own GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Standard,Imports,Module", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", dir, err, stderr.String())
	}
	var pkgs []listed
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list -deps %s: %v", dir, err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list -deps %s listed nothing", dir)
	}
	return pkgs
}

// importChain returns the import path from root to target, breadth first.
func importChain(byPath map[string]listed, root, target string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == target {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, imp := range byPath[p].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return []string{root, "…", target}
}
