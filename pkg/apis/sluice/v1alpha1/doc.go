// Package v1alpha1 holds sluice's API types: TrafficShift (rollout state, written by
// sluice) and ShiftPolicy (step schedules and guard thresholds, written by platform teams).
//
// +kubebuilder:object:generate=true
// +groupName=sluice.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of sluice's resources.
var GroupVersion = schema.GroupVersion{Group: "sluice.dev", Version: "v1alpha1"}

var (
	// SchemeBuilder registers sluice's types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds sluice's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &TrafficShift{}, &TrafficShiftList{}, &ShiftPolicy{}, &ShiftPolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
