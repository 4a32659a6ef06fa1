# esptun build, test, demo and benchmark entry points.
#
#   make build   bin/esptun
#   make test    go vet, all tests (the end-to-end ones need root and
#                /dev/net/tun, and skip with a message otherwise), then a
#                short run of every fuzz target (FUZZ_PKGS)
#   make interop esptun against strongSwan (charon with kernel-libipsec) in
#                network namespaces, both roles, the whole proposal/auth
#                matrix (root; installs Debian's strongSwan packages)
#   make soak    the hostile-conditions suite, full variants (root); the
#                short variants run in make test
#   make demo    two gateways in network namespaces (root)
#   make bench   esptun side by side with wireguard-go and strongSwan's
#                libipsec: throughput, latency, CPU per GB, IKE setups, scale
#                and microbenchmarks (root); writes bench/results.json
#   make clean

SHELL     := bash
GO        ?= go
BIN       := bin/esptun
TIMEOUT   ?= 20m
FUZZTIME  ?= 10s
FUZZ_PKGS ?= ./esp ./config ./ike/wire ./ike ./ike/auth ./ike/eap ./spd ./crypto ./tunnel ./netcfg ./internal/sysnet

.PHONY: all build test vet unit fuzz interop demo bench clean soak

all: build

build:
	$(GO) build -o $(BIN) ./cmd/esptun

test: vet unit fuzz

vet:
	$(GO) vet ./...

# The whole -v log goes to bin/test.log; the console gets go test's summary
# lines, every skip and failure with its reason, and the whole log on failure.
unit:
	@mkdir -p bin
	@set -o pipefail; rc=0; \
	$(GO) test -count=1 -timeout $(TIMEOUT) -v ./... >bin/test.log 2>&1 || rc=$$?; \
	grep -E '^(ok|FAIL|PASS|panic:|\?)|^ *--- (FAIL|SKIP)|^ +[A-Za-z0-9_]+\.go:[0-9]+: ' bin/test.log || true; \
	if [ $$rc -ne 0 ]; then echo "--- go test failed (exit $$rc); whole log:"; cat bin/test.log; fi; \
	exit $$rc

# go test -fuzz takes one package and one target at a time, so loop over the
# targets each package has. Go 1.26's fuzz coordinator can fail a run with a
# bare "context deadline exceeded" as -fuzztime ends on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27). Such a failure counts only if the
# target then fails when run over its corpus, which holds any new crasher.
fuzz:
	@mkdir -p bin
	@set -e; failed=0; for pkg in $(FUZZ_PKGS); do \
		[ -d "$$pkg" ] || continue; \
		targets=$$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz' || true); \
		if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets in $$pkg"; continue; fi; \
		for t in $$targets; do \
			echo "fuzz: $$pkg $$t for $(FUZZTIME)"; \
			rc=0; $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) "$$pkg" >bin/fuzz.log 2>&1 || rc=$$?; \
			cat bin/fuzz.log; \
			[ $$rc -eq 0 ] && continue; \
			if grep -q 'context deadline exceeded' bin/fuzz.log && \
				$(GO) test -count=1 -run "^$$t\$$" "$$pkg" >/dev/null 2>&1; then \
				echo "fuzz: $$pkg $$t: deadline race at the end of -fuzztime, and the corpus passes: not a failure"; \
			else \
				echo "fuzz: $$pkg $$t FAILED"; failed=1; \
			fi; \
		done; \
	done; exit $$failed

# The suite installs its own strongSwan (interop/install.sh) and prints a
# matrix summary at the end.
interop:
	@mkdir -p bin
	bash interop/install.sh
	@set -o pipefail; rc=0; \
	$(GO) test -tags interop -count=1 -v -timeout 30m ./interop/ >bin/interop.log 2>&1 || rc=$$?; \
	grep -E '^(ok|FAIL|PASS|panic:)|^ *--- (FAIL|SKIP)' bin/interop.log || true; \
	sed -n '/^=== interop matrix ===/,$$p' bin/interop.log; \
	if [ $$rc -ne 0 ]; then echo "--- interop failed (exit $$rc); whole log:"; cat bin/interop.log; fi; \
	exit $$rc

# The hostile-conditions suite (soak/, docs/robustness.md) in its full
# variants: IKE loss and jitter, ESP reordering, rekeys under a 20 000/s
# stream, a killed peer, sequence exhaustion, an ESP flood, NAT rebinding.
# Root, /dev/net/tun, iproute2 and nft; make test runs the short variants.
# The whole log goes to bin/soak.log; the console gets the results table.
soak:
	@mkdir -p bin
	@set -o pipefail; rc=0; \
	ESPTUN_SOAK=full $(GO) test -count=1 -v -timeout 60m ./soak/ >bin/soak.log 2>&1 || rc=$$?; \
	grep -E '^(ok|FAIL|PASS|panic:)|^ *--- (FAIL|SKIP)' bin/soak.log || true; \
	sed -n '/^=== soak results/,/^[^|]/p' bin/soak.log; \
	if [ $$rc -ne 0 ]; then echo "--- soak failed (exit $$rc); whole log:"; cat bin/soak.log; fi; \
	exit $$rc

demo: build
	@if [ "$$(id -u)" -eq 0 ]; then ESPTUN=$(CURDIR)/$(BIN) bash examples/demo.sh; \
	else sudo ESPTUN=$(CURDIR)/$(BIN) bash examples/demo.sh; fi

bench:
	@if [ "$$(id -u)" -eq 0 ]; then bash bench/run.sh; else sudo bash bench/run.sh; fi

clean:
	rm -rf bin bench/results.json
	$(GO) clean -testcache
