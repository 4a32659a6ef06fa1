package tunnel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// pipeline is a Tunnel without devices: two ends that share an SA pair, so
// that the classify/seal/open/finish stages can be run directly.
type pipeline struct {
	a, b     *Tunnel
	out, in  *sad.SA // a's outbound SA, b's inbound SA
	ws       *workerState
	outBatch *batch
	inBatch  *batch
}

func newPipeline(t testing.TB, suite string) *pipeline {
	t.Helper()
	s, _, err := crypto.ParseESPProposal(suite)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{0x5a}, s.KeyLen())
	mk := func(dir sad.Direction, local, remote string) (*Tunnel, *sad.SA) {
		c, err := crypto.NewESPCipher(s, key)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := spd.ParseSelector(local)
		r, _ := spd.ParseSelector(remote)
		pol := &spd.Policy{ID: 1, Name: "test", Action: spd.Protect, Local: []spd.Selector{l}, Remote: []spd.Selector{r}}
		policies := &spd.DB{}
		if err := policies.Replace([]*spd.Policy{pol}); err != nil {
			t.Fatal(err)
		}
		sas := sad.New(func(sad.Event) {})
		sa := &sad.SA{Name: "test", Dir: dir, SPI: 0xc0000001, PolicyID: 1, Cipher: c,
			Local: pol.Local, Remote: pol.Remote, Encap: true, Created: time.Now()}
		if dir == sad.Inbound {
			sa.Replay = esp.NewReplayWindow(1024)
		}
		sa.SetPeer(netip.MustParseAddrPort("192.0.2.2:4500"))
		if err := sas.Add(sa); err != nil {
			t.Fatal(err)
		}
		return &Tunnel{opts: Options{SPD: policies, SAD: sas, Workers: 1}, log: slog.Default()}, sa
	}
	p := &pipeline{ws: newWorkerState(), outBatch: newBatch(batchCap, true, bufSize), inBatch: newBatch(batchCap, false, bufSize)}
	p.a, p.out = mk(sad.Outbound, "10.1.0.0/16", "10.2.0.0/16")
	p.b, p.in = mk(sad.Inbound, "10.2.0.0/16", "10.1.0.0/16")
	return p
}

// ipv4UDP writes an IPv4/UDP packet of total length n from src to dst.
func ipv4UDP(b []byte, src, dst string, n int, id uint16) []byte {
	b = b[:n]
	clear(b)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint16(b[4:], id)
	b[8] = 64
	b[9] = 17
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], 1000)
	binary.BigEndian.PutUint16(b[22:], 2000)
	binary.BigEndian.PutUint16(b[24:], uint16(n-20))
	for i := 28; i < n; i++ {
		b[i] = byte(i) ^ byte(id)
	}
	return b
}

// run pushes n packets of size bytes from a to b through every stage but
// the devices, and returns b's output.
func (p *pipeline) run(n, size int, mutate func(i int, pkt []byte)) [][]byte {
	ob := p.outBatch
	ob.reset()
	for i := 0; i < n; i++ {
		ipv4UDP(ob.bufs[i][tunReadOffset:], "10.1.0.1", "10.2.0.1", size, uint16(i))
		ob.sizes[i] = size
	}
	ob.n = n
	p.a.classifyOutbound(ob)
	p.a.sealRange(ob, 0, n, p.ws)

	ib := p.inBatch
	ib.reset()
	ib.n = 0
	for i := 0; i < n; i++ {
		if ob.verdict[i] != verdictOK {
			continue
		}
		k := ib.n
		ib.sizes[k] = copy(ib.bufs[k][rxOffset:], ob.pkts[i])
		if mutate != nil {
			mutate(k, ib.bufs[k][rxOffset:rxOffset+ib.sizes[k]])
		}
		ib.n++
	}
	p.b.classifyInbound(ib, fakeConn{})
	p.b.openRange(ib, 0, ib.n, p.ws)
	var f finisher
	p.b.finishInbound(ib, &f)
	f.tally.flush()
	return ib.out
}

// fakeConn stands in for the socket a batch was read from; classifyInbound
// only asks whether it is raw.
type fakeConn struct{ batchConn }

