# Tidemark. Quick start: `make demo` runs the product on a throwaway local
# stack; `make test` runs every test on real MariaDB, Redis, PostgreSQL and
# MinIO started by scripts/ (installed first when missing).
GO       ?= go
BIN      ?= bin/tidemark
PKGS     ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 25m
BENCHTIME ?= 1x
FUZZTIME ?= 10s

.PHONY: build test unit bench demo lint boundary deps clean fuzz

build:
	$(GO) build -o $(BIN) ./cmd/tidemark

deps:
	bash scripts/install-deps.sh

# The README's test command: every package, on real servers.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) -p 2 $(PKGS)

# Fast tests only: no server is installed or started (internal/stack skips in -short).
unit:
	$(GO) test -short -count=1 $(PKGS)

bench: deps build
	bash scripts/bench.sh

# Every fuzz target (func Fuzz* in any _test.go), FUZZTIME each.
fuzz:
	GO=$(GO) bash scripts/fuzz.sh $(FUZZTIME)

demo: deps build
	bash scripts/demo.sh

lint: boundary
	bash scripts/check-sizes.sh
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)

# The package boundaries (formats imports no sibling; realtime, batch and reporting not
# each other): internal/boundary, no server.
boundary:
	$(GO) test -count=1 -run 'TestBoundaries|TestViolationsFound' ./internal/boundary

clean:
	rm -rf bin .stack
