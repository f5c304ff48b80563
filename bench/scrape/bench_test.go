// Package scrape measures what one read of 4,000 stand-in Istio sidecars costs sluice's
// controller: wall time, CPU time and allocations of envoy.Scraper and source.Destination.
package scrape

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluicedev/sluice/pkg/source"
)

const host = "reviews.default.svc.cluster.local"

func TestMain(m *testing.M) {
	if os.Getenv(standInEnv) != "" {
		runStandIns()
	}
	os.Exit(m.Run())
}

// standIns is the child process serving the endpoints.
type standIns struct {
	port, pageBytes int
	pid             int
}

func startStandIns(b *testing.B) standIns {
	b.Helper()
	if _, err := raiseNoFile(); err != nil {
		b.Fatalf("raising RLIMIT_NOFILE: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), standInEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting stand-ins: %v", err)
	}
	b.Cleanup(func() {
		_ = stdin.Close() // the child exits when its stdin closes
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var s standIns
	if _, scanErr := fmt.Sscanf(line, "ready %d %d", &s.port, &s.pageBytes); err != nil || scanErr != nil {
		b.Fatalf("stand-ins did not start: %q %v %v", line, err, scanErr)
	}
	s.pid = cmd.Process.Pid
	return s
}

// cpu is the process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is pid's user+system CPU time from /proc (clock ticks of 10 ms).
func childCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func request() source.Request {
	req := source.Request{Host: host, Namespace: "default", Subsets: map[string][]corev1.Pod{}}
	for i := range endpoints {
		subset := "v1"
		if (i%perOctet+1)%10 == 0 {
			subset = "v2"
		}
		name := fmt.Sprintf("reviews-%s-%d", subset, i)
		req.Subsets[subset] = append(req.Subsets[subset], corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
			Status:     corev1.PodStatus{PodIP: endpointIP(i)},
		})
	}
	return req
}

// BenchmarkScrape4000 reads 4,000 endpoints once per op:
//   - fetch/warm: envoy.Scraper.Fetch of every endpoint, bodies discarded, after a warm-up round;
//   - read/cold: source.Destination.Read with a new Scraper (every connection dialled);
//   - read/warm: source.Destination.Read with the Scraper of the previous reads;
//   - fetchfunc/warm: as fetch/warm with Scraper.FetchFunc (no copy of the body);
//   - report/cold, report/warm: as read/* with Scraper.FetchReport per endpoint (fetch +
//     Parse in the reused buffer + Report.Total), what pkg/source does once it calls it.
//
// All use the controller's defaults (400 ms timeout, 64 scrapes in flight).
func BenchmarkScrape4000(b *testing.B) {
	r := newRig(b)
	b.Run("fetch/warm", func(b *testing.B) {
		s := r.scraper(b)
		r.fetchAll(s)
		r.measure(b, func() int { return r.fetchAll(s) })
	})
	b.Run("read/cold", func(b *testing.B) {
		r.measure(b, func() int {
			return r.read(b, &source.Destination{Scraper: r.scraper(b), Port: r.si.port})
		})
	})
	b.Run("read/warm", func(b *testing.B) {
		d := &source.Destination{Scraper: r.scraper(b), Port: r.si.port}
		r.read(b, d)
		r.measure(b, func() int { return r.read(b, d) })
	})
	b.Run("fetchfunc/warm", func(b *testing.B) {
		s := r.scraper(b)
		r.fetchAll(s)
		r.measure(b, func() int { return r.fetchFuncAll(s) })
	})
	b.Run("report/cold", func(b *testing.B) {
		r.measure(b, func() int { return r.report(b, r.scraper(b)) })
	})
	b.Run("report/warm", func(b *testing.B) {
		s := r.scraper(b)
		r.report(b, s)
		r.measure(b, func() int { return r.report(b, s) })
	})
}
