package lifecycle

import (
	"fmt"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/spec"
)

// Subsets says which subsets a reconcile is about. Stable: the status's (sluice tracks
// it from the first rollout on), else sluice.dev/stable, else the subset the routes serve
// now (serving; servingProblem says why the routes show none). Canary: the subset
// sluice.dev/canary names, "" when it names the stable.
func Subsets(st *v1alpha1.TrafficShiftStatus, sp spec.Spec, serving string, servingProblem *Problem) (stable, canary string, p *Problem) {
	stable = st.Stable
	if stable == "" {
		stable = sp.Stable
	}
	if stable == "" {
		if servingProblem != nil {
			return "", "", servingProblem
		}
		if serving == "" {
			return "", "", &Problem{reason.UnknownStable, fmt.Sprintf("the routes show no serving subset; set %s to the subset serving now", spec.AnnStable)}
		}
		stable = serving
	}
	canary = sp.Canary
	if canary == stable {
		canary = ""
	}
	return stable, canary, nil
}
