package spec_test

import (
	"fmt"

	"github.com/sluicedev/sluice/pkg/spec"
)

func ExampleParse() {
	s, err := spec.Parse(map[string]string{
		spec.AnnEnabled:      "true",
		spec.AnnCanary:       "v2",
		spec.AnnSteps:        "10:1m,50,100",
		spec.AnnMaxErrorRate: "0.5%",
		spec.AnnStatsFrom:    "istio=ingressgateway,namespace=istio-system",
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, st := range s.Steps {
		fmt.Printf("%d%% for %s, %d requests\n", st.Weight, st.Dwell, st.MinRequests)
	}
	fmt.Println(s.Canary, s.Guard.MaxErrorRate, s.StatsFrom.Selector, s.StatsFrom.Namespace)
	// Output:
	// 10% for 1m0s, 20 requests
	// 50% for 30s, 20 requests
	// 100% for 30s, 20 requests
	// v2 0.005 istio=ingressgateway istio-system
}

func ExampleInvalidError() {
	_, err := spec.Parse(map[string]string{
		spec.AnnEnabled:      "yes",
		spec.AnnSteps:        "5,50",
		spec.AnnMaxErrorRate: "1.5",
		"sluice.dev/canery":  "v2",
	}, nil)
	fmt.Println(err)
	// Output:
	// sluice.dev/enabled: "yes" is not a boolean: expected "true" or "false"
	// sluice.dev/steps: "5,50" is not a step list: expected comma-separated weights like "5,25,50,100", each optionally weight:dwell like "5:1m" and :approve for a step that waits for approval like "50:approve", strictly increasing integers in 1..100 ending at 100 (the last weight is 50, not 100)
	// sluice.dev/max-error-rate: "1.5" is not a rate: expected a number in [0,1] like 0.01 or a percentage like 1%
	// sluice.dev/canery: unknown annotation (value "v2"): expected a known sluice annotation; did you mean sluice.dev/canary?
}
