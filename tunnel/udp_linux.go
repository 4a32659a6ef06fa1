//go:build linux

package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of recvmmsg(2)/sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

const (
	cmsgGSOSpace     = 24 // CMSG_SPACE(sizeof(uint16)) on 64-bit, rounded up
	cmsgGROSpace     = 24 // CMSG_SPACE(sizeof(int))
	cmsgPktinfoSpace = 40 // CMSG_SPACE(sizeof(struct in6_pktinfo)), more than in_pktinfo's
	// cmsgWriteSpace is a sent message's control space: UDP_SEGMENT,
	// then IP_PKTINFO or IPV6_PKTINFO.
	cmsgWriteSpace = cmsgGSOSpace + cmsgPktinfoSpace
)

// linuxConn is a UDP (or raw ESP) socket driven with recvmmsg/sendmmsg. All
// per-call state is preallocated so that steady-state reads and writes do not
// allocate. UDP GSO and GRO are probed at open and fail soft: a kernel or NIC
// that refuses them leaves plain batched I/O.
type linuxConn struct {
	file  *os.File
	rc    syscall.RawConn
	local netip.AddrPort
	is6   bool
	raw   bool // raw ESP socket: IPv4 reads carry the IP header

	gso atomic.Bool
	gro bool
	// pktinfo: reads carry IP_PKTINFO / IPV6_PKTINFO, the local address
	// each datagram was sent to (see listenIKE).
	pktinfo bool

	// read side, owned by the ReadBatch caller
	rmsgs   []mmsghdr
	riov    []unix.Iovec
	rnames  []unix.RawSockaddrInet6
	roob    []byte
	roobLen int      // control space per message in roob
	rbufs   [][]byte // receive buffers, swapped with the caller's
	rn      int      // messages the last recvmmsg returned
	rpend   int      // first message not yet handed to the caller
	rsegOff int      // offset into message rpend of its next GRO segment
	rerr    error
	rfn     func(fd uintptr) bool
	rcount  int

	// write side, owned by the WriteBatch caller
	wmsgs    []mmsghdr
	wiov     []unix.Iovec
	wname    unix.RawSockaddrInet6
	wnameLen uint32
	woob     []byte
	wsrc     netip.Addr             // the source wpkt[:wpktLen] sets
	wpkt     [cmsgPktinfoSpace]byte // IP_PKTINFO / IPV6_PKTINFO for wsrc
	wpktLen  int                    // 0: the kernel picks the source
	wcount   int
	wsent    int
	werr     error
	wfn      func(fd uintptr) bool
}

// listenUDP opens the ESP-in-UDP socket on addr (an unspecified address
// binds every local address of its family).
func listenUDP(addr netip.AddrPort, batch int) (batchConn, error) {
	network := "udp4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = "udp6"
	}
	uc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	f, err := uc.File() // dup; the net.UDPConn is closed below
	uc.Close()
	if err != nil {
		return nil, err
	}
	c, err := newLinuxConn(f, network == "udp6", false, batch)
	if err != nil {
		return nil, err
	}
	c.local = addr
	if sa, err := unix.Getsockname(int(f.Fd())); err == nil {
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			c.local = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
		case *unix.SockaddrInet6:
			c.local = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
		}
	}
	fd := int(f.Fd())
	// UDP GSO: the kernel accepts UDP_SEGMENT on sendmsg since 4.18. Probe
	// the socket option; a later EIO at send time (no checksum offload on
	// the route's device) also turns it off.
	if _, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT); err == nil {
		c.gso.Store(true)
	}
	// UDP GRO (5.0+): coalesced reads carry the segment size in a cmsg.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1); err == nil {
		c.gro = true
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 7<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 7<<20)
	return c, nil
}

