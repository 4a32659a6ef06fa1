//go:build interop && linux

package interop

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"
)

// pingOK sends count echo requests from from's inner address to to's and
// fails t unless every one is answered.
func pingOK(t *testing.T, from, to *endpoint, count int) {
	t.Helper()
	n, err := from.ns.Ping(from.inner, to.inner, count, 56, 100*time.Millisecond, 2*time.Second)
	if err != nil {
		fatalf(t, "ping %s -> %s: %v", from.inner, to.inner, err)
	}
	if n != count {
		fatalf(t, "ping %s -> %s: %d of %d answered", from.inner, to.inner, n, count)
	}
}

// pingBoth pings across the tunnel both ways.
func pingBoth(t *testing.T, l *lab, count int) {
	t.Helper()
	pingOK(t, l.moon, l.sun, count)
	pingOK(t, l.sun, l.moon, count)
}

// tcpTransfer sends size pseudo-random bytes over one TCP connection from
// from's inner address to to's and checks that what arrived has the SHA-256
// of what was sent. The sockets are opened inside the namespaces (setns on a
// locked thread) and then used from this process, so no helper program runs.
//
// With rate > 0 the sender paces itself to about rate bytes per second, so
// that the transfer lasts long enough for during to act on the SAs while it
// runs (rekeys); during is called once the connection is up and must return
// before the transfer can be judged.
func tcpTransfer(from, to *endpoint, size, rate int64, during func()) error {
	var ln net.Listener
	if err := to.ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(to.inner, 0).String())
		return err
	}); err != nil {
		return err
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	limit := 2*time.Minute + time.Duration(float64(size)/float64(max(rate, 1))*float64(time.Second))
	if rate == 0 {
		limit = 3 * time.Minute
	}
	got := make(chan result, 1)
	go func() {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(limit))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()

	var conn net.Conn
	if err := from.ns.Do(func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from.inner, 0)), Timeout: 15 * time.Second}
		conn, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		return fmt.Errorf("connecting %s -> %s: %w", from.inner, ln.Addr(), err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(limit))

	sent := make(chan result, 1)
	go func() {
		src := rand.NewChaCha8([32]byte{'e', 's', 'p', 't', 'u', 'n', 'i', 'x'})
		h := sha256.New()
		w := io.MultiWriter(conn, h)
		start := time.Now()
		var n int64
		var err error
		const chunk = 32 << 10
		for n < size && err == nil {
			m := min(chunk, size-n)
			var k int64
			k, err = io.CopyN(w, src, m)
			n += k
			if rate > 0 {
				if ahead := time.Duration(float64(n)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		sent <- r
	}()

	if during != nil {
		during()
	}
	var s, r result
	select {
	case s = <-sent:
	case <-time.After(limit):
		return fmt.Errorf("sender did not finish within %v", limit)
	}
	if s.err != nil {
		return fmt.Errorf("sending: %v after %d of %d bytes", s.err, s.n, size)
	}
	select {
	case r = <-got:
	case <-time.After(limit):
		return fmt.Errorf("receiver did not finish within %v", limit)
	}
	if r.err != nil {
		return fmt.Errorf("receiving: %v after %d of %d bytes", r.err, r.n, size)
	}
	if r.n != size || !bytes.Equal(r.sum[:], s.sum[:]) {
		return fmt.Errorf("received %d bytes with sha256 %x; sent %d with sha256 %x", r.n, r.sum, s.n, s.sum)
	}
	return nil
}

// transferBoth moves size bytes each way and fails t on any difference.
func transferBoth(t *testing.T, l *lab, size int64) {
	t.Helper()
	start := time.Now()
	if err := tcpTransfer(l.moon, l.sun, size, 0, nil); err != nil {
		fatalf(t, "TCP moon -> sun: %v", err)
	}
	if err := tcpTransfer(l.sun, l.moon, size, 0, nil); err != nil {
		fatalf(t, "TCP sun -> moon: %v", err)
	}
	t.Logf("TCP: %d bytes each way, sha256 equal at both ends, in %v", size, time.Since(start).Round(time.Millisecond))
}
