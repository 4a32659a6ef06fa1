package tunnel

import "net/netip"

// batchConn is a datagram socket read and written in batches. ESP-in-UDP
// (RFC 3948) and raw ESP (IP protocol 50) both sit behind it.
//
// ReadBatch is called by one goroutine at a time; WriteBatch by one goroutine
// at a time; the two may run concurrently.
type batchConn interface {
	// ReadBatch receives up to len(bufs) datagrams. Datagram i is at
	// bufs[i][off:off+sizes[i]] and came from srcs[i]. Every bufs[i] must
	// have capacity bufSize. ReadBatch may exchange the slices in bufs for
	// buffers of its own of the same capacity (so nothing is copied); the
	// caller owns whatever bufs holds on return. It blocks until at least one
	// datagram arrived or the conn is closed.
	ReadBatch(bufs [][]byte, off int, sizes []int, srcs []netip.AddrPort) (int, error)
	// WriteBatch sends every datagram in bufs to dst, from src as WriteOne
	// does. Datagrams that cannot be sent are counted by the caller from
	// the returned error; WriteBatch never retains bufs.
	WriteBatch(bufs [][]byte, src netip.Addr, dst netip.AddrPort) error
	// WriteOne sends one datagram. Unlike WriteBatch it may be called from
	// any goroutine, concurrently with everything else; it is for control
	// traffic (IKE, NAT keepalives), not for the data path. On Linux a
	// socket bound to an unspecified address sends it from src when src is
	// a specific address (IP_PKTINFO, IPV6_PKTINFO); elsewhere, and with
	// src invalid or unspecified, the kernel picks the source.
	WriteOne(b []byte, src netip.Addr, dst netip.AddrPort) error
	// LocalAddr is the address the socket is bound to.
	LocalAddr() netip.AddrPort
	// Raw reports whether this is a raw ESP socket rather than ESP-in-UDP.
	Raw() bool
	// Offload reports whether UDP GSO (send) and GRO (receive) are in use.
	Offload() (gso, gro bool)
	Close() error
}

// maxSegments is the kernel's limit on datagrams in one UDP GSO send
// (UDP_MAX_SEGMENTS).
const maxSegments = 64

// bufSize is the capacity of every packet buffer: the largest datagram or
// GSO/GRO super-packet plus headroom.
const bufSize = 65536 + 128
