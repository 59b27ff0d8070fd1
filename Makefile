# Signpost: build, run and test.

GO        ?= go
BIN       := bin
SIGNPOST  := $(BIN)/signpost
CTL       := $(BIN)/signpostctl
COREFILE  ?= Corefile.example

.PHONY: all build run test vet clean bench

all: build

build:
	$(GO) build -o $(SIGNPOST) ./cmd/signpost
	@if [ -d cmd/signpostctl ]; then $(GO) build -o $(CTL) ./cmd/signpostctl; fi

# Start the server on Corefile.example: DNS on 127.0.0.1:1053, the
# registration API on 127.0.0.1:8053.
run: build
	$(SIGNPOST) -conf $(COREFILE)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# Every test, under the race detector. Integration tests build the real
# binaries themselves.
test: vet
	$(GO) test -race -count=1 -timeout 15m ./...

# Benchmark Signpost against CoreDNS's hosts and file plugins and two
# ceilings with dnsperf (installed with apt-get if missing); see
# bench/README.md. BENCH_OUT=FILE also writes the report to FILE.
BENCH_SECONDS ?= 10
BENCH_ROUNDS  ?= 3
BENCH_OUT     ?=
bench:
	$(GO) run ./bench/cmd/benchrun -go $(GO) -seconds $(BENCH_SECONDS) -rounds $(BENCH_ROUNDS) $(if $(BENCH_OUT),-out $(BENCH_OUT))

clean:
	rm -rf $(BIN)
