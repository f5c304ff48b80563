package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Exit codes of every command except wait and release (whose codes are ExitPromoted …
// ExitError).
const (
	ExitOK     = 0 // the command did what it was asked
	ExitFailed = 1 // the command could not do it (API error, no rollout under way, …)
	ExitUsage  = 2 // bad arguments
)

// CodeError carries a process exit code through cobra to main.
type CodeError struct {
	Code int
	Err  error
}

func (e *CodeError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

func (e *CodeError) Unwrap() error { return e.Err }

// withCode wraps err (nil stays nil) with an exit code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	var ee *CodeError
	if errors.As(err, &ee) {
		return err
	}
	return &CodeError{Code: code, Err: err}
}

// usageErrorf is an error in the command line, with the usage exit code of cmdName.
func usageErrorf(code int, format string, args ...any) error {
	return &CodeError{Code: code, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by the command tree to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *CodeError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailed
}

// Report prints err (if any) the way kubectl does, "error: …", with a hint when the API
// server refused the credentials, and returns the exit code.
func Report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	msg := err.Error()
	switch {
	case apierrors.IsForbidden(err):
		msg += "\n(the API server refused the request (403 Forbidden): check --as, --as-group, --user, --token and the RBAC rules of that identity)"
	case apierrors.IsUnauthorized(err):
		msg += "\n(the API server did not accept the credentials (401 Unauthorized): check --token, --user, --kubeconfig)"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "Client.Timeout exceeded"):
		msg += "\n(a request to the API server timed out; --request-timeout sets the limit)"
	}
	fmt.Fprintf(w, "error: %s\n", msg)
	return ExitCode(err)
}
