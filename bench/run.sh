#!/usr/bin/env bash
# esptun benchmark: single-stream TCP throughput through the tunnel against
# the bare veth it runs over, and the cost of ESP seal/open against the raw
# AEAD, per packet at 1400 bytes.
#
#   sudo bench/run.sh          (or: make bench)
#
# Two network namespaces joined by veth, the example gateways of examples/
# (AES-128-GCM, ESP in UDP) on top; iperf3 -t $DURATION, $RUNS runs each,
# median reported. Writes bench/results.json. Needs root, /dev/net/tun,
# iproute2, iperf3 and Go.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
NS_A=esptun-bench-a
NS_B=esptun-bench-b
RESULTS=$here/results.json

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TUN devices)"
[ -c /dev/net/tun ] || die "no /dev/net/tun"
for tool in ip iperf3 go awk; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
for ns in "$NS_A" "$NS_B"; do
	if ip netns list | grep -qw "^$ns"; then
		die "namespace $ns exists already (left by an earlier run?): ip netns delete $ns"
	fi
done

work=$(mktemp -d /tmp/esptun-bench.XXXXXX)
made_ns=()
pids=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for ns in "${made_ns[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
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

echo "== building esptun"
(cd "$root" && go build -o "$work/esptun" ./cmd/esptun)
ESPTUN=$work/esptun

echo "== namespaces $NS_A and $NS_B"
ip netns add "$NS_A"; made_ns+=("$NS_A")
ip netns add "$NS_B"; made_ns+=("$NS_B")
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" link add veth-a type veth peer name veth-b netns "$NS_B"
ip -n "$NS_A" addr add 10.77.0.1/24 dev veth-a
ip -n "$NS_B" addr add 10.77.0.2/24 dev veth-b
ip -n "$NS_A" link set veth-a up
ip -n "$NS_B" link set veth-b up

# iperf3 server in B on every address, one run at a time.
ip netns exec "$NS_B" iperf3 -s >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
sleep 0.5

# measure SRC DST: one iperf3 run, prints Gbit/s at the receiver.
measure() {
	ip netns exec "$NS_A" iperf3 -f g -t "$DURATION" -B "$1" -c "$2" >"$work/iperf3-client.log" 2>&1 ||
		{ cat "$work/iperf3-client.log" >&2; die "iperf3 $1 -> $2 failed"; }
	awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Gbits/sec") print $(i-1) }' "$work/iperf3-client.log" | tail -n 1
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }

series() {
	local label=$1 src=$2 dst=$3 runs=() r
	for i in $(seq "$RUNS"); do
		r=$(measure "$src" "$dst")
		[ -n "$r" ] || die "no result from iperf3 $src -> $dst"
		printf '   %s run %d: %s Gbit/s\n' "$label" "$i" "$r" >&2
		runs+=("$r")
	done
	median "${runs[@]}"
}

echo "== TCP over the bare veth (iperf3 -t $DURATION, $RUNS runs)"
veth_runs=$(series veth 10.77.0.1 10.77.0.2)

echo "== TCP through esptun, AES-128-GCM in UDP (iperf3 -t $DURATION, $RUNS runs)"
sed "s#/run/esptun/#$work/#" "$root/examples/gw-a.toml" | sed 's/^log_level = .*/log_level = "warn"/' >"$work/gw-a.toml"
sed "s#/run/esptun/#$work/#" "$root/examples/gw-b.toml" | sed 's/^log_level = .*/log_level = "warn"/' >"$work/gw-b.toml"
ip netns exec "$NS_A" "$ESPTUN" up -c "$work/gw-a.toml" >"$work/gw-a.log" 2>&1 &
pids+=($!)
ip netns exec "$NS_B" "$ESPTUN" up -c "$work/gw-b.toml" >"$work/gw-b.log" 2>&1 &
pids+=($!)
for side in a b; do
	for i in $(seq 100); do
		"$ESPTUN" status -s "$work/gw-$side.sock" >/dev/null 2>&1 && break
		[ "$i" -eq 100 ] && die "gw-$side did not come up"
		sleep 0.1
	done