// listenRawESP opens a raw IP socket for protocol 50 (RFC 4303 without UDP
// encapsulation). It needs CAP_NET_RAW and gets neither GSO nor GRO.
func listenRawESP(addr netip.Addr, batch int) (batchConn, error) {
	family, is6 := unix.AF_INET, false
	if addr.Is6() && !addr.Is4In6() {
		family, is6 = unix.AF_INET6, true
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ESP)
	if err != nil {
		return nil, fmt.Errorf("tunnel: raw ESP socket: %w", err)
	}
	if addr.IsValid() && !addr.IsUnspecified() {
		var sa unix.Sockaddr
		if is6 {
			sa = &unix.SockaddrInet6{Addr: addr.As16()}
		} else {
			sa = &unix.SockaddrInet4{Addr: addr.Unmap().As4()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("tunnel: bind raw ESP socket: %w", err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 7<<20)
	c, err := newLinuxConn(os.NewFile(uintptr(fd), "esp"), is6, true, batch)
	if err != nil {
		return nil, err
	}
	c.local = netip.AddrPortFrom(addr, 0)
	return c, nil
}

func newLinuxConn(f *os.File, is6, raw bool, batch int) (*linuxConn, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	c := &linuxConn{
		file:   f,
		rc:     rc,
		is6:    is6,
		raw:    raw,
		rmsgs:  make([]mmsghdr, batch),
		riov:   make([]unix.Iovec, batch),
		rnames: make([]unix.RawSockaddrInet6, batch),
		roob:   make([]byte, batch*cmsgGROSpace),
		wmsgs:  make([]mmsghdr, batch),
		wiov:   make([]unix.Iovec, batch),
		woob:   make([]byte, batch*cmsgWriteSpace),
	}
	c.roobLen = cmsgGROSpace
	for i := 0; i < batch; i++ {
		c.rbufs = append(c.rbufs, make([]byte, bufSize))
	}
	c.rfn = c.recvmmsg
	c.wfn = c.sendmmsg
	return c, nil
}

func (c *linuxConn) LocalAddr() netip.AddrPort { return c.local }
func (c *linuxConn) Offload() (gso, gro bool)  { return c.gso.Load(), c.gro }
func (c *linuxConn) Raw() bool                 { return c.raw }
func (c *linuxConn) Close() error              { return c.file.Close() }

// recvmmsg is the RawConn.Read callback; it reports false to wait for
// readiness on EAGAIN. recvmmsg and sendmmsg are raw system calls with
// MSG_DONTWAIT, which never sleep (see tunReader.readFD for why).
func (c *linuxConn) recvmmsg(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rmsgs[0])), uintptr(c.rcount), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN {
		return false
	}
	if errno == unix.EINTR {
		return false
	}
	c.rn = int(n)
	c.rerr = nil
	if errno != 0 {
		c.rerr = errno
	}
	return true
}

func (c *linuxConn) ReadBatch(bufs [][]byte, off int, sizes []int, srcs []netip.AddrPort) (int, error) {
	return c.readBatch(bufs, off, sizes, srcs, nil)
}

// ReadBatchLocal is ReadBatch that also reports in locals[i] the local
// address and port datagram i was sent to: from IP_PKTINFO or IPV6_PKTINFO
// on a socket opened by listenIKE on an unspecified address, else the
// socket's own address.
func (c *linuxConn) ReadBatchLocal(bufs [][]byte, off int, sizes []int, srcs, locals []netip.AddrPort) (int, error) {
	return c.readBatch(bufs, off, sizes, srcs, locals)
}

func (c *linuxConn) readBatch(bufs [][]byte, off int, sizes []int, srcs, locals []netip.AddrPort) (int, error) {
	if c.rpend >= c.rn {
		k := min(len(bufs), len(c.rbufs))
		for i := 0; i < k; i++ {
			b := c.rbufs[i][off:]
			m := &c.rmsgs[i]
			c.riov[i].Base = &b[:1][0]
			c.riov[i].SetLen(cap(b))
			m.hdr.Iov = &c.riov[i]
			m.hdr.SetIovlen(1)
			m.hdr.Name = (*byte)(unsafe.Pointer(&c.rnames[i]))
			m.hdr.Namelen = uint32(unsafe.Sizeof(c.rnames[i]))
			if c.gro || c.pktinfo {
				m.hdr.Control = &c.roob[i*c.roobLen]
				m.hdr.SetControllen(c.roobLen)
			} else {
				m.hdr.Control = nil
				m.hdr.SetControllen(0)
			}
			m.hdr.Flags = 0
			m.len = 0
		}
		c.rcount = k
		if err := c.rc.Read(c.rfn); err != nil {
			return 0, err
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		c.rpend, c.rsegOff = 0, 0
	}
	out := 0
	for ; c.rpend < c.rn && out < len(bufs); c.rpend++ {
		i := c.rpend
		m := &c.rmsgs[i]
		n := int(m.len)
		if m.hdr.Flags&unix.MSG_TRUNC != 0 || n == 0 {
			continue
		}
		data := c.rbufs[i][off : off+n]
		if c.raw && !c.is6 {
			// A raw IPv4 socket hands over the IP header too.
			if n < 20 {
				continue
			}
			ihl := int(data[0]&0x0f) * 4
			if ihl < 20 || ihl > n {
				continue
			}
			n = copy(data, data[ihl:])
			data = data[:n]
		}
		src := c.source(i)
		local := c.local
		if locals != nil && c.pktinfo {
			local = c.dest(i)
		}
		seg := 0
		if c.gro {
			seg = c.groSize(i)
		}
		if seg <= 0 || seg >= n {
			// One datagram: hand the caller our buffer and take theirs.
			bufs[out], c.rbufs[i] = c.rbufs[i], bufs[out]
			sizes[out], srcs[out] = n, src
			if locals != nil {
				locals[out] = local
			}
			out++
			continue
		}
		// A GRO-coalesced run: every segment is seg bytes but the last
		// (udp(7), UDP_GRO). Copy segments out; resume here next call if
		// the caller's buffers run out.
		for c.rsegOff < n && out < len(bufs) {
			l := min(seg, n-c.rsegOff)
			sizes[out] = copy(bufs[out][off:cap(bufs[out])], data[c.rsegOff:c.rsegOff+l])
			srcs[out] = src
			if locals != nil {
				locals[out] = local
			}
			out++
			c.rsegOff += l
		}
		if c.rsegOff < n {
			break
		}
		c.rsegOff = 0
	}
	return out, nil
}

func (c *linuxConn) groSize(i int) int {
	data := c.cmsg(i, unix.IPPROTO_UDP, unix.UDP_GRO)
	if len(data) >= 4 {
		return int(binary.NativeEndian.Uint32(data))
	}
	if len(data) >= 2 {
		return int(binary.NativeEndian.Uint16(data))
	}
	return 0
}

// cmsg returns the data of the control message level/typ that message i
// of the last recvmmsg carries, or nil.
func (c *linuxConn) cmsg(i int, level, typ int32) []byte {
	m := &c.rmsgs[i]
	oob := c.roob[i*c.roobLen : i*c.roobLen+min(int(m.hdr.Controllen), c.roobLen)]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			return nil
		}
		if h.Level == level && h.Type == typ {
			return oob[unix.SizeofCmsghdr:h.Len]
		}
		step := unix.CmsgSpace(int(h.Len) - unix.SizeofCmsghdr)
		if step <= 0 || step > len(oob) {
			return nil
		}
		oob = oob[step:]
	}
	return nil
}

