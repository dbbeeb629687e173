# tkgcert: see README.md. `make test` is what CI runs.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

BIN       := $(CURDIR)/bin
TOOLS_MOD := hack/tools
GO        ?= go
# Versions come from the go.mod files: one place pins each.
K8S_VERSION  := $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2; exit}' $(TOOLS_MOD)/go.mod)
CAPI_VERSION := $(shell awk '$$1 == "sigs.k8s.io/cluster-api/api" {print $$2; exit}' go.mod)
K8S_MINOR    := $(word 2,$(subst ., ,$(K8S_VERSION)))
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

K8S_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(K8S_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/client-go/pkg/version.gitVersion=$(K8S_VERSION)
LDFLAGS := -X github.com/tkgcert/tkgcert/internal/version.Version=$(VERSION)

TOOL_DEPS := $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
# promtool and promql-metrics: a module of their own, so that neither the
# product's go.mod nor hack/tools' requires the Prometheus server.
PROMTOOL_MOD  := hack/promtool
PROMTOOL_DEPS := $(PROMTOOL_MOD)/go.mod $(PROMTOOL_MOD)/go.sum
GO_TEST_FLAGS ?= -race -count=1 -timeout 30m

.PHONY: all deps tools build release image test unit lint fmt clean help

all: build

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

tools: $(BIN)/kube-apiserver $(BIN)/kubeadm $(BIN)/etcd $(BIN)/promtool $(BIN)/promql-metrics capi-crds ## Build kube-apiserver, kubeadm, etcd, promtool and promql-metrics into bin/ (rebuilt when their pins change)

$(BIN)/kube-apiserver $(BIN)/kubeadm: $(TOOL_DEPS)
	@mkdir -p $(BIN)
	@echo ">> building $(@F) $(K8S_VERSION) from k8s.io/kubernetes"
	cd $(TOOLS_MOD) && $(GO) build -ldflags '$(K8S_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/$(@F)

$(BIN)/etcd: $(TOOL_DEPS)
	@mkdir -p $(BIN)
	@echo ">> building etcd from go.etcd.io/etcd/server/v3"
	cd $(TOOLS_MOD) && $(GO) build -ldflags '-s -w' -o $@ go.etcd.io/etcd/server/v3

# remove_all_sd leaves out Prometheus's service-discovery plugins (AWS, Azure,
# GCE...), which promtool links but rule checks and tests never use: a
# shorter cold build in CI. promtool still has file, HTTP and Kubernetes SD.
$(BIN)/promtool: $(PROMTOOL_DEPS)
	@mkdir -p $(BIN)
	@echo ">> building promtool from github.com/prometheus/prometheus"
	cd $(PROMTOOL_MOD) && $(GO) build -tags remove_all_sd -trimpath -ldflags '-s -w' -o $@ github.com/prometheus/prometheus/cmd/promtool

$(BIN)/promql-metrics: $(PROMTOOL_DEPS) $(wildcard $(PROMTOOL_MOD)/*.go)
	@mkdir -p $(BIN)
	cd $(PROMTOOL_MOD) && $(GO) build -trimpath -ldflags '-s -w' -o $@ .

.PHONY: capi-crds
capi-crds: ## Fetch Cluster API's module (its CRDs) into the Go module cache
	@cd /tmp && $(GO) mod download sigs.k8s.io/cluster-api@$(CAPI_VERSION)

build: ## Build bin/tkgcert and bin/tkgcert-lab
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tkgcert ./cmd/tkgcert
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tkgcert-lab ./cmd/tkgcert-lab

# Archives for kubectl/krew, checksums.txt and the krew manifest in dist/
# (hack/release.sh says how VERSION, RELEASE_URL and PLATFORMS are chosen).
# VERSION is passed on only when given: the default above is git describe's,
# not a semantic version krew accepts.
release: ## Cross-build kubectl-tkgcert archives, checksums.txt and the krew manifest into dist/
	$(if $(filter command line,$(origin VERSION)),VERSION='$(VERSION)') hack/release.sh

# The image: reproducible, from the commit (its time stamps every file). Push
# with `crane push $(IMAGE_OUT)/oci REGISTRY/tkgcert:TAG` or
# `skopeo copy oci-archive:$(IMAGE_OUT)/tkgcert.oci.tar docker://REGISTRY/tkgcert:TAG`.
IMAGE_OUT       ?= $(BIN)/image
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
REVISION        ?= $(shell git rev-parse HEAD 2>/dev/null)
# The image's CA bundle: Debian's ca-certificates package on the build machine.
CA_BUNDLE       ?= /etc/ssl/certs/ca-certificates.crt

image: ## Build the controller image (OCI layout and oci-archive in bin/image) without a container engine
	cd hack/image && SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run . -repo $(CURDIR) -out $(abspath $(IMAGE_OUT)) \
	  -version $(VERSION) -revision $(REVISION) -platforms $(IMAGE_PLATFORMS) -ca-bundle $(CA_BUNDLE)

deps: ## Install the system packages the tests need (Chromium, for the HTML report's browser test)
	hack/install-deps.sh

# hack/krew is its own module (krew stays out of go.mod): ./... does not reach
# it. It runs alongside the main tests; it builds only the host's and one
# windows binary, not all six.
test: deps tools lint ## Install the test packages, build the tools, lint, and run all tests with -race
	cd hack/krew && $(GO) test -count=1 -timeout 30m ./... > $(CURDIR)/.krew-test.log 2>&1 & krew=$$!; \
	  $(GO) test $(GO_TEST_FLAGS) ./... || rc=$$?; \
	  wait $$krew || { echo "hack/krew: TestReleaseManifest failed:"; rc=1; }; cat .krew-test.log; rm -f .krew-test.log; exit $${rc:-0}

unit: ## Run the tests without building tools (packages that need bin/ fail)
	$(GO) test $(GO_TEST_FLAGS) ./...

# Each fuzz target runs for FUZZTIME on its own: -fuzz takes one target per
# package run. `make test` runs their seeds (f.Add and testdata/fuzz). New
# inputs are minimized for at most FUZZMINIMIZETIME (Go's default, 60s,
# would leave a short run little time to fuzz).
FUZZTIME         ?= 30s
FUZZMINIMIZETIME ?= 3s
FUZZ_TARGETS := \
	./internal/source:FuzzParseBundle \
	./internal/certs:FuzzParseText ./internal/certs:FuzzParseJSON ./internal/certs:FuzzParseYAML \
	./internal/certs:FuzzParseKubeconfigUser ./internal/certs:FuzzReadNode \
	./internal/kubeconfig:FuzzRESTConfig \
	./internal/remote:FuzzHostPort ./internal/remote:FuzzParseJump \
	./internal/controller:FuzzWindowNext \
	./internal/duration:FuzzParse \
	./internal/fleet:FuzzConvert

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 30s) each
	@for t in $(FUZZ_TARGETS); do \
	  echo ">> $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $${t%%:*} || exit 1; \
	done

lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')

clean: ## Remove bin/
	rm -rf $(BIN)

.PHONY: demo
demo: tools build ## Start the lab (a simulated Supervisor with TKG clusters), run tkgcert against it, keep the lab running
	hack/demo.sh
