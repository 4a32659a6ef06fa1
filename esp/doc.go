// Package esp is the RFC 4303 codec for tunnel mode: it frames, pads, seals
// and opens ESP packets in place on buffers that the caller owns, infers
// extended sequence numbers and keeps the anti-replay window. It starts no
// goroutines and allocates nothing per packet.
package esp
