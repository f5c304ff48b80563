package istio_test

import (
	"encoding/json"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

// The pure transform sluice uses for every weight write: a VirtualService in, a JSON
// patch out whose test ops pin what was read. The header-matched route pinned to v3 is
// left alone; the default route gets the canary at 25 %.
func ExampleSetWeight() {
	vs := &networkingv1.VirtualService{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route:
    - destination: {host: reviews, subset: v3}
  - route:
    - destination: {host: reviews, subset: v1}
`), vs); err != nil {
		fmt.Println(err)
		return
	}
	target := istio.Target{Name: "reviews", Namespace: "default"}
	patch, changed, err := istio.SetWeight(vs, target, "v1", "v2", 25)
	if err != nil {
		fmt.Println(err)
		return
	}
	var ops []map[string]any
	if err := json.Unmarshal(patch, &ops); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("changed:", changed)
	for _, op := range ops {
		v, _ := json.Marshal(op["value"])
		fmt.Printf("%-7s %s %s\n", op["op"], op["path"], v)
	}
	// Output:
	// changed: true
	// test    /spec/http/1/route/0/destination/host "reviews"
	// test    /spec/http/1/route/0/destination/subset "v1"
	// add     /spec/http/1/route/0/weight 75
	// add     /spec/http/1/route/1 {"destination":{"host":"reviews","subset":"v2"},"weight":25}
}