func (fakeConn) Raw() bool                 { return false }
func (fakeConn) LocalAddr() netip.AddrPort { return netip.AddrPort{} }

func TestPipelineRoundTrip(t *testing.T) {
	for _, suite := range []string{"aes128gcm16", "aes256gcm16", "chacha20poly1305", "aes128-sha256", "aes256-sha512"} {
		t.Run(suite, func(t *testing.T) {
			p := newPipeline(t, suite)
			out := p.run(100, 1400, nil)
			if len(out) != 100 {
				t.Fatalf("%d packets out, want 100", len(out))
			}
			want := make([]byte, 1400)
			for i, pkt := range out {
				ipv4UDP(want, "10.1.0.1", "10.2.0.1", 1400, uint16(i))
				if !bytes.Equal(pkt[tunWriteOffset:], want) {
					t.Fatalf("packet %d differs after the round trip", i)
				}
			}
			if got := p.in.Packets.Load(); got != 100 {
				t.Fatalf("inbound SA counted %d packets, want 100", got)
			}
			if got := p.out.Bytes.Load(); got != 0 {
				// outbound bytes are counted by the sender, which this
				// test does not run
				t.Fatalf("outbound SA counted %d bytes without a sender", got)
			}
		})
	}
}

func TestPipelineDrops(t *testing.T) {
	p := newPipeline(t, "aes128gcm16")
	if out := p.run(10, 200, nil); len(out) != 10 {
		t.Fatalf("%d packets out, want 10", len(out))
	}
	// Replay the same sequence numbers: reset a's counter.
	p.out.SetSeq(0)
	if out := p.run(10, 200, nil); len(out) != 0 {
		t.Fatalf("%d replayed packets passed", len(out))
	}
	if got := p.in.Drops()[sad.DropReplay]; got != 10 {
		t.Fatalf("replay drops %d, want 10", got)
	}
	// Flip one bit of the ciphertext.
	out := p.run(5, 200, func(i int, pkt []byte) { pkt[esp.HeaderLen+8+3] ^= 0x10 })
	if len(out) != 0 {
		t.Fatalf("%d corrupted packets passed", len(out))
	}
	if got := p.in.Drops()[sad.DropAuth]; got != 5 {
		t.Fatalf("auth drops %d, want 5", got)
	}
	// Unknown SPI.
	p.run(3, 200, func(i int, pkt []byte) { binary.BigEndian.PutUint32(pkt, 0xdeadbeef) })
	if got := p.b.opts.SAD.GlobalDrops()[sad.DropNoSA]; got != 3 {
		t.Fatalf("no_sa drops %d, want 3", got)
	}
	// A packet outside every policy never leaves a.
	ob := p.outBatch
	ob.reset()
	ipv4UDP(ob.bufs[0][tunReadOffset:], "10.1.0.1", "10.9.0.1", 100, 1)
	ob.sizes[0], ob.n = 100, 1
	p.a.classifyOutbound(ob)
	if ob.verdict[0] != sad.DropPolicy || p.a.opts.SAD.GlobalDrops()[sad.DropPolicy] != 1 {
		t.Fatalf("packet outside policy: verdict %v, policy drops %d", ob.verdict[0], p.a.opts.SAD.GlobalDrops()[sad.DropPolicy])
	}
}

// TestClassifyOutboundFlows mixes flows in one batch: runs of one flow share
// a lookup, and a change of flow, in either direction, gets its own.
func TestClassifyOutboundFlows(t *testing.T) {
	p := newPipeline(t, "aes128gcm16")
	ob := p.outBatch
	ob.reset()
	// in: inside the policy; out: outside it.
	flows := []string{"in", "in", "out", "in", "out", "out", "in", "in", "in"}
	for i, f := range flows {
		dst := "10.2.0.1"
		if f == "out" {
			dst = "10.9.0.1"
		}
		ipv4UDP(ob.bufs[i][tunReadOffset:], "10.1.0.1", dst, 100, uint16(i))
		ob.sizes[i] = 100
	}
	ob.n = len(flows)
	p.a.classifyOutbound(ob)
	seq := uint64(0)
	for i, f := range flows {
		switch f {
		case "in":
			seq++
			if ob.verdict[i] != verdictOK || ob.sas[i] != p.out || ob.seqs[i] != seq {
				t.Errorf("packet %d (%s): verdict %v, SA %p, seq %d; want OK, %p, %d", i, f, ob.verdict[i], ob.sas[i], ob.seqs[i], p.out, seq)
			}
		case "out":
			if ob.verdict[i] != sad.DropPolicy || ob.sas[i] != nil {
				t.Errorf("packet %d (%s): verdict %v, SA %p; want a policy drop", i, f, ob.verdict[i], ob.sas[i])
			}
		}
	}
	if got := p.a.opts.SAD.GlobalDrops()[sad.DropPolicy]; got != 3 {
		t.Errorf("policy drops %d, want 3", got)
	}
}

