// Package takeover runs the real sluice binary as leader-electing replicas against a
// test API server (e2e/cluster), for the takeover tests and bench/takeover: it builds
// cmd/sluice once, starts and kills its processes, reads their JSON logs (identity in the
// Lease, first tick), puts a stallable TCP proxy between a replica and the API server,
// and reads the API server's audit log.
package takeover

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// Build compiles cmd/sluice into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "sluice")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = cluster.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sluice: %w\n%s", err, out)
	}
	return bin, nil
}

// Replica is one sluice process; its stderr (the JSON log) goes to LogPath.
type Replica struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	logFile *os.File
}

// StartReplica runs bin with args and KUBECONFIG=kubeconfig.
func StartReplica(bin, name, kubeconfig, logPath string, args ...string) (*Replica, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting replica %s: %w", name, err)
	}
	r := &Replica{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{}), logFile: f}
	go func() {
		r.exitErr = cmd.Wait()
		_ = f.Close()
		close(r.done)
	}()
	return r, nil
}

// Signal sends sig to the process and returns the time just before sending it.
func (r *Replica) Signal(sig syscall.Signal) (time.Time, error) {
	at := time.Now()
	if err := r.cmd.Process.Signal(sig); err != nil {
		return at, fmt.Errorf("signalling replica %s: %w", r.Name, err)
	}
	return at, nil
}

// Pid is the process's id.
func (r *Replica) Pid() int { return r.cmd.Process.Pid }

// Done is closed when the process has exited.
func (r *Replica) Done() <-chan struct{} { return r.done }

// ExitErr is the process's exit status once Done is closed (nil: exit code 0).
func (r *Replica) ExitErr() error { return r.exitErr }

// Stop kills the process if it still runs and waits for it.
func (r *Replica) Stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// LogEntry is one JSON log line.
type LogEntry map[string]any

// Time is the entry's "ts".
func (e LogEntry) Time() time.Time {
	s, _ := e["ts"].(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Log reads the replica's log lines that are JSON objects.
func (r *Replica) Log() ([]LogEntry, error) {
	data, err := os.ReadFile(r.LogPath)
	if err != nil {
		return nil, err
	}
	var out []LogEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e LogEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// Find returns the first log entry with message msg.
func (r *Replica) Find(msg string) (LogEntry, bool) {
	entries, err := r.Log()
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		if e["msg"] == msg {
			return e, true
		}
	}
	return nil, false
}

// WaitFor waits until the log has an entry with message msg.
func (r *Replica) WaitFor(ctx context.Context, msg string, timeout time.Duration) (LogEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if e, ok := r.Find(msg); ok {
			return e, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("replica %s logged no %q within %s", r.Name, msg, timeout)
		case <-r.done:
			if e, ok := r.Find(msg); ok {
				return e, nil
			}
			return nil, fmt.Errorf("replica %s exited (%v) before logging %q", r.Name, r.exitErr, msg)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Identity is the replica's name in the Lease, from its log.
func (r *Replica) Identity(ctx context.Context) (string, error) {
	e, err := r.WaitFor(ctx, "electing a leader", 30*time.Second)
	if err != nil {
		return "", err
	}
	id, _ := e["identity"].(string)
	if id == "" {
		return "", errors.New("no identity in the election log line")
	}
	return id, nil
}

// FirstTick is when the replica's first full tick started (its "first tick" log line).
func (r *Replica) FirstTick(ctx context.Context, timeout time.Duration) (time.Time, LogEntry, error) {
	e, err := r.WaitFor(ctx, "first tick", timeout)
	if err != nil {
		return time.Time{}, nil, err
	}
	s, _ := e["tickStartedAt"].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("first tick of %s: %w", r.Name, err)
	}
	return t, e, nil
}

// Group is the replicas of one test, stopped together.
type Group struct {
	mu       sync.Mutex
	replicas []*Replica
}

// Add remembers r for StopAll.
func (g *Group) Add(r *Replica) *Replica {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.replicas = append(g.replicas, r)
	return r
}

// StopAll kills every replica still running.
func (g *Group) StopAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.replicas {
		r.Stop()
	}
}
