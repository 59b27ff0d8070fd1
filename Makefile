# Signpost: build, run and test.

GO        ?= go
BIN       := bin
SIGNPOST  := $(BIN)/signpost
CTL       := $(BIN)/signpostctl
COREFILE  ?= Corefile.example

.PHONY: all build run test vet clean bench fuzz etcd install uninstall

all: build

# The version both binaries print (signpost -version, signpostctl version):
# git describe of the checkout, or "dev" outside one. BUILDFLAGS adds flags
# to go build, such as -trimpath.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --short HEAD 2>/dev/null)
VERSION_PKG := github.com/signpost-dns/signpost/internal/version
LDFLAGS     := -X $(VERSION_PKG).linked=$(VERSION) -X $(VERSION_PKG).linkedCommit=$(COMMIT)
BUILDFLAGS  ?=

build:
	$(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o $(SIGNPOST) ./cmd/signpost
	@if [ -d cmd/signpostctl ]; then $(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o $(CTL) ./cmd/signpostctl; fi

# Start the server on Corefile.example: DNS on 127.0.0.1:1053, the
# registration API on 127.0.0.1:8053.
run: build
	$(SIGNPOST) -conf $(COREFILE)

# The Go modules of the repository: the server, and the client with its
# gRPC resolver, which are modules of their own so that programs embedding
# them pull in none of the server's dependencies.
MODULES := . client client/grpcresolver

vet:
	@set -e; for m in $(MODULES); do echo "go vet in $$m"; (cd $$m && $(GO) vet ./...); done
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# Every test of every module, under the race detector. Integration tests
# build the real binaries themselves.
test: vet etcd
	@rc=0; for m in $(MODULES); do (cd $$m && $(GO) test -race -count=1 -timeout 15m ./...) || rc=1; done; exit $$rc

# The current etcd server (and etcdctl) that the etcd tests run against,
# beside Debian's etcd 3.4 in /usr/bin (see internal/etcdtest). Built once
# per version from the module proxy in a throwaway module: etcd's own go.mod
# has replace directives, which `go install pkg@version` refuses.
ETCD_VERSION := v3.7.3
ETCD_STAMP   := $(BIN)/.etcd-$(ETCD_VERSION)

etcd: $(ETCD_STAMP)

$(ETCD_STAMP):
	@mkdir -p $(BIN)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export GOWORK=off; cd "$$tmp"; $(GO) mod init signpost-etcd 2>/dev/null; \
	echo "building etcd $(ETCD_VERSION) into $(BIN)/"; \
	$(GO) get go.etcd.io/etcd/server/v3@$(ETCD_VERSION) go.etcd.io/etcd/etcdctl/v3@$(ETCD_VERSION) \
		2>"$$tmp/get.log" || { cat "$$tmp/get.log"; exit 1; }; \
	$(GO) build -trimpath -o "$(CURDIR)/$(BIN)/etcd" go.etcd.io/etcd/server/v3; \
	$(GO) build -trimpath -o "$(CURDIR)/$(BIN)/etcdctl" go.etcd.io/etcd/etcdctl/v3
	rm -f $(BIN)/.etcd-*
	$(BIN)/etcd --version | head -n 1
	touch $@

# Benchmark Signpost against CoreDNS's hosts and file plugins and two
# ceilings with dnsperf (installed with apt-get if missing); see
# bench/README.md. BENCH_OUT=FILE also writes the report to FILE.
BENCH_SECONDS ?= 10
BENCH_ROUNDS  ?= 3
BENCH_OUT     ?=
bench:
	$(GO) run ./bench/cmd/benchrun -go $(GO) -seconds $(BENCH_SECONDS) -rounds $(BENCH_ROUNDS) $(if $(BENCH_OUT),-out $(BENCH_OUT))

# Run every fuzz target for FUZZTIME each (make test runs their seeds).
# Targets found by the fuzzer are written to the package's testdata/fuzz.
FUZZTIME ?= 60s
FUZZ_TARGETS := \
	./plugin/signpost:FuzzParseName ./plugin/signpost:FuzzServeDNS ./plugin/signpost:FuzzPathsAgree \
	./plugin/signpost:FuzzParseCorefile ./api:FuzzRegistration ./api:FuzzCheck ./api:FuzzDecodeBody \
	./registry:FuzzDecodeRecord ./registry:FuzzRestoreBackup
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

clean:
	rm -rf $(BIN)
