# certctl-pulumi. GNU make. `make help` lists the targets.
#
# Deploy targets (up, preview, destroy, refresh) run unattended (no TTY, CI=true): they use the
# `pulumi` on PATH or install a pinned one into .pulumi-cli/, keep state in .pulumi-state/
# (a file backend inside the repo, chosen with PULUMI_BACKEND_URL so your global
# `pulumi login` is left alone), create the stack with the passphrase secrets provider on first
# use, and never prompt.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
STACK ?= local

# Pulumi CLI: the one on PATH, else a pinned copy under .pulumi-cli/ installed by the official
# script. 3.260.0 is the release of the Pulumi Go SDK this module builds against (go.mod).
PULUMI_VERSION ?= 3.260.0
PULUMI_ROOT := $(CURDIR)/.pulumi-cli
ifndef PULUMI
PULUMI := $(or $(shell command -v pulumi 2>/dev/null),$(PULUMI_ROOT)/bin/pulumi)
endif
STATE_DIR := $(CURDIR)/.pulumi-state

# Go for `runtime: go` (the CI image keeps it in /usr/local/go/bin); the CLI's own directory for
# the language plugins shipped beside it.
export PATH := $(dir $(PULUMI)):$(PATH):/usr/local/go/bin
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_BACKEND_URL ?= file://$(STATE_DIR)

# The local stack holds no real secret (it renders manifests to disk), so its passphrase is fixed
# and public. Every other stack needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE.
ifeq ($(STACK),local)
PULUMI_CONFIG_PASSPHRASE ?= local-only-not-secret
export PULUMI_CONFIG_PASSPHRASE
endif

.PHONY: help build test test-mocks test-live test-engine test-provider golden bench bench-server fmt lint engine-toolchain up preview destroy refresh pulumi-stack pulumi-passphrase

help:
	@echo 'make test                 go vet + go test ./... and provider/ (the four tiers below)'
	@echo 'make test-mocks           the program under the SDK mocks: seconds, no root, no binaries'
	@echo 'make test-live            the rendered pods on certctl v2.1.7 and PostgreSQL (root)'
	@echo 'make test-engine          the Pulumi engine against a simulated cluster'
	@echo 'make test-provider        the component package (provider/, its own module) under mocks;'
	@echo '                          node + npm (and the npm registry) for its TypeScript SDK check'
	@echo 'make build                go build ./...'
	@echo 'make lint | fmt           golangci-lint run | fmt (.golangci.yml; built on first use)'
	@echo 'make golden               rewrite tests/testdata/golden/ (review the diff)'
	@echo 'make bench                Go benchmarks in ./tests'
	@echo 'make bench-server         load the real server per fleet size (~20 min; docs/sizing.md)'
	@echo 'make engine-toolchain     the engine tier'"'"'s cluster binaries, from the Go module proxy'
	@echo 'make up [STACK=local]     deploy (local renders YAML into rendered/local, no cluster)'
	@echo 'make preview|refresh|destroy [STACK=...]'
	@echo 'STACK other than local needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE.'

build:
	$(GO) build ./...

# The engine tier (tests/engine) needs the Pulumi CLI and a simulated cluster's binaries. Beside
# ../shared/toolchain the tests unpack its archives; elsewhere they use the `pulumi` on PATH (its
# plugins install themselves) and the binaries `make engine-toolchain` builds from the Go module
# proxy (versions pinned in tools/cluster/go.mod and tools/kwok/go.mod): etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok. TestYAMLExampleThroughThePackage also
# needs the YAML language host: the pulumi-language-yaml on PATH, else the test builds the pinned
# pulumi-yaml release from the Go module proxy into the user cache directory by itself.
ENGINE_TOOLCHAIN := $(CURDIR)/.engine-toolchain
ifneq ($(wildcard $(ENGINE_TOOLCHAIN)/bin/kwok),)
export CERTCTL_CLUSTER_TOOLCHAIN ?= $(ENGINE_TOOLCHAIN)
endif

# The test packages by cost; together they are ./... (TestMakefileTiersCoverEveryTestPackage).
MOCK_TESTS := ./config ./components ./tests ./tests/conformance
LIVE_TESTS := ./tests/live ./tests/kubelet ./tests/fakes3
ENGINE_TESTS := ./tests/engine ./tests/cluster
# Opt-in, outside make test's figures (it skips there): the server load test behind docs/sizing.md.
BENCH_SERVER_TESTS := ./tests/loadserver
# The component package is a Go module of its own (provider/), outside ./...: its tests run in it.
PROVIDER_TESTS := ./provider

