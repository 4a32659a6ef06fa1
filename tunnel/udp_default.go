//go:build !linux

package tunnel

import (
	"errors"
	"net"
	"net/netip"
)

// stdConn is the portable batchConn: one datagram per system call. Linux
// uses recvmmsg/sendmmsg with GSO/GRO instead (udp_linux.go).
type stdConn struct {
	uc    *net.UDPConn
	local netip.AddrPort
}

func listenUDP(addr netip.AddrPort, batch int) (batchConn, error) {
	network := "udp4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = "udp6"
	}
	uc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	local := addr
	if la, ok := uc.LocalAddr().(*net.UDPAddr); ok {
		local = la.AddrPort()
	}
	return &stdConn{uc: uc, local: local}, nil
}

// listenIKE opens a plain IKE socket. Without IP_PKTINFO here, IKE learns
// no more than the socket's own address.
func listenIKE(addr netip.AddrPort) (batchConn, error) { return listenUDP(addr, ikeBatch) }

func listenRawESP(addr netip.Addr, batch int) (batchConn, error) {
	return nil, errors.New("tunnel: raw ESP (encap = false) is only available on Linux")
}

func (c *stdConn) ReadBatch(bufs [][]byte, off int, sizes []int, srcs []netip.AddrPort) (int, error) {
	n, src, err := c.uc.ReadFromUDPAddrPort(bufs[0][off:cap(bufs[0])])
	if err != nil {
		return 0, err
	}
	sizes[0], srcs[0] = n, netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	return 1, nil
}

func (c *stdConn) WriteBatch(bufs [][]byte, src netip.Addr, dst netip.AddrPort) error {
	var first error
	for _, b := range bufs {
		if _, err := c.uc.WriteToUDPAddrPort(b, dst); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *stdConn) WriteOne(b []byte, src netip.Addr, dst netip.AddrPort) error {
	_, err := c.uc.WriteToUDPAddrPort(b, dst)
	return err
}

func (c *stdConn) LocalAddr() netip.AddrPort { return c.local }
func (c *stdConn) Offload() (gso, gro bool)  { return false, false }
func (c *stdConn) Raw() bool                 { return false }
func (c *stdConn) Close() error              { return c.uc.Close() }
