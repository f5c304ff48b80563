package source

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestGRPCVersions(t *testing.T) {
	pod := func(version string) corev1.Pod {
		l := map[string]string{"app": "reviews"}
		if version != "" {
			l["version"] = version
		}
		return testPod("default", "p-"+version, "127.0.0.1", l)
	}
	tests := map[string]struct {
		subsets map[string][]corev1.Pod
		want    map[string]string
	}{
		"subsets named after their pods' versions": {
			subsets: map[string][]corev1.Pod{"v1": {pod("v1"), pod("v1")}, "v2": {pod("v2")}},
			want:    map[string]string{"v1": "v1", "v2": "v2"},
		},
		"subsets named otherwise": {
			subsets: map[string][]corev1.Pod{"stable": {pod("1.4.0")}, "canary": {pod("1.5.0")}},
			want:    map[string]string{"1.4.0": "stable", "1.5.0": "canary"},
		},
		"no pods or no label: the subset's own name": {
			subsets: map[string][]corev1.Pod{"v1": nil, "v2": {pod("")}},
			want:    map[string]string{"v1": "v1", "v2": "v2"},
		},
		"pods of one subset disagree: its own name": {
			subsets: map[string][]corev1.Pod{"mixed": {pod("a"), pod("b")}},
			want:    map[string]string{"mixed": "mixed"},
		},
		"one version in two subsets belongs to neither": {
			subsets: map[string][]corev1.Pod{"blue": {pod("v3")}, "green": {pod("v3")}},
			want:    map[string]string{"v3": ""},
		},
		"a labelled subset keeps its version when another is named like it": {
			subsets: map[string][]corev1.Pod{"canary": {pod("v1")}, "v1": nil},
			want:    map[string]string{"v1": "canary"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := grpcVersions(Request{Subsets: tc.subsets}); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("grpcVersions = %v, want %v", got, tc.want)
			}
		})
	}
}
