package cluster

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// childPID finds a child process by its command name; exited sees it end, zombie or reaped.
func TestChildPIDAndExited(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid, err := childPID("sleep")
	if err != nil || pid != cmd.Process.Pid {
		t.Fatalf("childPID(sleep) = %d, %v; want %d", pid, err, cmd.Process.Pid)
	}
	if _, err := childPID("no-such-command"); err == nil {
		t.Fatal("childPID found a process that does not exist")
	}
	if exited(pid, 50*time.Millisecond) {
		t.Fatal("a running process reported as exited")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !exited(pid, 2*time.Second) { // a zombie until Wait
		t.Fatal("a killed process not reported as exited")
	}
	if _, err := childPID("sleep"); err == nil {
		t.Fatal("childPID returned a zombie")
	}
}
