# Tidemark. Quick start: `make demo` runs the product on a throwaway local
# stack; `make test` runs every test on real MariaDB, Redis, PostgreSQL and
# MinIO started by scripts/ (installed first when missing).
GO       ?= go
BIN      ?= bin/tidemark
PKGS     ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 25m
BENCHTIME ?= 1x

.PHONY: build test unit bench demo lint deps clean fuzz

build:
	$(GO) build -o $(BIN) ./cmd/tidemark

deps:
	bash scripts/install-deps.sh

# The README's test command: every package, on real servers.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) -p 2 $(PKGS)

# Fast tests only: no servers.
unit:
	$(GO) test -short -count=1 $(PKGS)

bench: deps build
	bash scripts/bench.sh

fuzz:
	$(GO) test ./formats -run '^$$' -fuzz FuzzParseView -fuzztime 30s

demo: deps build
	bash scripts/demo.sh

lint:
	bash scripts/check-sizes.sh
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)

clean:
	rm -rf bin .stack