// TestPipelineNoAllocs proves the steady state of both directions, all
// stages together, allocates nothing per batch and so nothing per packet.
func TestPipelineNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, suite := range []string{"aes128gcm16", "chacha20poly1305", "aes128-sha256"} {
		t.Run(suite, func(t *testing.T) {
			p := newPipeline(t, suite)
			p.run(64, 1400, nil)
			allocs := testing.AllocsPerRun(20, func() {
				if out := p.run(64, 1400, nil); len(out) != 64 {
					t.Fatalf("%d packets out, want 64", len(out))
				}
			})
			if allocs != 0 {
				t.Fatalf("%.1f allocations per 64-packet batch, want 0", allocs)
			}
		})
	}
}

// BenchmarkPipeline measures one core sealing and opening 1400-byte packets
// through every stage but the devices.
func BenchmarkPipeline(b *testing.B) {
	p := newPipeline(b, "aes128gcm16")
	b.ReportAllocs()
	b.SetBytes(64 * 1400)
	for b.Loop() {
		p.run(64, 1400, nil)
	}
}

// TestCryptForkJoin seals and opens batches with crypto workers helping the
// reader (fork and join) and without, and checks that every packet comes
// through either way.
func TestCryptForkJoin(t *testing.T) {
	for _, workers := range []int{-1, 1, 3} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			p := newPipeline(t, "aes128gcm16")
			for _, tun := range []*Tunnel{p.a, p.b} {
				tun.opts.Workers = workers
				if workers > 0 {
					tun.workQ = make(chan work, 4*workers)
					for i := 0; i < workers; i++ {
						tun.wg.Add(1)
						go tun.routineCrypto()
					}
				}
			}
			defer func() {
				for _, tun := range []*Tunnel{p.a, p.b} {
					if tun.workQ != nil {
						close(tun.workQ)
					}
					tun.wg.Wait()
				}
			}()
			for _, n := range []int{1, forkMin - 1, forkMin, 100, batchCap} {
				ob := p.outBatch
				ob.reset()
				for i := 0; i < n; i++ {
					ipv4UDP(ob.bufs[i][tunReadOffset:], "10.1.0.1", "10.2.0.1", 1000, uint16(i))
					ob.sizes[i] = 1000
				}
				ob.n = n
				p.a.classifyOutbound(ob)
				p.a.crypt(ob, p.ws)
				ib := p.inBatch
				ib.reset()
				for i := 0; i < n; i++ {
					if ob.pkts[i] == nil {
						t.Fatalf("%d packets: packet %d not sealed", n, i)
					}
					ib.sizes[i] = copy(ib.bufs[i][rxOffset:], ob.pkts[i])
				}
				ib.n = n
				p.b.classifyInbound(ib, fakeConn{})
				p.b.crypt(ib, p.ws)
				var f finisher
				p.b.finishInbound(ib, &f)
				if len(ib.out) != n {
					t.Fatalf("%d packets: %d came through", n, len(ib.out))
				}
				want := make([]byte, 1000)
				for i, pkt := range ib.out {
					ipv4UDP(want, "10.1.0.1", "10.2.0.1", 1000, uint16(i))
					if !bytes.Equal(pkt[tunWriteOffset:], want) {
						t.Fatalf("%d packets: packet %d differs", n, i)
					}
				}
			}
		})
	}
}