# The live suite and the engine tier mostly wait (on pods, polls, rollouts): they run their
# cases ten at a time, beyond go test's default of one per CPU and its 10-minute timeout.
TEST_FLAGS := -parallel 10 -timeout 30m

test:
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...
	cd provider && $(GO) vet ./... && $(GO) test ./...

test-mocks:
	$(GO) test $(MOCK_TESTS)

test-live:
	$(GO) test $(TEST_FLAGS) $(LIVE_TESTS)

test-engine:
	$(GO) test $(TEST_FLAGS) $(ENGINE_TESTS)

test-provider:
	cd provider && $(GO) test $(patsubst ./provider%,.%,$(PROVIDER_TESTS))

engine-toolchain:
	@if [ -f ../shared/toolchain/cluster.tar.xz ]; then \
	  echo "../shared/toolchain/cluster.tar.xz is here: the tests unpack it, nothing to build"; \
	else \
	  (cd tools/cluster && GOBIN=$(ENGINE_TOOLCHAIN)/bin $(GO) install tool) && \
	  (cd tools/kwok && GOBIN=$(ENGINE_TOOLCHAIN)/bin $(GO) install tool) && \
	  mv -f $(ENGINE_TOOLCHAIN)/bin/server $(ENGINE_TOOLCHAIN)/bin/etcd && \
	  echo "built into $(ENGINE_TOOLCHAIN)/bin; make test uses them"; \
	fi

golden:
	$(GO) test ./tests -run TestGolden -update

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./tests

# The load test of the real server (docs/sizing.md): root, PostgreSQL and curl, loopback only,
# about 20 minutes. The report goes to BENCH_OUT; BENCH_TIERS=small,medium runs some tiers.
BENCH_OUT ?= docs/bench-server.md
BENCH_TIERS ?=
bench-server:
	CERTCTL_BENCH_SERVER=1 CI=true CERTCTL_BENCH_OUT=$(abspath $(BENCH_OUT)) CERTCTL_BENCH_TIERS=$(BENCH_TIERS) \
	  $(GO) test -count=1 -run TestServerUnderLoad -v -timeout 40m $(BENCH_SERVER_TESTS)

# golangci-lint with .golangci.yml (its formatters include gofmt and gci), built from the Go
# module proxy into .lint/<version>/ on first use: release binaries cannot be downloaded here.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(CURDIR)/.lint/$(GOLANGCI_LINT_VERSION)/golangci-lint

fmt: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) fmt ./...

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...
	cd provider && $(GOLANGCI_LINT) run --config ../.golangci.yml ./...

$(GOLANGCI_LINT):
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

# ---- Pulumi --------------------------------------------------------------------------------------

up: pulumi-stack
	$(PULUMI) up --yes --non-interactive --stack $(STACK)

preview: pulumi-stack
	$(PULUMI) preview --non-interactive --stack $(STACK)

refresh: pulumi-stack
	$(PULUMI) refresh --yes --non-interactive --stack $(STACK)

destroy: pulumi-stack
	$(PULUMI) destroy --yes --non-interactive --stack $(STACK)

# Shared set-up of every Pulumi target: CLI present, passphrase known, state directory made,
# stack selected (created with the passphrase secrets provider the first time).
pulumi-stack: $(PULUMI) pulumi-passphrase
	@mkdir -p $(STATE_DIR)
	$(PULUMI) stack select --create $(STACK) --secrets-provider passphrase --non-interactive

pulumi-passphrase:
	@if [ -z "$${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then \
	  echo "error: stack '$(STACK)' needs its secrets passphrase: set PULUMI_CONFIG_PASSPHRASE or" >&2; \
	  echo "       PULUMI_CONFIG_PASSPHRASE_FILE (the same one every time; losing it loses the stack's secrets)." >&2; \
	  exit 1; \
	fi

# Only used when no pulumi is on PATH. Flags as the Pulumi Automation API passes them.
$(PULUMI_ROOT)/bin/pulumi:
	@command -v curl >/dev/null || { echo "error: curl is needed to install the Pulumi CLI" >&2; exit 1; }
	curl -fsSL https://get.pulumi.com/install.sh | \
	  sh -s -- --no-edit-path --install-root $(PULUMI_ROOT) --version $(PULUMI_VERSION)
	$@ version
