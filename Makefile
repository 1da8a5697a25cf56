# Fulcrum build and test entry points. `make test` is the one command that
# installs what the tests need and runs the whole suite; CI runs exactly it.

GO            ?= go
GOBIN         := $(shell $(GO) env GOPATH)/bin
STATICCHECK   := $(GOBIN)/staticcheck
STATICCHECK_VERSION := 2026.2.2
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -X github.com/fulcrumlb/fulcrum/internal/version.Version=$(VERSION)

# Debian packages the test suite drives as real peers (see docs/conventions.md).
DEB_PACKAGES  := mariadb-server etcd-server haproxy nginx-light libnginx-mod-stream chromium caddy wrk nghttp2-client

.PHONY: all build test deps tools lint vet staticcheck fmt-check unit clean bench bench-smoke

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/fulcrum ./cmd/fulcrum
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/fulcrum-proxy ./cmd/fulcrum-proxy

# The whole suite: real peers required, race detector on; then the
# benchmark harness runs every benchmark for a moment (bench-smoke).
test: deps tools lint
	FULCRUM_REQUIRE_PEERS=1 $(GO) test -race -timeout 30m ./...
	$(MAKE) bench-smoke

# Quick loop for development: no installs, no race detector.
unit:
	$(GO) test ./...

lint: fmt-check vet staticcheck

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

tools:
	@if ! $(STATICCHECK) -version 2>/dev/null | grep -q "$(STATICCHECK_VERSION)"; then \
		echo "installing staticcheck $(STATICCHECK_VERSION)"; \
		GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi

# Install the Debian packages the tests need, only those missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	$(GO) mod download

# Benchmarks against nginx, HAProxy and Caddy (docs/benchmarks.md): the full
# set takes tens of minutes and writes bench/results/DATE.md. Add flags with
# BENCH_FLAGS, e.g. make bench BENCH_FLAGS="-only b1,b2 -rounds 7".
BENCH_FLAGS ?=
bench: deps
	$(GO) run ./bench $(BENCH_FLAGS)

# Every benchmark for a moment with every contender (under 3 minutes): it
# checks that the harness works, not how fast anything is.
bench-smoke: deps
	$(GO) run ./bench -smoke $(BENCH_FLAGS)

clean:
	rm -rf bin
