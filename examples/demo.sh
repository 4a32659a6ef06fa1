#!/usr/bin/env bash
# esptun demo: two sites, each behind its own esptun gateway, in two network
# namespaces joined by a veth pair. Runs the example configs gw-a.toml and
# gw-b.toml, pings across the tunnel over IPv4 and IPv6, runs a short TCP
# transfer with iperf3, prints both gateways' status and removes everything
# it made, also when a step fails.
#
#   sudo examples/demo.sh            (or: make demo)
#
# Needs root, /dev/net/tun, iproute2, ping and iperf3. ESPTUN overrides the
# binary (default: bin/esptun, built by make build).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ESPTUN=${ESPTUN:-$here/../bin/esptun}
NS_A=esptun-demo-a
NS_B=esptun-demo-b

say() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, TUN devices)"
[ -c /dev/net/tun ] || die "no /dev/net/tun"
[ -x "$ESPTUN" ] || die "no esptun binary at $ESPTUN (run make build)"
for tool in ip ping iperf3; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
for ns in "$NS_A" "$NS_B"; do
	if ip netns list | grep -qw "^$ns"; then
		die "namespace $ns exists already (left by an earlier run?): ip netns delete $ns"
	fi
done

work=$(mktemp -d /tmp/esptun-demo.XXXXXX)
made_ns=()
pids=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for ns in "${made_ns[@]}"; do
		ip netns delete "$ns" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/*.log; do
			[ -s "$f" ] && { printf '\n-- %s\n' "$(basename "$f")"; tail -n 30 "$f"; }
		done
		printf '\ndemo: FAILED (exit %d)\n' "$rc" >&2
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "namespaces $NS_A and $NS_B, veth 10.77.0.1 <-> 10.77.0.2"
ip netns add "$NS_A"; made_ns+=("$NS_A")
ip netns add "$NS_B"; made_ns+=("$NS_B")
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" link add veth-a type veth peer name veth-b netns "$NS_B"
ip -n "$NS_A" addr add 10.77.0.1/24 dev veth-a
ip -n "$NS_B" addr add 10.77.0.2/24 dev veth-b
ip -n "$NS_A" link set veth-a up
ip -n "$NS_B" link set veth-b up

# The example configs put their control sockets under /run/esptun; the demo
# keeps its own in a scratch directory so that it never meets a real one.
sed "s#/run/esptun/#$work/#" "$here/gw-a.toml" >"$work/gw-a.toml"
sed "s#/run/esptun/#$work/#" "$here/gw-b.toml" >"$work/gw-b.toml"
"$ESPTUN" check -c "$work/gw-a.toml"
"$ESPTUN" check -c "$work/gw-b.toml"

say "starting esptun in both namespaces"
ip netns exec "$NS_A" "$ESPTUN" up -c "$work/gw-a.toml" >"$work/gw-a.log" 2>&1 &
pids+=($!)
ip netns exec "$NS_B" "$ESPTUN" up -c "$work/gw-b.toml" >"$work/gw-b.log" 2>&1 &
pids+=($!)
for side in a b; do
	for i in $(seq 100); do
		[ -S "$work/gw-$side.sock" ] && "$ESPTUN" status -s "$work/gw-$side.sock" >/dev/null 2>&1 && break
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "esptun exited early"; done
		[ "$i" -eq 100 ] && die "gw-$side's control socket did not come up"
		sleep 0.1
	done
done
echo "both gateways are up"

# IPv6 addresses on a fresh TUN may be tentative for a moment.
for i in $(seq 50); do
	ip netns exec "$NS_A" ping -6 -c 1 -W 1 -I fd78:1::1 fd78:2::1 >/dev/null 2>&1 && break
	[ "$i" -eq 50 ] && break
	sleep 0.2
done

say "ping 10.78.1.1 -> 10.78.2.1 through the tunnel"
ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 -I 10.78.1.1 10.78.2.1
say "ping fd78:1::1 -> fd78:2::1 through the tunnel"
ip netns exec "$NS_A" ping -6 -c 3 -i 0.2 -W 2 -I fd78:1::1 fd78:2::1

say "TCP through the tunnel: iperf3 for 3 seconds"
ip netns exec "$NS_B" iperf3 -s -1 -B 10.78.2.1 >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	ip netns exec "$NS_B" ss -ltn 2>/dev/null | grep -q '10.78.2.1:5201' && break
	sleep 0.1
done
ip netns exec "$NS_A" iperf3 -c 10.78.2.1 -B 10.78.1.1 -t 3

say "esptun status on gateway A"
"$ESPTUN" status -s "$work/gw-a.sock"
say "esptun status on gateway B"
"$ESPTUN" status -s "$work/gw-b.sock"

say "demo passed; cleaning up"
