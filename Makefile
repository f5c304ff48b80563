# sluice — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /usr/bin/env bash
GO ?= go
TOOLS := $(GO) run -modfile=tools/go.mod
# The checks and tests build with the image's settings (static, paths trimmed: see
# hack/image), so that vet, staticcheck, the tests, check-selfcontained's copy and the
# image's binary share one build cache; only the race detector needs cgo. e2e/cluster's
# RepoRoot finds the checkout from the working directory, which trimmed paths do not name.
BUILD_ENV := GOFLAGS='-trimpath $(shell $(GO) env GOFLAGS)'
TEST_ENV := CGO_ENABLED=0 $(BUILD_ENV)
RACE_ENV := CGO_ENABLED=1 $(BUILD_ENV)
FUZZTIME ?= 4s
# Packages whose code runs concurrently get the race detector.
RACE_PKGS := ./pkg/window/... ./pkg/envoy/... ./pkg/controller/... ./pkg/metrics/... ./pkg/cli/... ./pkg/source/... ./e2e/standin/... ./pkg/dataplane/... ./e2e/inproc/... ./pkg/notify/... ./pkg/sampler/...

# End-to-end packages (real API server, real processes): `make e2e` runs them one package
# at a time; `make unit` leaves them out (E2E_ONLY matches their import paths).
E2E_PKGS := ./e2e/ ./e2e/install/ ./e2e/takeover/ ./e2e/faults/
E2E_ONLY := /e2e(/install|/takeover|/faults|/node)?$$

.PHONY: all build bins nodebins node istiod generate check-generated check-selfcontained lint fmt-check vet staticcheck test unit fuzz e2e meshlab demo demo-standin bench bench-detect bench-alerts bench-hangingsink bench-takeover bench-scale image plugin dist lab

all: build

build:
	$(GO) build ./...

## plugin: build kubectl-sluice (and its completion helper) into bin/; put bin/ on PATH.
plugin:
	$(GO) build -o bin/kubectl-sluice ./cmd/kubectl-sluice
	cp hack/kubectl_complete-sluice bin/

## dist: release archives of kubectl-sluice (linux/darwin × amd64/arm64, windows/amd64),
## SHA256SUMS and the krew manifest rendered from .krew.yaml with their sha256, in dist/.
## VERSION defaults to `git describe`.
dist:
	$(GO) run ./hack/dist $(if $(VERSION),-version $(VERSION))

## bins: build (or reuse from cache) kube-apiserver, etcd and kubectl for the e2e tests.
bins:
	@e2e/k8sbins/build.sh >/dev/null

## nodebins: build (or reuse from cache) kubelet, kube-scheduler and kube-controller-manager
## for the real node (cold: ~1000 CPU-seconds, under the shared lock /tmp/sluice-heavy.lock).
nodebins:
	@e2e/nodebins/build.sh >/dev/null

## generate: regenerate deepcopy functions and CRD YAML with controller-gen.
generate:
	$(TOOLS) sigs.k8s.io/controller-tools/cmd/controller-gen object:headerFile=hack/boilerplate.go.txt \
		paths=./pkg/apis/... crd:allowDangerousTypes=true output:crd:artifacts:config=manifests/crds

## check-generated: fail when the committed generated files differ from what generate produces.
check-generated:
	@hack/check-generated.sh

## check-selfcontained: fail when a file names a path outside the repository, then run the
## tests of the packages that read testdata in a copy of the work tree with nothing beside it.
check-selfcontained:
	@$(TEST_ENV) hack/check-selfcontained.sh

## lint: gofmt, go vet and staticcheck (make test runs gofmt first and the other two beside e2e).
lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l cmd pkg e2e bench hack 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(TEST_ENV) $(GO) vet ./...

staticcheck:
	$(TEST_ENV) $(TOOLS) honnef.co/go/tools/cmd/staticcheck ./...

# Unit tests include packages that start their own real API server (pkg/cli, e2e/cluster).
# The race packages run once, under the race detector; the others run plain. The two runs
# go side by side with -p 3 each: a cold compile is mostly one long chain of packages, and
# a test binary holds a build slot for as long as it runs (pkg/cli's, under -race, ~3 min),
# so with go test's default of one slot per core the cores sit idle.
UNIT_PKGS = $$(comm -23 <($(GO) list ./... | grep -v -E '$(E2E_ONLY)' | sort) <($(GO) list $(RACE_PKGS) | sort))
unit: bins
	@hack/install-debs.sh
	@export KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh); \
	echo "$(TEST_ENV) $(GO) test -count=1 -p 3 <the packages not in RACE_PKGS> &"; \
	$(TEST_ENV) $(GO) test -count=1 -p 3 $(UNIT_PKGS) & plain=$$!; \
	echo "$(RACE_ENV) $(GO) test -count=1 -p 3 -race $(RACE_PKGS)"; \
	$(RACE_ENV) $(GO) test -count=1 -p 3 -race $(RACE_PKGS); race=$$?; \
	wait $$plain; plainrc=$$?; \
	if [ $$plainrc -ne 0 ] || [ $$race -ne 0 ]; then echo "unit: plain run exit $$plainrc, race run exit $$race"; exit 1; fi

