#!/usr/bin/env bash
# esptun benchmark, side by side with wireguard-go and strongSwan's charon
# with kernel-libipsec (all three userspace ESP/WireGuard over TUN devices):
# throughput, latency, CPU per GB, IKE handshakes per second, memory per
# tunnel, SPD/SAD scale and ESP microbenchmarks. See docs/performance.md.
#
#   sudo bash bench/run.sh          (or: make bench)
#
# Knobs (environment): RUNS=3 rounds (medians), DURATION=10 seconds per TCP
# run, TUNNELS=1000,10000 esptun-to-esptun tunnel counts (10000 takes about two minutes here), SKIP=section,...
# (paths, profile, handshake, tunnels, dbscale, micro).
#
# Needs root, /dev/net/tun, Go; installs Debian's strongSwan (through
# interop/install.sh), wireguard-tools and iperf3, and builds charon with the
# load-tester plugin from Debian's source package into bench/cache/ once
# (bench/loadtester.sh). Network namespaces are named esptunbench-PID-*;
# everything the run makes is removed on the way out, failed or not.
# Writes the table to stdout and everything to bench/results.json.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
TUNNELS=${TUNNELS:-1000,10000}
SKIP=${SKIP:-}
RESULTS=$here/results.json

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TUN devices, apt-get)"
[ -c /dev/net/tun ] || die "no /dev/net/tun"
command -v go >/dev/null || die "go is not installed"

echo "== packages"
bash "$root/interop/install.sh"
need=()
command -v wg >/dev/null || need+=(wireguard-tools)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v perf >/dev/null || need+=(linux-perf)
if [ "${#need[@]}" -gt 0 ]; then
	echo "bench: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wireguard-tools iperf3
fi
for tool in ip iperf3 ping wg swanctl; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# Namespaces of an earlier run that was killed outright (its PID is gone).
for ns in $(ip netns list | awk '{ print $1 }' | grep '^esptunbench-' || true); do
	pid=${ns#esptunbench-}
	pid=${pid%%-*}
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "bench: removing $ns, left by run $pid"
		ip netns delete "$ns" 2>/dev/null || true
	fi
done

work=$(mktemp -d /tmp/esptunbench.XXXXXX)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# benchrun removes what it made; this is for when it could not.
	if [ -n "${bench_pid:-}" ] && kill -0 "$bench_pid" 2>/dev/null; then
		kill -TERM "$bench_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$bench_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$bench_pid" 2>/dev/null || true
	fi
	for ns in $(ip netns list | awk '{ print $1 }' | grep "^esptunbench-$$-" || true); do
		ip netns delete "$ns" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/*.log; do
			[ -s "$f" ] && { printf '\n-- %s\n' "$(basename "$f")"; tail -n 20 "$f"; }
		done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== building esptun, wireguard-go and the harness"
(cd "$root" && go build -o "$work/esptun" ./cmd/esptun)
(cd "$root" && go build -o "$work/benchrun" ./bench/cmd/benchrun)
# wireguard-go is the module golang.zx2c4.com/wireguard that esptun already
# depends on (go.mod/go.sum), built at that very version.
if ! (cd "$root" && go build -o "$work/wireguard-go" golang.zx2c4.com/wireguard) 2>"$work/wg-build.err"; then
	dir=$(cd "$root" && go list -m -f '{{.Dir}}' golang.zx2c4.com/wireguard)
	(cd "$dir" && GOFLAGS=-mod=mod go build -o "$work/wireguard-go" .) ||
		{ cat "$work/wg-build.err" >&2; die "cannot build wireguard-go"; }
fi
wgver=$(cd "$root" && go list -m -f '{{.Version}}' golang.zx2c4.com/wireguard)

echo "== strongSwan load-tester (cached under bench/cache/)"
lt_charon=
lt_why=
if prefix=$(bash "$here/loadtester.sh" 2>"$work/loadtester.err"); then
	lt_charon=$prefix/libexec/ipsec/charon
	echo "load-tester charon: $lt_charon"
else
	lt_why=$(grep -E '^(loadtester|E):' "$work/loadtester.err" | tail -n 3 | tr '\n' ' ')
	echo "bench: blocked: no load-tester: $lt_why" >&2
fi

echo "== measuring (RUNS=$RUNS DURATION=$DURATION TUNNELS=$TUNNELS${SKIP:+ SKIP=$SKIP})"
echo "   wireguard-go $wgver, strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon), $(iperf3 --version | head -n 1)"
"$work/benchrun" all -runid "$$" -root "$root" -work "$work" -esptun "$work/esptun" \
	-wireguard-go "$work/wireguard-go" -lt-charon "$lt_charon" -lt-why "$lt_why" \
	-runs "$RUNS" -t "$DURATION" -tunnels "$TUNNELS" -skip "$SKIP" -out "$RESULTS" &
bench_pid=$!
rc=0
wait "$bench_pid" || rc=$?
bench_pid=
echo "results in $RESULTS"
exit "$rc"
