# sluice — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /usr/bin/env bash
GO ?= go
TOOLS := $(GO) run -modfile=tools/go.mod
FUZZTIME ?= 4s
# Packages whose code runs concurrently get the race detector.
RACE_PKGS := ./pkg/window/... ./pkg/envoy/... ./pkg/controller/... ./pkg/metrics/... ./pkg/cli/... ./pkg/source/... ./e2e/standin/...

.PHONY: all build bins generate check-generated lint test unit fuzz e2e demo bench bench-detect

all: build

build:
	$(GO) build ./...

## bins: build (or reuse from cache) kube-apiserver, etcd and kubectl for the e2e tests.
bins:
	@e2e/k8sbins/build.sh >/dev/null

## generate: regenerate deepcopy functions and CRD YAML with controller-gen.
generate:
	$(TOOLS) sigs.k8s.io/controller-tools/cmd/controller-gen object:headerFile=hack/boilerplate.go.txt \
		paths=./pkg/apis/... crd:allowDangerousTypes=true output:crd:artifacts:config=manifests/crds

## check-generated: fail when the committed generated files differ from what generate produces.
check-generated:
	@hack/check-generated.sh

lint:
	@out=$$(gofmt -l cmd pkg e2e bench 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS) honnef.co/go/tools/cmd/staticcheck ./...

# Unit tests include packages that start their own real API server (pkg/cli, e2e/cluster).
unit: bins
	@hack/install-prometheus.sh
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) test -count=1 $$($(GO) list ./... | grep -v '/e2e$$')
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) test -count=1 -race $(RACE_PKGS)

fuzz:
	@hack/fuzz.sh $(FUZZTIME)

e2e: bins
	@hack/install-prometheus.sh
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) test -count=1 -timeout 20m -v ./e2e/

## test: everything CI runs — lint, generated-file check, unit, race, fuzz, end-to-end.
test: lint check-generated unit fuzz e2e

## demo: a healthy rollout promoted and a bad one rolled back, against a real API server.
demo: bins
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) run ./e2e/demo $(DEMO_FLAGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/...

## bench-detect: the seeded detection simulation (sluice vs Flagger- and Argo-style rules); writes bench/detect/.
bench-detect:
	$(GO) run ./bench/detect -out bench/detect
