package version

import (
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	tests := map[string]struct {
		version, revision string
		want              []string
	}{
		"build info":   {want: []string{"go1."}},
		"set at link":  {version: "v0.2.0", revision: "0123456789abcdef0123", want: []string{"v0.2.0 (0123456789ab)", "go1."}},
		"version only": {version: "v1.0.0", want: []string{"v1.0.0"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			version, revision = tc.version, tc.revision
			defer func() { version, revision = "", "" }()
			got := Get()
			if got.Version == "" {
				t.Fatalf("empty version: %+v", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.String(), w) {
					t.Errorf("String() = %q, want it to contain %q", got.String(), w)
				}
			}
		})
	}
}
