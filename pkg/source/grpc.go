package source

// gRPC services answer a failed call with HTTP 200 and the failure in grpc-status, so a
// caller's Envoy counts it as 2xx in its cluster stats. Istio's source-reporter metrics on
// the same page carry the gRPC status per destination_version (the serving pod's
// `version` label); envoy.Parse reports those failures separately, and the caller source
// has Report.MoveGRPCFailures put them in the 5xx of the subset whose pods carry that version.

// versionLabel is the pod label Istio reports as destination_version.
const versionLabel = "version"

// grpcVersions maps each destination_version to the subset whose Ready pods all carry it.
// A subset whose pods carry no version label, or several, is reported under its own name
// (the usual layout names subsets after versions). A version claimed by two subsets maps
// to "": its failures cannot be given to either.
func grpcVersions(req Request) map[string]string {
	out := map[string]string{}
	claim := func(v, subset string) {
		if prev, ok := out[v]; ok && prev != subset {
			out[v] = ""
			return
		}
		out[v] = subset
	}
	var unlabelled []string
	for subset, pods := range req.Subsets {
		v, same := "", true
		for i := range pods {
			l := pods[i].Labels[versionLabel]
			if i == 0 {
				v = l
			} else if l != v {
				same = false
			}
		}
		if v != "" && same {
			claim(v, subset)
		} else {
			unlabelled = append(unlabelled, subset)
		}
	}
	for _, subset := range unlabelled {
		if _, ok := out[subset]; !ok {
			out[subset] = subset
		}
	}
	return out
}
