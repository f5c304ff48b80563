package inproc

import (
	"reflect"
	"strings"
	"testing"
)

func TestPanics(t *testing.T) {
	// A recovered panic as controller-runtime logs it (zap JSON), shortened.
	panicLine := `{"level":"error","ts":"2026-12-03T14:17:08.008Z","msg":"Observed a panic","controller":"sluice",` +
		`"panic":"runtime error: invalid memory address or nil pointer dereference",` +
		`"stacktrace":"k8s.io/apimachinery/pkg/util/runtime.logPanic\n\t/m/runtime.go:144\nruntime.gopanic\n\t/go/panic.go:860\n` +
		`github.com/sluicedev/sluice/pkg/controller.(*Reconciler).settle\n\t/w/pkg/controller/rollout.go:20\n` +
		`github.com/sluicedev/sluice/pkg/controller.(*Reconciler).apply\n\t/w/pkg/controller/drive.go:92"}`
	for name, tc := range map[string]struct {
		log  string
		want []string
	}{
		"none": {log: `{"level":"info","ts":"t","msg":"patched VirtualService"}` + "\n", want: nil},
		"one, among other lines": {
			log: "not json\n" + `{"level":"info","msg":"tracking Service"}` + "\n" + panicLine + "\n",
			want: []string{"2026-12-03T14:17:08.008Z: runtime error: invalid memory address or nil pointer dereference " +
				"(at github.com/sluicedev/sluice/pkg/controller.(*Reconciler).settle /w/pkg/controller/rollout.go:20)"},
		},
		"no frame of ours": {
			log:  `{"ts":"t","msg":"Observed a panic","panic":"boom","stacktrace":"main.main\n\t/x.go:1"}`,
			want: []string{"t: boom (at unknown)"},
		},
		"the Reconciler error line that follows is not counted": {
			log: `{"ts":"t","msg":"Reconciler error","error":"panic: boom [recovered]"}`, want: nil,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := panics(strings.NewReader(tc.log))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("panics = %q, want %q", got, tc.want)
			}
		})
	}
}
