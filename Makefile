GO ?= go

.PHONY: all build test vet fmt demo race scenarios bench

all: build

build:
	$(GO) build -o bin/recursor ./cmd/recursor

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: vet
	$(GO) test -race -count=1 ./...

# Side-by-side with Unbound over a generated NSD tree, loopback only; root.
# BENCH_QUICK=1 for a ~1-minute smoke run. Table in bench/out/latest.md.
bench:
	GO=$(GO) bash bench/bench.sh
