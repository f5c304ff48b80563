package istio

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestIsPatchConflict(t *testing.T) {
	gr := schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}
	tests := map[string]struct {
		err  error
		want bool
	}{
		// What the API server answers when a JSON patch's test op fails.
		"failed test op": {apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", gr, "reviews",
			"the server rejected our request due to an error in our request", 0, false), true},
		"conflict":  {apierrors.NewConflict(gr, "reviews", errors.New("modified")), true},
		"wrapped":   {fmt.Errorf("patching: %w", apierrors.NewConflict(gr, "reviews", errors.New("x"))), true},
		"not found": {apierrors.NewNotFound(gr, "reviews"), false},
		"forbidden": {apierrors.NewForbidden(gr, "reviews", errors.New("rbac")), false},
		"plain":     {errors.New("connection refused"), false},
		"nil":       {nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IsPatchConflict(tc.err); got != tc.want {
				t.Errorf("IsPatchConflict(%v) = %t, want %t", tc.err, got, tc.want)
			}
		})
	}
}
