// Package soak is esptun's hostile-conditions suite: two esptun daemons in
// network namespaces, keyed by IKEv2, under IKE loss and jitter, ESP
// reordering, rekeying under load (with simultaneous rekeys from both
// ends), a killed peer, sequence number exhaustion, an ESP flood, an
// IKE_SA_INIT flood from spoofed addresses, and NAT rebinding. Loss, delay and reordering come from internal/relay, a
// userspace UDP relay in a middle namespace, since the test machines'
// kernels have no netem.
//
// `go test ./soak/` runs short variants of every scenario (about a minute
// and a half); with ESPTUN_SOAK=full in the environment (`make soak`) the
// full ones run. Each scenario logs its pass criterion and its measured
// figure as a line starting with "soak result:", and the suite prints a
// table of them at the end; docs/robustness.md keeps the figures of a full
// run.
//
// Everything needs Linux, root, /dev/net/tun and iproute2, and skips with
// the reason otherwise; the NAT scenario also needs nft(8).
package soak