// dest is the local address message i was sent to, from its IP_PKTINFO
// or IPV6_PKTINFO, with the socket's port; the socket's address if it
// carries none.
func (c *linuxConn) dest(i int) netip.AddrPort {
	if c.is6 {
		if d := c.cmsg(i, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO); len(d) >= unix.SizeofInet6Pktinfo {
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&d[0]))
			return netip.AddrPortFrom(netip.AddrFrom16(pi.Addr).Unmap(), c.local.Port())
		}
	} else if d := c.cmsg(i, unix.IPPROTO_IP, unix.IP_PKTINFO); len(d) >= unix.SizeofInet4Pktinfo {
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&d[0]))
		return netip.AddrPortFrom(netip.AddrFrom4(pi.Addr), c.local.Port())
	}
	return c.local
}

// listenIKE opens a plain IKE socket on addr. On an unspecified address
// it asks for IP_PKTINFO / IPV6_PKTINFO, so that ReadBatchLocal tells
// which local address each request was sent to and the IKE SA answers and
// sends from that address (RFC 7296 2.11), not from the one the kernel
// would route from.
func listenIKE(addr netip.AddrPort) (batchConn, error) {
	bc, err := listenUDP(addr, ikeBatch)
	if err != nil || !addr.Addr().IsUnspecified() {
		return bc, err
	}
	c := bc.(*linuxConn)
	level, opt := unix.IPPROTO_IP, unix.IP_PKTINFO
	if c.is6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
	}
	if err := unix.SetsockoptInt(int(c.file.Fd()), level, opt, 1); err != nil {
		c.Close()
		return nil, fmt.Errorf("tunnel: IKE socket %v: packet info: %w", addr, err)
	}
	c.pktinfo = true
	c.roobLen = cmsgGROSpace + cmsgPktinfoSpace
	c.roob = make([]byte, len(c.rmsgs)*c.roobLen)
	return c, nil
}

