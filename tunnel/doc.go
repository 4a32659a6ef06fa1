// Package tunnel runs esptun's data path: it reads packets from the TUN
// device in batches, matches them against the SPD, seals them with their
// outbound SA on a pool of crypto workers and sends them as ESP-in-UDP (RFC
// 3948) or raw ESP; in the other direction it reads datagrams in batches,
// demultiplexes NAT keepalives, IKE (non-ESP marker) and ESP, opens ESP on the
// same workers and writes the inner packets to the TUN device in the order
// they arrived.
//
// Batches, not packets, travel through channels; every buffer comes from a
// fixed pool; the steady state allocates nothing per packet and takes no lock
// that the data path contends on.
package tunnel
