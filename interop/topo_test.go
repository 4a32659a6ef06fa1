//go:build interop && linux

package interop

import (
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"

	"github.com/esptun/esptun/internal/netns"
	"github.com/esptun/esptun/internal/testlab"
)

// endpoint is one host of a two-host lab: a network namespace with an outer
// address on the veth that joins it to the other host, an inner host address
// (the traffic selector's host) and an identity.
type endpoint struct {
	label    string // "moon" or "sun"
	ns       *netns.NS
	outer    netip.Addr
	inner    netip.Addr
	innerNet netip.Prefix
	id       string
	dir      string // per-host files: configs, logs, sockets
	// charonConf, if set, renders startCharon's strongswan.conf instead
	// of strongswanConf (other plugins, other settings).
	charonConf func(dir string) string
}

// lab is two hosts joined by a veth pair:
//
//	moon: veth ix0 10.77.0.1/24, inner 10.78.1.1 in 10.78.1.0/24
//	sun:  veth ix0 10.77.0.2/24, inner 10.78.2.1 in 10.78.2.0/24
type lab struct {
	moon, sun *endpoint
}

var nsSeq atomic.Int64

// newLab makes the two namespaces and the veth between them; everything is
// removed in t.Cleanup, whatever happens to the test. Cleanups run last
// registered first, so processes started in the namespaces later stop
// before the namespaces go.
func newLab(t *testing.T) *lab {
	t.Helper()
	requirePrereq(t)
	n := nsSeq.Add(1)
	mk := func(label string, outer, inner string, innerNet string, id string) *endpoint {
		ns, dir := newHost(t, fmt.Sprintf("%s%d-%d%s", nsPrefix, os.Getpid(), n, label[:1]), nsPrefix+label+"-")
		return &endpoint{
			label:    label,
			ns:       ns,
			outer:    netip.MustParseAddr(outer),
			inner:    netip.MustParseAddr(inner),
			innerNet: netip.MustParsePrefix(innerNet),
			id:       id,
			dir:      dir,
		}
	}
	l := &lab{
		moon: mk("moon", "10.77.0.1", "10.78.1.1", "10.78.1.0/24", "moon.interop.test"),
		sun:  mk("sun", "10.77.0.2", "10.78.2.1", "10.78.2.0/24", "sun.interop.test"),
	}
	if err := testlab.Link(l.moon.ns, "ix0", []string{l.moon.outer.String() + "/24"}, l.sun.ns, "ix0", []string{l.sun.outer.String() + "/24"}); err != nil {
		fatalf(t, "veth: %v", err)
	}
	return l
}

// newHost makes the namespace name (and removes its /etc/netns directory
// at the end) and a directory for the host's files, named dirPrefix...;
// both are removed in t.Cleanup, the directory kept when the test failed
// and ESPTUN_INTEROP_KEEP is set.
func newHost(t *testing.T, name, dirPrefix string) (*netns.NS, string) {
	t.Helper()
	ns, err := testlab.NS(t, name, t.Logf)
	if err != nil {
		fatalf(t, "%v", err)
	}
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		fatalf(t, "%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("ESPTUN_INTEROP_KEEP") != "" {
			t.Logf("kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return ns, dir
}

// innerOnLoopback puts e's inner address on its loopback device, where a
// charon with kernel-libipsec wants it: charon routes the remote selector
// into its own TUN device with this address as the source.
func (e *endpoint) innerOnLoopback(t *testing.T) {
	t.Helper()
	if _, err := e.ns.Run("ip", "addr", "add", e.inner.String()+"/32", "dev", "lo"); err != nil {
		fatalf(t, "%v", err)
	}
}