func (c *linuxConn) source(i int) netip.AddrPort {
	rn := &c.rnames[i]
	switch rn.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rn))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&rn.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(rn.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

func (c *linuxConn) sendmmsg(fd uintptr) bool {
	for c.wsent < c.wcount {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.wmsgs[c.wsent])), uintptr(c.wcount-c.wsent), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			c.wsent += int(n)
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			continue
		default:
			c.werr = errno
			return true
		}
	}
	return true
}

func (c *linuxConn) setName(dst netip.AddrPort) {
	c.wname = unix.RawSockaddrInet6{}
	if c.is6 {
		c.wname.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&c.wname.Port))[:], dst.Port())
		c.wname.Addr = dst.Addr().As16()
		c.wnameLen = unix.SizeofSockaddrInet6
		return
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&c.wname))
	sa.Family = unix.AF_INET
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
	sa.Addr = dst.Addr().Unmap().As4()
	c.wnameLen = unix.SizeofSockaddrInet4
}

func (c *linuxConn) WriteBatch(bufs [][]byte, src netip.Addr, dst netip.AddrPort) error {
	if c.raw {
		dst = netip.AddrPortFrom(dst.Addr(), 0)
	}
	c.setName(dst)
	// A socket on an unspecified address sends from src (see WriteOne).
	if !src.IsValid() || src.IsUnspecified() || c.raw || !c.local.Addr().IsUnspecified() {
		c.wpktLen = 0
	} else if src != c.wsrc || c.wpktLen == 0 {
		c.wsrc, c.wpktLen = src, putPktinfo(c.wpkt[:], src, c.is6)
	}
	for len(bufs) > 0 {
		chunk := bufs
		if len(chunk) > len(c.wiov) {
			chunk = chunk[:len(c.wiov)]
		}
		err := c.writeChunk(chunk, c.gso.Load())
		if err != nil && c.gso.Load() && errors.Is(err, unix.EIO) {
			// EIO: the egress device cannot checksum GSO segments. Send
			// this and every later batch without GSO.
			c.gso.Store(false)
			err = c.writeChunk(chunk, false)
		}
		if err != nil {
			return err
		}
		bufs = bufs[len(chunk):]
	}
	return nil
}

// writeChunk sends len(bufs) <= len(c.wiov) datagrams. With gso, runs of
// datagrams of equal size (the last of a run may be shorter) go out as one
// message whose iovecs the kernel cuts into segments, so nothing is copied.
func (c *linuxConn) writeChunk(bufs [][]byte, gso bool) error {
	nmsg := 0
	maxPayload := 65507
	if c.is6 {
		maxPayload = 65527
	}
	for i := 0; i < len(bufs); {
		m := &c.wmsgs[nmsg]
		first := i
		segSize := len(bufs[i])
		total := segSize
		i++
		if gso {
			for i < len(bufs) && i-first < maxSegments && len(bufs[i]) <= segSize && total+len(bufs[i]) <= maxPayload {
				total += len(bufs[i])
				i++
				if len(bufs[i-1]) < segSize {
					break // a short datagram ends a GSO run
				}
			}
		}
		for j := first; j < i; j++ {
			b := bufs[j]
			c.wiov[j].Base = &b[:1][0]
			c.wiov[j].SetLen(len(b))
		}
		m.hdr = unix.Msghdr{}
		m.hdr.Name = (*byte)(unsafe.Pointer(&c.wname))
		m.hdr.Namelen = c.wnameLen
		m.hdr.Iov = &c.wiov[first]
		m.hdr.SetIovlen(i - first)
		oob := c.woob[nmsg*cmsgWriteSpace : (nmsg+1)*cmsgWriteSpace]
		ctl := 0
		if i-first > 1 {
			h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
			h.Level = unix.IPPROTO_UDP
			h.Type = unix.UDP_SEGMENT
			h.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(oob[unix.SizeofCmsghdr:], uint16(segSize))
			ctl = unix.CmsgSpace(2)
		}
		if c.wpktLen > 0 {
			ctl += copy(oob[ctl:], c.wpkt[:c.wpktLen])
		}
		if ctl > 0 {
			m.hdr.Control = &oob[0]
			m.hdr.SetControllen(ctl)
		}
		m.len = 0
		nmsg++
	}
	c.wcount, c.wsent, c.werr = nmsg, 0, nil
	if err := c.rc.Write(c.wfn); err != nil {
		return err
	}
	return c.werr
}