fuzz:
	@hack/fuzz.sh $(FUZZTIME)

e2e: bins
	@hack/install-debs.sh
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(TEST_ENV) $(GO) test -count=1 -p 1 -timeout 30m -v $(E2E_PKGS)

## node: sluice on a real node (e2e/node): containerd, runc and a kubelet in private
## namespaces; its image imported, `kubectl apply -k` of the manifests, a rollout and a
## rollback, and a measured takeover after the leader's container is SIGKILLed. Needs root.
node: bins nodebins
	@hack/install-debs.sh
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) SLUICE_NODE_BINS=$$(e2e/nodebins/build.sh) SLUICE_NODE=1 \
		$(TEST_ENV) $(GO) test -count=1 -timeout 15m -v ./e2e/node/

## istiod: build (or reuse from cache) the real istiod for the mesh lab.
istiod:
	@e2e/istiodbin/build.sh >/dev/null

## meshlab: sluice driving real istiod and proxyless gRPC clients (e2e/meshlab).
meshlab: bins istiod
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) SLUICE_ISTIOD_BIN=$$(e2e/istiodbin/build.sh) SLUICE_MESHLAB=1 \
		$(TEST_ENV) $(GO) test -count=1 -timeout 15m -v ./e2e/meshlab/

## test: everything CI runs — lint, generated-file and self-containment checks, unit, race, fuzz,
## end-to-end, mesh lab, real node. hack/test.sh runs them in that order, with the binary
## builds and the fuzz targets alongside (see its header), and times each stage.
test:
	@hack/test.sh

## demo: on the mesh lab (real API server, real istiod, real gRPC traffic): a healthy
## release promoted, a bad one rolled back, with the measured timeline.
demo: bins istiod
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) SLUICE_ISTIOD_BIN=$$(e2e/istiodbin/build.sh) $(GO) run ./e2e/labdemo $(DEMO_FLAGS)

## lab: the mesh lab with sluice on it, left running for you to drive with the real kubectl
## and kubectl-sluice (it prints the export line); Ctrl-C stops it.
lab: bins istiod
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) SLUICE_ISTIOD_BIN=$$(e2e/istiodbin/build.sh) $(GO) run ./e2e/lab $(LAB_FLAGS)

## demo-standin: the same story with stand-in pods instead of istiod (no istiod build).
demo-standin: bins
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) run ./e2e/demo $(DEMO_FLAGS)

## image: the controller's OCI image without a Docker daemon or a base image (hack/image):
## bin/image/oci (OCI layout) and bin/image/sluice.tar (docker load, ctr images import);
## the same commit gives the same digest. VERSION is also the tag; PLATFORMS=linux/amd64,linux/arm64
## puts an image index in the layout (the tarball holds the first platform).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
PLATFORMS ?= linux/amd64
image:
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image -version '$(VERSION)' -revision '$(REVISION)' \
		-platforms '$(PLATFORMS)' -out bin/image

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/...

## bench-alerts: Alertmanager alert → canary weight 0 through the receiver, with the real
## Alertmanager (report in bench/alerts/README.md).
bench-alerts: bins
	@hack/install-debs.sh
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) run ./bench/alerts -out bench/alerts

## bench-hangingsink: fault → canary weight 0 with and without notification sinks that never
## answer (report in bench/hangingsink/README.md).
bench-hangingsink: bins
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) run ./bench/hangingsink -out bench/hangingsink

## bench-takeover: two replicas of the real binary, the leader SIGKILLed as the canary starts
## failing: kill → the new leader's first tick and fault → canary weight 0, with sluice's lease
## timings and controller-runtime's (report in bench/takeover/README.md; ~20 min).
bench-takeover: bins
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) run ./bench/takeover -out bench/takeover

## bench-scale: the real binary carrying 10, 100 and 1,000 active rollouts (stand-in pods,
## a shared gateway of callers): CPU, RSS, tick lag, scrapes, API requests, fault → weight 0
## (report in bench/scale/README.md; ~25 min; SCALE_N=100 runs one N and merges it).
SCALE_N ?= 10,100,1000
bench-scale: bins
	KUBEBUILDER_ASSETS=$$(e2e/k8sbins/build.sh) $(GO) run ./bench/scale -n $(SCALE_N) -out bench/scale

## bench-detect: the seeded detection simulation (sluice vs Flagger- and Argo-style rules); writes bench/detect/.
bench-detect:
	$(GO) run ./bench/detect -out bench/detect
