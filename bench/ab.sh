#!/usr/bin/env bash
# A/B comparison of esptun builds on the data path: each build in turn runs
# both ends of an IKE-keyed tunnel (PSK, AES-128-GCM unless ESP is set, ESP
# in UDP) between two network namespaces joined by a veth, and iperf3 sends
# through it; rounds interleave the builds. Prints, per run, the received
# rate, the CPU time both daemons spent per GB (user and system), which
# on a shared machine is steadier than the rate, and their thread switches
# per GB. See docs/performance.md.
#
#   sudo bash bench/ab.sh [-r ROUNDS] [-t SECONDS] [-P STREAMS] LABEL=ESPTUN_BINARY ...
#
# Example, the previous commit against the working tree:
#   git worktree add /tmp/esptun-old HEAD~1
#   (cd /tmp/esptun-old && go build -o /tmp/old ./cmd/esptun)
#   go build -o /tmp/new ./cmd/esptun
#   sudo bash bench/ab.sh -r 4 old=/tmp/old new=/tmp/new
#
# Environment: ESP (ESP proposal, default aes128gcm16), WORKERS ([daemon]
# workers), SCHED ([daemon] scheduling: batch or normal). Namespaces are
# named esptunab-PID-a/b and removed on exit.
set -euo pipefail

rounds=3 secs=5 streams=1
while getopts r:t:P: o; do
	case $o in
	r) rounds=$OPTARG ;;
	t) secs=$OPTARG ;;
	P) streams=$OPTARG ;;
	*) exit 1 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-r N] [-t S] [-P N] LABEL=BINARY ..." >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "ab: needs root" >&2; exit 1; }

work=$(mktemp -d /tmp/esptunab.XXXXXX)
nsa=esptunab-$$-a nsb=esptunab-$$-b
pids=()
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	ip netns delete "$nsa" 2>/dev/null || true
	ip netns delete "$nsb" 2>/dev/null || true
}
trap 'stop; rm -rf "$work"' EXIT

conf() { # local remote inner localNet remoteNet start_action lid rid sock
	cat <<EOF
[daemon]
control_socket = "$9"
log_level = "warn"
${WORKERS:+workers = $WORKERS}
${SCHED:+scheduling = \"$SCHED\"}

[tun]
name = "esptun0"
mtu = 1400
addresses = ["$3/32"]

[ike]
listen = ["$1"]

[connections.ab]
remote_addrs = ["$2"]
local_addrs = ["$1"]
proposals = ["aes128gcm16-prfsha256-x25519"]
encap = true

[connections.ab.local]
auth = "psk"
id = "$7"

[connections.ab.remote]
auth = "psk"
id = "$8"

[connections.ab.children.net]
local_ts = ["$4"]
remote_ts = ["$5"]
esp_proposals = ["${ESP:-aes128gcm16}"]
start_action = "$6"

[secrets.ike-ab]
id = ["a.ab", "b.ab"]
secret = "esptun-ab-psk-0123456789abcdef0123"
EOF
}

start() { # binary
	ip netns add "$nsa"
	ip netns add "$nsb"
	ip -n "$nsa" link add eab0 type veth peer name eab1 netns "$nsb"
	ip -n "$nsa" addr add 10.77.0.1/24 dev eab0
	ip -n "$nsb" addr add 10.77.0.2/24 dev eab1
	for n in "$nsa" "$nsb"; do ip -n "$n" link set lo up; done
	ip -n "$nsa" link set eab0 up
	ip -n "$nsb" link set eab1 up
	conf 10.77.0.1 10.77.0.2 10.78.1.1 10.78.1.0/24 10.78.2.0/24 start a.ab b.ab "$work/a.sock" >"$work/a.toml"
	conf 10.77.0.2 10.77.0.1 10.78.2.1 10.78.2.0/24 10.78.1.0/24 none b.ab a.ab "$work/b.sock" >"$work/b.toml"
	chmod 600 "$work"/*.toml
	ip netns exec "$nsb" "$1" up -c "$work/b.toml" >"$work/b.log" 2>&1 &
	pids+=($!)
	daemons=($!)
	sleep 0.3
	ip netns exec "$nsa" "$1" up -c "$work/a.toml" >"$work/a.log" 2>&1 &
	pids+=($!)
	daemons+=($!)
	ip netns exec "$nsb" iperf3 -s >/dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		ip netns exec "$nsa" ping -c 1 -W 1 10.78.2.1 >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "ab: tunnel did not come up" >&2
	tail "$work"/a.log "$work"/b.log >&2
	return 1
}

cpu() { # utime and stime ticks, and context switches, of both daemons
	local u=0 s=0 c=0 f k v
	for p in "${daemons[@]}"; do
		read -r -a f <"/proc/$p/stat"
		u=$((u + f[13])) s=$((s + f[14]))
		# Switches are counted per thread (a thread that exits in
		# between takes its count with it; Go's threads rarely do).
		while read -r k v; do
			case $k in voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) c=$((c + v)) ;; esac
		done < <(cat /proc/"$p"/task/*/status 2>/dev/null)
	done
	echo "$u $s $c"
}

for r in $(seq "$rounds"); do
	for spec in "$@"; do
		label=${spec%%=*} bin=${spec#*=}
		start "$bin"
		sleep 0.5
		read -r u0 s0 c0 < <(cpu)
		ok=0
		for _ in 1 2 3; do
			ip netns exec "$nsa" iperf3 -c 10.78.2.1 -t "$secs" -P "$streams" -J >"$work/run.json" && { ok=1; break; }
			sleep 1
		done
		read -r u1 s1 c1 < <(cpu)
		[ "$ok" = 1 ] || { echo "ab: iperf3 failed" >&2; exit 1; }
		tck=$(getconf CLK_TCK)
		python3 - "$label" "$r" "$u0" "$s0" "$u1" "$s1" "$tck" "$work/run.json" "$c0" "$c1" <<'PY'
import json, sys
label, r, u0, s0, u1, s1, tck, path, c0, c1 = sys.argv[1:]
e = json.load(open(path))['end']['sum_received']
gb = e['bytes'] / 1e9
u = (int(u1) - int(u0)) / int(tck)
s = (int(s1) - int(s0)) / int(tck)
cs = (int(c1) - int(c0)) / gb
print(f"{label:12s} round {r}  {e['bits_per_second']/1e9:5.2f} Gbit/s  {(u+s)/gb:5.2f} CPU s/GB (user {u/gb:.2f}, system {s/gb:.2f})  {cs/1000:5.1f}k switches/GB")
PY
		stop
	done
done
