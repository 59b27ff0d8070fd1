# Signpost: build, run and test.

GO        ?= go
BIN       := bin
SIGNPOST  := $(BIN)/signpost
CTL       := $(BIN)/signpostctl
COREFILE  ?= Corefile.example

.PHONY: all build run test vet clean bench fuzz etcd prometheus install uninstall

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
test: vet etcd prometheus
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

# Prometheus with Consul service discovery, which the tests of the
# Consul-compatible API run against (Debian's prometheus package is built
# without it). Built once per version from the module proxy in a throwaway
# module, as etcd is, with Consul as its only service discovery: Prometheus
# offers build tags for that, and the other discoveries would triple the
# build.
PROMETHEUS_VERSION := v0.316.0
PROMETHEUS_STAMP   := $(BIN)/.prometheus-$(PROMETHEUS_VERSION)

prometheus: $(PROMETHEUS_STAMP)

$(PROMETHEUS_STAMP):
	@mkdir -p $(BIN)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export GOWORK=off; cd "$$tmp"; $(GO) mod init signpost-prometheus 2>/dev/null; \
	echo "building prometheus $(PROMETHEUS_VERSION) with Consul discovery into $(BIN)/"; \
	$(GO) get github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION) \
		2>"$$tmp/get.log" || { cat "$$tmp/get.log"; exit 1; }; \
	$(GO) build -trimpath -tags remove_all_sd,enable_consul_sd -o "$(CURDIR)/$(BIN)/prometheus" \
		github.com/prometheus/prometheus/cmd/prometheus
	rm -f $(BIN)/.prometheus-*
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

# Install what `make build` built, the systemd units and the example
# configuration, as autotools would: DESTDIR for packaging, PREFIX (default
# /usr/local). Build first as yourself (`make build && sudo make install`):
# install compiles nothing, so root needs no Go toolchain. Nothing in /etc
# is written: /etc/signpost is the administrator's (see README.md,
# "Installation"); the examples land in $(DATADIR) to copy from. The units
# go where systemd looks for units of a local prefix, their ExecStart
# pointing at $(BINDIR); run `systemctl daemon-reload` after.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share/signpost
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALL     ?= install
UNITS       := signpost.service signpost-sidecar@.service
EXAMPLES    := Corefile.example contrib/Corefile.port53 contrib/systemd/sidecar-web.env.example

install:
	@test -x $(SIGNPOST) && test -x $(CTL) || { echo "make install: no $(SIGNPOST) or $(CTL): run make build first" >&2; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	$(INSTALL) -m 0755 $(SIGNPOST) $(CTL) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(EXAMPLES) $(DESTDIR)$(DATADIR)/
	for u in $(UNITS); do \
		sed 's|/usr/local/bin/|$(BINDIR)/|g' contrib/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(INSTALL) -m 0644 contrib/systemd/signpost.sysusers $(DESTDIR)$(SYSUSERSDIR)/signpost.conf

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/signpost $(DESTDIR)$(BINDIR)/signpostctl
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) $(DESTDIR)$(SYSUSERSDIR)/signpost.conf
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/,$(notdir $(EXAMPLES)))
	rmdir $(DESTDIR)$(DATADIR) 2>/dev/null || true

clean:
	rm -rf $(BIN)