func (c *linuxConn) WriteOne(b []byte, src netip.Addr, dst netip.AddrPort) error {
	return c.writeGather(nil, b, src, dst)
}

// oneSend is the state of one WriteOne or writeGather call: the message
// header, its two iovecs and the destination, pooled so that a send
// allocates nothing.
type oneSend struct {
	hdr  unix.Msghdr
	iov  [2]unix.Iovec
	name unix.RawSockaddrInet6
	err  error
	fn   func(fd uintptr) bool
	// oob is the IP_PKTINFO or IPV6_PKTINFO control message that sets
	// the source address, when there is one.
	oob [cmsgPktinfoSpace]byte
}

var oneSendPool = sync.Pool{New: func() any {
	s := new(oneSend)
	s.fn = s.send
	return s
}}

// send is the RawConn.Write callback of writeGather. Like the data path's
// calls it is a raw system call on a non-blocking socket: the runtime's
// system-call bookkeeping would wake sysmon out of its idle sleep for every
// IKE message a quiet daemon sends, and keep it polling every 20 µs after.
func (s *oneSend) send(fd uintptr) bool {
	for {
		_, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&s.hdr)), unix.MSG_DONTWAIT)
		switch errno {
		case 0:
			s.err = nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.err = errno
			return true
		}
	}
}

// writeGather sends one datagram made of a (may be empty) and b to dst,
// without copying them together; from src if the socket is bound to an
// unspecified address and src is a specific one (see batchConn.WriteOne).
// It may be called from any goroutine.
func (c *linuxConn) writeGather(a, b []byte, src netip.Addr, dst netip.AddrPort) error {
	s := oneSendPool.Get().(*oneSend)
	s.name = unix.RawSockaddrInet6{}
	port := dst.Port()
	if c.raw {
		port = 0
	}
	var nameLen uint32
	if c.is6 {
		s.name.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.name.Port))[:], port)
		s.name.Addr = dst.Addr().As16()
		nameLen = unix.SizeofSockaddrInet6
	} else {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.name))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
		sa.Addr = dst.Addr().Unmap().As4()
		nameLen = unix.SizeofSockaddrInet4
	}
	n := 0
	for _, p := range [2][]byte{a, b} {
		if len(p) > 0 {
			s.iov[n].Base = &p[0]
			s.iov[n].SetLen(len(p))
			n++
		}
	}
	s.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.name)), Namelen: nameLen}
	if n > 0 {
		s.hdr.Iov = &s.iov[0]
		s.hdr.SetIovlen(n)
	}
	// IP_PKTINFO's ipi_spec_dst, IPV6_PKTINFO's ipi6_addr (ip(7), ipv6(7)).
	if src.IsValid() && !src.IsUnspecified() && !c.raw && c.local.Addr().IsUnspecified() {
		s.hdr.Control = &s.oob[0]
		s.hdr.SetControllen(putPktinfo(s.oob[:], src, c.is6))
	}
	s.err = nil
	err := c.rc.Write(s.fn)
	if err == nil {
		err = s.err
	}
	s.iov = [2]unix.Iovec{} // keep no caller buffer alive from the pool
	s.hdr = unix.Msghdr{}
	oneSendPool.Put(s)
	return err
}

// putPktinfo writes the control message that sets a datagram's source
// address into oob (at least cmsgPktinfoSpace bytes) and returns its
// length.
func putPktinfo(oob []byte, src netip.Addr, is6 bool) int {
	clear(oob[:cmsgPktinfoSpace])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if is6 {
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
		pi.Addr = src.As16()
		return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	pi.Spec_dst = src.Unmap().As4()
	return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
}
