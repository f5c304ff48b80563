package istio

import (
	"context"
	"errors"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// Transform computes one VirtualService's patch: SetWeight or Promote bound to their
// arguments.
type Transform func(*networkingv1.VirtualService) (patch []byte, changed bool, err error)

// Patcher sends one VirtualService's patch; on success vs holds the object as written.
type Patcher func(ctx context.Context, vs *networkingv1.VirtualService, patch []byte) error

// Outcome is what one pass of a write did to each VirtualService, by name.
type Outcome struct {
	// Written took the patch; Unchanged already held what was asked; Unmanaged have no
	// route sluice shifts (reported elsewhere, never written).
	Written, Unchanged, Unmanaged []string
	// Failed did not take it: the transform refused (a malformed route) or the write
	// failed (a denial, a conflict, an API error). In the order tried.
	Failed []Failure
}

// Failure is one VirtualService that did not take a write.
type Failure struct {
	Name string
	Err  error
}

// Complete reports whether every VirtualService sluice shifts holds the write.
func (o Outcome) Complete() bool { return len(o.Failed) == 0 }

// WriteAll applies transform to every VirtualService and sends each patch that changes
// something. It never stops at a failure: each VirtualService it can write is written in
// this one pass, and the outcome says what happened to the rest.
func WriteAll(ctx context.Context, vss []*networkingv1.VirtualService, transform Transform, send Patcher) Outcome {
	var o Outcome
	for _, vs := range vss {
		patch, changed, err := transform(vs)
		switch {
		case errors.Is(err, ErrNoManagedRoute):
			o.Unmanaged = append(o.Unmanaged, vs.Name)
		case err != nil:
			o.Failed = append(o.Failed, Failure{vs.Name, err})
		case !changed:
			o.Unchanged = append(o.Unchanged, vs.Name)
		default:
			if err := send(ctx, vs, patch); err != nil {
				o.Failed = append(o.Failed, Failure{vs.Name, err})
				continue
			}
			o.Written = append(o.Written, vs.Name)
		}
	}
	return o
}
