// Package version says which build of sluice is running: the version and revision set at
// build time, else what the Go toolchain recorded in the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time with -ldflags "-X github.com/sluicedev/sluice/pkg/version.version=v0.2.0
// -X github.com/sluicedev/sluice/pkg/version.revision=<commit>"; empty means "read the
// build info".
var (
	version  string
	revision string
)

// Info identifies a build.
type Info struct {
	// Version is the release (v0.2.0), the module version, or "(devel)".
	Version string `json:"version"`
	// Revision is the VCS commit, "" when unknown; Modified reports uncommitted changes.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// Get returns this binary's build identity.
func Get() Info {
	info := Info{Version: version, Revision: revision, Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if info.Version == "" {
			info.Version = "(devel)"
		}
		return info
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && info.Revision == "":
			info.Revision = s.Value
		case s.Key == "vcs.modified" && revision == "":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	return info
}

// String is the one-line form programs print for --version.
func (i Info) String() string {
	s := i.Version
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev
		if i.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return fmt.Sprintf("%s %s", s, i.Go)
}
