// Package inproc runs the sluice controller in this process against a test API server.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/sluicedev/sluice/pkg/controller/manager"
)

// StopTimeout bounds how long Stop waits for the controller to exit.
const StopTimeout = 30 * time.Second

// Controller is one run of manager.Run in a goroutine of this process.
type Controller struct {
	// LogPath is the file the controller's JSON log is appended to.
	LogPath string
	// Metrics is this run's registry (a fresh one each Start), for tests that read the
	// controller's metrics.
	Metrics *prometheus.Registry

	cancel   context.CancelFunc
	done     chan struct{}
	runErr   error // manager.Run's result, set before done closes
	stopOnce sync.Once
	stopErr  error
}

// Start runs the controller against cfg until Stop or until ctx ends, appending its
// log to logPath. Zero fields of o take test-friendly defaults: no metrics or probe
// listener ("0"), json logs, 4 workers, a 300 ms scrape timeout. Start always sets
// LogOutput (logPath), Registerer (a fresh Metrics registry) and AllowRestart (so a
// process may start the controller again after Stop). Any error of manager.Run,
// including an early one such as a bad option, is returned by Stop.
func Start(ctx context.Context, cfg *rest.Config, o manager.Options, logPath string) (*Controller, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the controller log: %w", err)
	}
	o = withDefaults(o)
	c := &Controller{LogPath: logPath, Metrics: prometheus.NewRegistry(), done: make(chan struct{})}
	o.LogOutput, o.Registerer, o.AllowRestart = f, c.Metrics, true
	ctx, c.cancel = context.WithCancel(ctx)
	go func() {
		defer close(c.done)
		err := manager.Run(ctx, cfg, o)
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the controller log: %w", cerr)
		}
		c.runErr = err
	}()
	return c, nil
}

// withDefaults fills o's zero fields with the in-process defaults.
func withDefaults(o manager.Options) manager.Options {
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.ProbeAddr == "" {
		o.ProbeAddr = "0"
	}
	if o.LogFormat == "" {
		o.LogFormat = "json"
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.ScrapeTimeout == 0 {
		o.ScrapeTimeout = 300 * time.Millisecond
	}
	return o
}

// Done is closed when the controller has exited, by Stop or on its own (an error Stop
// then returns).
func (c *Controller) Done() <-chan struct{} { return c.done }

// Stop stops the controller, waits at most StopTimeout for it to exit and returns
// manager.Run's error, or else an error when its log shows a reconcile that panicked.
// Calling it again returns the same result.
func (c *Controller) Stop() error {
	c.stopOnce.Do(func() {
		c.cancel()
		select {
		case <-c.done:
			if c.runErr != nil {
				c.stopErr = fmt.Errorf("running the sluice controller: %w", c.runErr)
				return
			}
			c.stopErr = c.checkPanics()
		case <-time.After(StopTimeout):
			c.stopErr = errors.New("the sluice controller did not stop within " + StopTimeout.String())
		}
	})
	return c.stopErr
}

// checkPanics fails when the log records a reconcile panic, naming the first few.
func (c *Controller) checkPanics() error {
	f, err := os.Open(c.LogPath)
	if err != nil {
		return fmt.Errorf("reading the controller log: %w", err)
	}
	defer f.Close()
	ps, err := panics(f)
	if err != nil || len(ps) == 0 {
		return err
	}
	return fmt.Errorf("the sluice controller recovered from %d panic(s) in Reconcile; the first: %s", len(ps), strings.Join(ps[:min(len(ps), 3)], "; "))
}
