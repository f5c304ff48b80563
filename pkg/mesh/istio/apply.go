package istio

import (
	"context"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplyPatch sends a JSON patch built by SetWeight or Promote to the API server. An
// empty patch is a no-op. On success vs holds the server's updated object.
func ApplyPatch(ctx context.Context, c client.Client, vs *networkingv1.VirtualService, patch []byte) error {
	if len(patch) == 0 {
		return nil
	}
	if err := c.Patch(ctx, vs, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("patching VirtualService %s/%s: %w", vs.Namespace, vs.Name, err)
	}
	return nil
}

// IsPatchConflict reports whether err from ApplyPatch means the VirtualService changed
// under the patch: the API server answers a failed test op with 422 (Invalid), and a
// concurrent write may surface as 409 (Conflict). Admission rejections also use 422 in
// some setups, so callers should re-read and re-inspect rather than retry blindly.
func IsPatchConflict(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsInvalid(err)
}
