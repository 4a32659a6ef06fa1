// Command benchrun is esptun's benchmark harness, run by bench/run.sh (make
// bench). It measures esptun side by side with wireguard-go and strongSwan's
// charon with kernel-libipsec, all of them in userspace over TUN devices, in
// network namespaces joined by a veth:
//
//   - throughput: iperf3 TCP with 1 and 4 streams, and the highest UDP rate
//     without loss;
//   - latency: ping round-trip times, idle and during a bulk transfer;
//   - cost: CPU seconds of the tunnel daemons per GB carried;
//   - IKE SAs set up per second and responder CPU per IKE SA, driven by
//     strongSwan's load-tester plugin;
//   - scale: memory per installed Child SA and SPD/SAD lookup times with
//     10, 1 000 and 100 000 of them, and memory per IKE+Child SA pair with
//     thousands of tunnels between two esptun daemons;
//   - microbenchmarks: ESP seal/open against the raw AEAD, allocations.
//
// Systems are interleaved round by round and every figure is the median of
// the rounds, so that ratios compare runs made under the same load.
//
// Linux only (network namespaces, /proc), run as root; the namespaces it
// makes are named esptunbench-RUNID-*, and it removes them, and stops every
// process it started, on the way out.
//
// Subcommands (the first argument):
//
//	all       everything above; writes the table to stdout and -out as JSON
//	dbscale   the SPD/SAD scale measurement in a fresh process (one size)
package main
