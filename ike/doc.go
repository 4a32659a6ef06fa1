// Package ike is esptun's IKEv2 (RFC 7296) keying daemon: the exchanges
// IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL in both roles,
// the per-IKE-SA state machine with message IDs, retransmission and the
// response cache, NAT traversal (RFC 7296 2.23, RFC 3948), cookies (2.6),
// rekeying with collision handling (2.8), dead peer detection and the
// lifecycle of connections (start, trap, none).
//
// The package does no packet I/O of its own: datagrams come in through
// Manager.HandleDatagram and go out through a Transport. What it negotiates
// it installs into the SPD and SAD that the data path reads.
//
// Concurrency: every IKE SA has its own mutex; the Manager's tables have
// another. Timers are time.AfterFunc callbacks, so an idle IKE SA costs no
// goroutine.
package ike