done
tunnel_runs=$(series tunnel 10.78.1.1 10.78.2.1)

ratio=$(awk -v t="$tunnel_runs" -v v="$veth_runs" 'BEGIN { printf "%.3f", (v > 0) ? t / v : 0 }')

echo "== ESP seal/open against the raw AEAD (go test -bench ./esp/)"
(cd "$root" && go test -run '^$' -bench 'Seal|Open|RawAEAD' -benchmem ./esp/) | tee "$work/esp-bench.txt"

# Benchmark lines look like
#   BenchmarkSeal/aes128gcm16/1400-2               ...   812 ns/op   1724 MB/s   0 B/op   0 allocs/op
#   BenchmarkRawAEAD/aes128gcm16/1400/seal-2       ...   700 ns/op   ...
# Key them by kind (Seal, Open, RawAEAD seal and open) and suite, keep the
# 1400-byte ones, and compare ESP with the bare AEAD call it wraps.
espjson=$(awk '
	/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name)
		if (name !~ /\/(size=)?1400(\/|$)/) next
		kind = name; sub(/^Benchmark/, "", kind); sub(/\/.*/, "", kind)
		rest = name; sub(/^[^\/]*\//, "", rest)
		if (kind == "RawAEAD") {
			if (rest ~ /\/seal$/) kind = "RawSeal"; else if (rest ~ /\/open$/) kind = "RawOpen"; else kind = "RawSeal"
			sub(/\/(seal|open)$/, "", rest)
		}
		sub(/\/(size=)?1400$/, "", rest)
		for (i = 2; i < NF; i++) if ($(i+1) == "ns/op") ns[kind, rest] = $i
		suites[rest] = 1
	}
	function num(v) { return v == "" ? "null" : v }
	function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "null" }
	function cell(v) { return (v == "" || v == "null") ? "-" : v }
	END {
		printf "\n%-18s %10s %10s %9s %10s %10s %9s\n", "ns/op @1400B", "ESP seal", "raw seal", "ratio", "ESP open", "raw open", "ratio" > "/dev/stderr"
		sep = ""
		for (s in suites) {
			seal = ns["Seal", s]; rseal = ns["RawSeal", s]; open = ns["Open", s]; ropen = ns["RawOpen", s]
			printf "%-18s %10s %10s %9s %10s %10s %9s\n", s, cell(seal), cell(rseal), cell(ratio(seal, rseal)), cell(open), cell(ropen), cell(ratio(open, ropen)) > "/dev/stderr"
			printf "%s{\"suite\":\"%s\",\"seal_ns\":%s,\"raw_seal_ns\":%s,\"seal_over_raw\":%s,\"open_ns\":%s,\"raw_open_ns\":%s,\"open_over_raw\":%s}", \
				sep, s, num(seal), num(rseal), ratio(seal, rseal), num(open), num(ropen), ratio(open, ropen)
			sep = ","
		}
	}' "$work/esp-bench.txt")

echo
echo "== single-stream TCP, median of $RUNS x ${DURATION}s"
printf '%-34s %10s\n' "path" "Gbit/s"
printf '%-34s %10s\n' "bare veth" "$veth_runs"
printf '%-34s %10s\n' "esptun (aes128gcm16, ESP in UDP)" "$tunnel_runs"
printf '%-34s %10s\n' "ratio tunnel/veth" "$ratio"

cat >"$RESULTS" <<JSON
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "cpus": $(nproc),
  "iperf3": {"runs": $RUNS, "seconds": $DURATION,
    "veth_gbps": $veth_runs, "tunnel_gbps": $tunnel_runs, "tunnel_over_veth": $ratio},
  "esp_1400": [${espjson}]
}
JSON
echo "results in $RESULTS"
