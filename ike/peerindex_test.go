package ike

import (
	"bytes"
	"context"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/auth"
)

// TestPeerIndexChains: the SAs of one connection and peer identity find
// each other through Manager.peers, and leave their chain wherever they
// are in it; another peer's SAs are not among them.
func TestPeerIndexChains(t *testing.T) {
	m := &Manager{sas: make(map[uint64]*ikeSA), peers: make(map[uint64]*ikeSA), seed: maphash.MakeSeed()}
	conn := &config.Connection{Name: "c"}
	idA := auth.Identity{Type: 2, Data: []byte("a.example")}
	idB := auth.Identity{Type: 2, Data: []byte("b.example")}
	mk := func(spi uint64, id auth.Identity) *ikeSA {
		sa := &ikeSA{mgr: m, initiator: true, spiI: spi, conn: conn, remoteID: id}
		m.sas[spi] = sa
		m.indexPeer(sa)
		return sa
	}
	a1, a2, a3, a4 := mk(1, idA), mk(2, idA), mk(3, idA), mk(4, idA)
	b1 := mk(5, idB)
	same := func(sa *ikeSA, want ...*ikeSA) {
		t.Helper()
		got := m.samePeer(sa)
		for _, o := range got {
			if o.conn != sa.conn || !o.remoteID.Equal(sa.remoteID) {
				continue // a hash collision, which the callers skip
			}
			if !slices.Contains(want, o) {
				t.Errorf("samePeer(%d) has %d", sa.spiI, o.spiI)
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("samePeer(%d) lacks %d", sa.spiI, w.spiI)
			}
		}
	}
	same(a1, a2, a3, a4)
	same(b1)
	m.indexPeer(a2) // a second time changes nothing
	same(a1, a2, a3, a4)
	for _, gone := range []*ikeSA{a3, a4, a1} { // middle, head, tail
		m.mu.Lock()
		m.dropPeerLocked(gone)
		m.mu.Unlock()
		if gone.peerIndexed || gone.peerNext != nil || len(m.samePeer(gone)) != 0 {
			t.Errorf("%d still indexed", gone.spiI)
		}
	}
	same(a2)
	same(b1)
	for _, sa := range []*ikeSA{a2, b1} {
		m.mu.Lock()
		m.dropPeerLocked(sa)
		m.mu.Unlock()
	}
	if len(m.peers) != 0 {
		t.Errorf("%d chains left", len(m.peers))
	}
	// A gone SA is not indexed.
	gone := &ikeSA{mgr: m, initiator: true, spiI: 9, conn: conn, remoteID: idA}
	m.indexPeer(gone)
	if gone.peerIndexed || len(m.peers) != 0 {
		t.Error("an SA not in the table was indexed")
	}
}

// TestPeerIndexEstablished: two IKE SAs of the same connection and peer
// find each other at the responder, and the index empties as they go.
func TestPeerIndexEstablished(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{})
	establish(t, moon, sun)
	conn := moon.m.connByName("c")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := moon.m.initiate(ctx, conn, conn.Children[0], nil); err != nil {
		t.Fatalf("second IKE SA: %v", err)
	}
	for _, p := range []*peer{moon, sun} {
		sas := p.m.snapshot()
		if len(sas) != 2 {
			t.Fatalf("%s: %d IKE SAs, want 2", p.name, len(sas))
		}
		for i, sa := range sas {
			other := p.m.samePeer(sa)
			if len(other) != 1 || other[0] != sas[1-i] {
				t.Errorf("%s: samePeer gives %d SAs, want the other one", p.name, len(other))
			}
		}
		for _, sa := range sas {
			sa.mu.Lock()
			sa.destroyLocked("test")
			sa.mu.Unlock()
		}
		p.m.mu.Lock()
		n := len(p.m.peers)
		p.m.mu.Unlock()
		if n != 0 {
			t.Errorf("%s: %d chains left after the SAs went", p.name, n)
		}
	}
}

// TestHalfOpenLookupChecksKey: the half-open table is keyed by a hash of
// SPIi and address; a lookup finds only the SA of exactly that key.
func TestHalfOpenLookupChecksKey(t *testing.T) {
	m := &Manager{halfOpen: make(map[uint64]*ikeSA), seed: maphash.MakeSeed()}
	remote := netip.MustParseAddrPort("192.0.2.1:500")
	key := halfOpenKey{spiI: 7, remote: remote}
	sa := &ikeSA{spiI: 7, halfOpenRemote: remote}
	m.halfOpen[m.halfOpenHash(key)] = sa
	if got := m.halfOpenLocked(key); got != sa {
		t.Fatal("the SA of the key not found")
	}
	for _, k := range []halfOpenKey{{spiI: 8, remote: remote}, {spiI: 7, remote: netip.MustParseAddrPort("192.0.2.1:4500")}} {
		if m.halfOpenLocked(k) != nil {
			t.Errorf("%v found an SA", k)
		}
		// Even where its hash leads to an SA, another key's SA is not it.
		m.halfOpen[m.halfOpenHash(k)] = sa
		if m.halfOpenLocked(k) != nil {
			t.Errorf("%v found the SA of another key", k)
		}
		delete(m.halfOpen, m.halfOpenHash(k))
	}
	if m.halfOpenHash(key) == m.halfOpenHash(halfOpenKey{spiI: 7, remote: netip.MustParseAddrPort("192.0.2.2:500")}) {
		t.Error("two addresses hash the same")
	}
}

// sendRecorder is a Transport that keeps what it is asked to send.
type sendRecorder struct{ sent [][]byte }

func (r *sendRecorder) SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error {
	r.sent = append(r.sent, append([]byte(nil), pkt...))
	return nil
}
func (r *sendRecorder) SendKeepalive(local, remote netip.AddrPort) error { return nil }

// TestLastResp: a kept response goes out again datagram for datagram,
// one datagram or several fragments.
func TestLastResp(t *testing.T) {
	rec := &sendRecorder{}
	sa := &ikeSA{mgr: &Manager{tx: rec, log: slog.New(slog.DiscardHandler)}}
	sa.log = saLog{sa}
	addr := netip.MustParseAddrPort("192.0.2.1:500")
	sa.sendLastRespLocked(addr, addr, false)
	if len(rec.sent) != 0 {
		t.Fatal("sent a response that was never kept")
	}
	for _, pkts := range [][][]byte{
		{[]byte("one datagram")},
		{[]byte("first fragment"), bytes.Repeat([]byte{7}, 1300), []byte("x")},
	} {
		rec.sent = nil
		sa.setLastRespLocked(pkts)
		if !sa.haveLastResp {
			t.Error("haveLastResp not set")
		}
		sa.sendLastRespLocked(addr, addr, false)
		if len(rec.sent) != len(pkts) {
			t.Fatalf("%d datagrams sent, want %d", len(rec.sent), len(pkts))
		}
		for i := range pkts {
			if !bytes.Equal(rec.sent[i], pkts[i]) {
				t.Errorf("datagram %d differs", i)
			}
		}
	}
}
