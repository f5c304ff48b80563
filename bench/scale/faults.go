package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedev/sluice/e2e/standin"
)

// faults makes Service 0's canary fail every call, runs times, and returns fault → the
// VirtualService watch event with the canary at weight 0, in milliseconds; after each it
// heals the canary and retries the rollout (sluice.dev/retry) back to 5 %. A run that
// does not finish, or the budget spent, ends the series with a note.
func (b *bench) faults(ctx context.Context, runs int) (ms []float64, notes []string) {
	stopAt := time.Now().Add(b.o.FaultBudget)
	for i := range runs {
		if time.Now().After(stopAt) {
			return ms, append(notes, fmt.Sprintf("fault runs stopped after %d of %d: the %s budget was spent", i, runs, b.o.FaultBudget))
		}
		time.Sleep(3 * time.Second) // the healthy canary's window fills
		fault := time.Now()
		b.bad.SetBehaviour(canary, standin.SubsetBehaviour{ErrorRate: 1})
		at, err := b.zeroAfter(fault, time.Minute)
		b.bad.SetBehaviour(canary, standin.SubsetBehaviour{})
		if err != nil {
			return ms, append(notes, fmt.Sprintf("fault run %d: %v", i+1, err))
		}
		ms = append(ms, float64(at.Sub(fault).Microseconds())/1000)
		fmt.Printf("N=%d fault run %d: fault → weight 0 %.0f ms\n", b.n, i+1, ms[len(ms)-1])
		if i == runs-1 {
			break
		}
		if err := b.retry(ctx, i+1); err != nil {
			return ms, append(notes, fmt.Sprintf("after fault run %d: %v", i+1, err))
		}
	}
	return ms, notes
}

func (b *bench) zeroAfter(t time.Time, timeout time.Duration) (time.Time, error) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if at, ok := b.badVS.FirstAfter(t, canary, 0); ok {
			return at, nil
		}
	}
	return time.Time{}, fmt.Errorf("no canary weight 0 within %s of the fault", timeout)
}

// retry starts the bad Service's rollout again and waits until it is back at 5 %.
func (b *bench) retry(ctx context.Context, run int) error {
	token := fmt.Sprintf("%s@%d", canary, run)
	if err := b.annotate(ctx, 0, "sluice.dev/retry", token); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ts, err := b.trafficShift(ctx, 0)
		if err == nil && ts.Status.LastRetry == token && held(ts) {
			return nil
		}
	}
	return fmt.Errorf("rollout not back at 5 %% within 2m of retry %s", token)
}
