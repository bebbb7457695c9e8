# deskhub — see README.md.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/deskhub/deskhub/internal/buildinfo
LDFLAGS := -s -w -X $(PKG).version=$(VERSION) -X $(PKG).commit=$(COMMIT) -X $(PKG).date=$(DATE)

.PHONY: build test run bench fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/deskhub ./cmd/deskhub

test:
	scripts/test.sh

run:
	./run

bench: build
	bench/run.sh

# Each fuzz target for FUZZTIME (default 10s).
fuzz:
	scripts/fuzz.sh $(or $(FUZZTIME),10s)

clean:
	rm -rf bin
