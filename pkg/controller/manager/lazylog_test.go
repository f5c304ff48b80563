package manager

import (
	"bytes"
	"errors"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/types"
)

// jsonLogger logs JSON lines (no time) at info level into buf, its core wrapped by wrap.
func jsonLogger(buf *bytes.Buffer, wrap func(zapcore.Core) zapcore.Core) logr.Logger {
	cfg := uberzap.NewProductionEncoderConfig()
	cfg.TimeKey = ""
	core := zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.AddSync(buf), zapcore.InfoLevel)
	return zapr.NewLogger(uberzap.New(wrap(core)))
}

// Deferred fields write exactly what encoded fields write, through chains of values,
// names, levels and errors.
func TestDeferredFieldsWriteAlike(t *testing.T) {
	use := func(l logr.Logger) {
		l = l.WithValues("controller", "sluice").WithValues("service", types.NamespacedName{Namespace: "shop", Name: "reviews"})
		l.Info("tick", "weight", 5)
		l.V(1).Info("not written")
		named := l.WithName("rollout").WithValues("canary", "v2")
		named.Error(errors.New("boom"), "rolled back", "reason", "ErrorRate")
		l.Info("again, without the rollout's values")
		logr.Discard().Info("nothing")
		l.WithValues("unused", 1) // never writes
	}
	var eager, lazy bytes.Buffer
	use(jsonLogger(&eager, func(c zapcore.Core) zapcore.Core { return c }))
	use(jsonLogger(&lazy, deferFields))
	if eager.Len() == 0 || bytes.Count(eager.Bytes(), []byte("\n")) != 3 {
		t.Fatalf("the eager logger wrote %q, want 3 lines", eager.String())
	}
	if lazy.String() != eager.String() {
		t.Errorf("deferred fields wrote\n%s\nwant\n%s", lazy.String(), eager.String())
	}
}

// A reconcile's logger that never writes costs no encoding: a chain of WithValues on a
// deferring core allocates far fewer bytes than on an encoding one (which clones the
// JSON encoder and its buffer per WithValues).
func TestDeferredFieldsCostLittleUnwritten(t *testing.T) {
	bytesPerChain := func(wrap func(zapcore.Core) zapcore.Core) int64 {
		var buf bytes.Buffer
		base := jsonLogger(&buf, wrap).WithValues("controller", "sluice")
		key := types.NamespacedName{Namespace: "shop", Name: "reviews"}
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l := base.WithValues("namespace", "shop", "name", "reviews").WithValues("reconcileID", "0f6c").WithValues("service", key)
				_ = l
			}
		}).AllocedBytesPerOp()
	}
	eager, lazy := bytesPerChain(func(c zapcore.Core) zapcore.Core { return c }), bytesPerChain(deferFields)
	if lazy > eager/2 {
		t.Errorf("three WithValues: %d bytes allocated deferred, %d encoded; want at most half", lazy, eager)
	}
	t.Logf("three WithValues: %d bytes allocated deferred, %d encoded", lazy, eager)
}
