package tunnel

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// The inbound SAs of FuzzClassifyInbound, one per way the demultiplexer and
// the stages after it treat an SA.
const (
	fuzzSPIGCM     = 0xc0000001 // aes128gcm16, 1024-packet window, 32-bit sequence numbers
	fuzzSPICBC     = 0xc0000002 // aes128-sha256, 128-packet window, ESN, window just below 2^32
	fuzzSPINoRepl  = 0xc0000003 // chacha20poly1305, IPv6 selectors, replay check off
	fuzzSPIDead    = 0xc0000004 // aes128gcm16, past its hard lifetime
	fuzzSPIUnknown = 0xdeadbeef

	// fuzzCBCTop is where the ESN SA's window starts, so that sequence
	// numbers on both sides of 2^32 exercise the inference of the high half.
	fuzzCBCTop = 1<<32 - 8
)

var (
	fuzzPeer  = netip.MustParseAddrPort("192.0.2.2:4500")
	fuzzMoved = netip.MustParseAddrPort("198.51.100.7:31000")
)

// fuzzSA describes one inbound SA. The ciphers are stateless and shared by
// every input; the SAs and their database are made fresh for each input so
// that replay windows and counters start from the same state every time.
type fuzzSA struct {
	spi           uint32
	suite         string
	esn           bool
	window        int
	top           uint64
	local, remote string
	dead          bool
	cipher        crypto.ESPCipher
}

func fuzzSAs(t testing.TB) []*fuzzSA {
	sas := []*fuzzSA{
		{spi: fuzzSPIGCM, suite: "aes128gcm16", window: 1024, local: "10.2.0.0/16", remote: "10.1.0.0/16"},
		{spi: fuzzSPICBC, suite: "aes128-sha256", esn: true, window: 128, top: fuzzCBCTop, local: "10.2.0.0/16", remote: "10.1.0.0/16"},
		{spi: fuzzSPINoRepl, suite: "chacha20poly1305", local: "fd00:2::/64", remote: "fd00:1::/64"},
		{spi: fuzzSPIDead, suite: "aes128gcm16", window: 64, local: "10.2.0.0/16", remote: "10.1.0.0/16", dead: true},
	}
	for i, s := range sas {
		suite, _, err := crypto.ParseESPProposal(s.suite)
		if err != nil {
			t.Fatal(err)
		}
		key := bytes.Repeat([]byte{byte(0x30 + i)}, suite.KeyLen())
		if s.cipher, err = crypto.NewESPCipher(suite, key); err != nil {
			t.Fatal(err)
		}
	}
	return sas
}

// fuzzDB installs fresh SAs for sas in a new database.
func fuzzDB(t testing.TB, sas []*fuzzSA) (*sad.DB, []*sad.SA) {
	db := sad.New(func(sad.Event) {})
	out := make([]*sad.SA, len(sas))
	for i, s := range sas {
		l, err := spd.ParseSelector(s.local)
		if err != nil {
			t.Fatal(err)
		}
		r, err := spd.ParseSelector(s.remote)
		if err != nil {
			t.Fatal(err)
		}
		sa := &sad.SA{Name: "fuzz", Dir: sad.Inbound, SPI: s.spi, PolicyID: uint32(i + 1), Cipher: s.cipher,
			ESN: s.esn, Local: []spd.Selector{l}, Remote: []spd.Selector{r}, Encap: true, Created: time.Now()}
		if s.window > 0 {
			sa.Replay = esp.NewReplayWindow(s.window)
			if s.top > 0 && !sa.Replay.CheckAndUpdate(s.top) {
				t.Fatalf("window of SPI %#x does not take %d", s.spi, s.top)
			}
		}
		if s.dead {
			sa.Created = time.Now().Add(-time.Hour)
			sa.Lifetime = &sad.Lifetime{HardTime: time.Minute}
		}
		sa.SetPeer(fuzzPeer)
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
		out[i] = sa
	}
	db.Tick(time.Now()) // kills the SA past its hard lifetime
	if !out[len(out)-1].Dead() {
		t.Fatal("SA past its hard lifetime is alive")
	}
	return db, out
}

// fuzzIP returns an IPv4 or IPv6 UDP packet from src to dst with n bytes of
// payload.
func fuzzIP(src, dst string, n int) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	var p, udp []byte
	if s.Is4() {
		p = make([]byte, 28+n)
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		p[8], p[9] = 64, 17
		a, b := s.As4(), d.As4()
		copy(p[12:], a[:])
		copy(p[16:], b[:])
		udp = p[20:]
	} else {
		p = make([]byte, 48+n)
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(8+n))
		p[6], p[7] = 17, 64
		a, b := s.As16(), d.As16()
		copy(p[8:], a[:])
		copy(p[24:], b[:])
		udp = p[40:]
	}
	binary.BigEndian.PutUint16(udp[0:], 1000)
	binary.BigEndian.PutUint16(udp[2:], 2000)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+n))
	for i := 8; i < len(udp); i++ {
		udp[i] = byte(i)
	}
	return p
}

// sealFor seals inner (an IP packet; nil for a dummy packet) as s receives
// it with sequence number seq, followed by tfc bytes of TFC padding.
func sealFor(t testing.TB, s *fuzzSA, seq uint64, inner []byte, tfc int) []byte {
	nh := byte(esp.NextHeaderDummy)
	if len(inner) > 0 {
		nh = esp.NextHeaderIPv4
		if inner[0]>>4 == 6 {
			nh = esp.NextHeaderIPv6
		}
	}
	buf := make([]byte, esp.MaxHeadroom+len(inner)+tfc+esp.MaxTrailer)
	n := copy(buf[esp.MaxHeadroom:], inner) + tfc
	var scratch crypto.Scratch
	pkt, err := esp.Seal(&esp.SealParams{SPI: s.spi, Cipher: s.cipher, ESN: s.esn}, seq, nh, buf, esp.MaxHeadroom, n, &scratch)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(pkt)
}

// fuzzDatagram is one datagram of a fuzz input; moved makes it arrive from
// another address than the SA's peer.
type fuzzDatagram struct {
	moved bool
	b     []byte
}

// encodeFuzzBatch lays datagrams out as FuzzClassifyInbound reads them:
// one flags octet (bit 0: raw ESP socket), then per datagram one octet
// (bit 0: from the moved address), a 2-octet length and the datagram.
func encodeFuzzBatch(raw bool, ds []fuzzDatagram) []byte {
	var out []byte
	if raw {
		out = append(out, 1)
	} else {
		out = append(out, 0)
	}
	for _, d := range ds {
		h := byte(0)
		if d.moved {
			h = 1
		}
		out = append(out, h)
		out = binary.BigEndian.AppendUint16(out, uint16(len(d.b)))
		out = append(out, d.b...)
	}
	return out
}

// readCapture returns the datagrams of a capture file: one hex-encoded
// datagram per line, lines starting with # are comments.
func readCapture(t testing.TB, path string) [][]byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no datagrams", path)
	}
	return out
}

// fuzzSeeds are real encodings: datagrams captured on port 4500 between
// strongSwan and esptun; ESP packets sealed by each SA's keys (IPv4, IPv6,
// dummy, TFC-padded, outside the selectors, replayed, on both sides of 2^32
// for the ESN SA, and one left of its window, which RFC 4303 appendix A
// takes for the next 2^32 block and so fails the ICV); a NAT-keepalive; the
// strongSwan IKE_SA_INIT capture behind the non-ESP marker; and datagrams
// too short for either.
func fuzzSeeds(t testing.TB, sas []*fuzzSA) [][]byte {
	ike, err := os.ReadFile("../ike/wire/testdata/strongswan-5.9.8-ike_sa_init-request.hex")
	if err != nil {
		t.Fatal(err)
	}
	ikeMsg, err := hex.DecodeString(strings.TrimSpace(string(ike)))
	if err != nil {
		t.Fatal(err)
	}
	gcm, cbc, noRepl, dead := sas[0], sas[1], sas[2], sas[3]
	v4 := fuzzIP("10.1.0.1", "10.2.0.1", 64)
	v6 := fuzzIP("fd00:1::1", "fd00:2::1", 64)
	outside := fuzzIP("10.9.0.1", "10.2.0.1", 64)
	unknown := sealFor(t, gcm, 1, v4, 0)
	binary.BigEndian.PutUint32(unknown, fuzzSPIUnknown)
	gcm1 := sealFor(t, gcm, 1, v4, 0)

	singles := [][]byte{
		{0xff},
		append([]byte{0, 0, 0, 0}, ikeMsg...),
		{0, 0, 0, 0},
		{},
		{1, 2, 3},
		gcm1,
		sealFor(t, gcm, 3, v4, 40),
		sealFor(t, gcm, 4, nil, 0),
		sealFor(t, gcm, 5, outside, 0),
		sealFor(t, cbc, fuzzCBCTop+1, v4, 0),
		sealFor(t, cbc, 1<<32+3, v4, 0),
		sealFor(t, cbc, fuzzCBCTop-200, v4, 0),
		sealFor(t, noRepl, 7, v6, 0),
		sealFor(t, noRepl, 8, v4, 0),
		sealFor(t, dead, 1, v4, 0),
		// Moves the window past 1..5 for the second pass.
		sealFor(t, gcm, 1500, fuzzIP("10.1.0.1", "10.2.0.1", 1300), 0),
		unknown,
	}
	var seeds [][]byte
	// A real capture: strongSwan's and esptun's datagrams on port 4500.
	var captured []fuzzDatagram
	for _, d := range readCapture(t, "testdata/interop-ecdsa-port4500.hex") {
		seeds = append(seeds, encodeFuzzBatch(false, []fuzzDatagram{{b: d}}))
		captured = append(captured, fuzzDatagram{b: d})
	}
	seeds = append(seeds, encodeFuzzBatch(false, captured))
	var mixed []fuzzDatagram
	for i, s := range singles {
		seeds = append(seeds, encodeFuzzBatch(false, []fuzzDatagram{{b: s}}))
		mixed = append(mixed, fuzzDatagram{moved: i%3 == 2, b: s})
	}
	mixed = append(mixed, fuzzDatagram{b: gcm1}) // a replay in the same batch
	seeds = append(seeds, encodeFuzzBatch(false, mixed), encodeFuzzBatch(true, mixed))
	return seeds
}

// FuzzClassifyInbound feeds a batch of arbitrary datagrams, as one socket
// read returns them, through the real inbound path: classifyInbound's
// demultiplexing (NAT-keepalive, non-ESP marker, SPI lookup in a sad.DB
// holding four SAs, sequence number inference, the early replay check), the
// decryption and the in-order checks. The batch then runs a second time
// through the same SAs. Besides not panicking, every datagram must be
// accounted for exactly once (keepalive, IKE, dummy, delivered or a drop
// counter), IKE must get exactly the datagrams behind the non-ESP marker,
// and no packet may be delivered twice on an SA with a replay window.
func FuzzClassifyInbound(f *testing.F) {
	sas := fuzzSAs(f)
	for _, s := range fuzzSeeds(f, sas) {
		f.Add(s)
	}
	b := newBatch(batchCap, false, bufSize)
	ws := newWorkerState()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkInbound(t, sas, b, ws, data)
	})
}

var fuzzLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// checkInbound runs the fuzz input data through the inbound path twice (see
// FuzzClassifyInbound), checks what it must, and returns the counters after
// the first pass.
func checkInbound(t testing.TB, sas []*fuzzSA, b *batch, ws *workerState, data []byte) fuzzCounts {
	raw := len(data) > 0 && data[0]&1 != 0
	if len(data) > 0 {
		data = data[1:]
	}
	var ds []fuzzDatagram
	for len(data) >= 3 && len(ds) < batchCap {
		n := min(int(binary.BigEndian.Uint16(data[1:3])), len(data)-3)
		ds = append(ds, fuzzDatagram{moved: data[0]&1 != 0, b: data[3 : 3+n]})
		data = data[3+n:]
	}
	db, installed := fuzzDB(t, sas)

	var ikeGot [][]byte
	var ikeAlone []bool
	finished := false
	var moved int
	tn := &Tunnel{log: fuzzLog, opts: Options{SPD: &spd.DB{}, SAD: db, Workers: 1,
		IKE: func(pkt []byte, remote, local netip.AddrPort, natt, alone bool) {
			if !natt {
				t.Error("IKE datagram from the ESP port not marked natt")
			}
			if remote != fuzzPeer && remote != fuzzMoved {
				t.Errorf("IKE datagram from %v, which sent none", remote)
			}
			if !finished {
				t.Error("IKE datagram handed over before the batch's ESP packets were finished")
			}
			ikeGot = append(ikeGot, bytes.Clone(pkt))
			ikeAlone = append(ikeAlone, alone)
		},
		PeerMoved: func(sa *sad.SA, from netip.AddrPort) {
			if from != fuzzMoved || !sa.Encap || sa.Dead() {
				t.Errorf("peer of SPI %#x moved to %v", sa.SPI, from)
			}
			moved++
		},
	}}

	var ikeWant [][]byte
	if !raw {
		for _, d := range ds {
			if len(d.b) >= 4 && binary.BigEndian.Uint32(d.b) == 0 {
				ikeWant = append(ikeWant, d.b[4:])
			}
		}
	}

	delivered := make([]uint64, len(installed))
	var first fuzzCounts
	for pass := 1; pass <= 2; pass++ {
		b.reset()
		for i, d := range ds {
			b.sizes[i] = copy(b.bufs[i][rxOffset:], d.b)
			b.srcs[i] = fuzzPeer
			if d.moved {
				b.srcs[i] = fuzzMoved
			}
		}
		b.n = len(ds)
		tn.classifyInbound(b, fuzzConn{raw: raw})
		tn.openRange(b, 0, b.n, ws)
		var fin finisher
		finished = false
		tn.finishInbound(b, &fin)
		fin.tally.flush()
		finished = true
		before := len(ikeAlone)
		tn.deliverIKE(b, fuzzConn{raw: raw})
		// Only the last IKE message of a read may be processed by the
		// reader itself.
		for i, alone := range ikeAlone[before:] {
			if last := before+i == len(ikeAlone)-1; alone != last {
				t.Fatalf("pass %d: IKE datagram %d of %d marked alone %v", pass, i+1, len(ikeAlone)-before, alone)
			}
		}

		var outBytes uint64
		for _, o := range b.out {
			if len(o) < tunWriteOffset {
				t.Fatalf("delivered packet of %d octets has no room for the TUN header", len(o))
			}
			var pkt spd.Packet
			if err := spd.ParsePacket(o[tunWriteOffset:], &pkt); err != nil {
				t.Fatalf("delivered packet does not parse: %v", err)
			}
			outBytes += uint64(len(o) - tunWriteOffset)
		}

		got := fuzzCount(tn, db, installed)
		if want := uint64(pass * len(ds)); got.total() != want {
			t.Fatalf("pass %d: %d datagrams, counters add up to %d: %s", pass, want, got.total(), got)
		}
		if got.packets != uint64(len(b.out))+sum(delivered) {
			t.Fatalf("pass %d: SAs counted %d packets, %d delivered in this pass and %d before", pass, got.packets, len(b.out), sum(delivered))
		}
		if pass == 1 && got.bytes != outBytes {
			t.Fatalf("pass 1: SAs counted %d bytes, %d delivered", got.bytes, outBytes)
		}
		if raw && (got.keepalives != 0 || got.nonESP != 0) {
			t.Fatalf("raw socket: %d keepalives, %d IKE datagrams", got.keepalives, got.nonESP)
		}
		for i, sa := range installed {
			if sa.Dead() {
				if sa.Packets.Load() != 0 {
					t.Fatalf("SA past its hard lifetime delivered %d packets", sa.Packets.Load())
				}
				for r, n := range sa.Drops() {
					if sad.DropReason(r) != sad.DropExpired && n != 0 {
						t.Fatalf("SA past its hard lifetime counted %d %v drops", n, sad.DropReason(r))
					}
				}
			}
			if pass == 2 && sa.Replay != nil && sa.Packets.Load() != delivered[i] {
				t.Fatalf("SPI %#x: %d packets delivered again from the same datagrams", sa.SPI, sa.Packets.Load()-delivered[i])
			}
			delivered[i] = sa.Packets.Load()
		}
		if pass == 1 {
			first = got
		}
	}
	if len(ikeGot) != 2*len(ikeWant) {
		t.Fatalf("IKE got %d datagrams over two passes, want %d", len(ikeGot), 2*len(ikeWant))
	}
	for i, w := range ikeWant {
		if !bytes.Equal(ikeGot[i], w) || !bytes.Equal(ikeGot[len(ikeWant)+i], w) {
			t.Fatalf("IKE datagram %d differs from what followed the non-ESP marker", i)
		}
	}
	if moved > 0 && sum(delivered) == 0 {
		t.Fatalf("peer moved %d times without a delivered packet", moved)
	}
	b.reset()
	return first
}

// fuzzConn is a socket that only says whether it is raw.
type fuzzConn struct {
	batchConn
	raw bool
}

func (c fuzzConn) Raw() bool               { return c.raw }
func (fuzzConn) LocalAddr() netip.AddrPort { return netip.MustParseAddrPort("192.0.2.1:4500") }

// fuzzCounts is every counter a datagram can end up in.
type fuzzCounts struct {
	keepalives, nonESP, dummies uint64
	global, perSA               [sad.NumDropReasons]uint64
	packets, bytes              uint64
}

func fuzzCount(tn *Tunnel, db *sad.DB, sas []*sad.SA) fuzzCounts {
	c := fuzzCounts{keepalives: tn.keepalives.Load(), nonESP: tn.nonESP.Load(), dummies: tn.dummies.Load(), global: db.GlobalDrops()}
	for _, sa := range sas {
		for r, n := range sa.Drops() {
			c.perSA[r] += n
		}
		c.packets += sa.Packets.Load()
		c.bytes += sa.Bytes.Load()
	}
	return c
}

func (c fuzzCounts) total() uint64 {
	return c.keepalives + c.nonESP + c.dummies + sum(c.global[:]) + sum(c.perSA[:]) + c.packets
}

func (c fuzzCounts) String() string {
	return fmt.Sprintf("keepalives %d, IKE %d, dummies %d, global drops %v, SA drops %v, delivered %d",
		c.keepalives, c.nonESP, c.dummies, c.global, c.perSA, c.packets)
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

// TestFuzzSeedsCounted pins what the two mixed seeds of FuzzClassifyInbound
// end up as, so that the seeds keep reaching every verdict.
func TestFuzzSeedsCounted(t *testing.T) {
	sas := fuzzSAs(t)
	seeds := fuzzSeeds(t, sas)
	b := newBatch(batchCap, false, bufSize)
	ws := newWorkerState()

	var want fuzzCounts
	want.keepalives, want.nonESP, want.dummies, want.packets = 1, 2, 1, 6
	want.global[sad.DropMalformed], want.global[sad.DropNoSA] = 2, 1
	want.perSA[sad.DropPolicy], want.perSA[sad.DropReplay], want.perSA[sad.DropExpired] = 2, 1, 1
	want.perSA[sad.DropAuth] = 1
	got := checkInbound(t, sas, b, ws, seeds[len(seeds)-2])
	got.bytes = 0
	if got != want {
		t.Errorf("UDP socket:\n got %s\nwant %s", got, want)
	}

	// On a raw ESP socket the keepalive and the IKE datagrams are ESP
	// packets too short or with SPI 0.
	want.keepalives, want.nonESP = 0, 0
	want.global[sad.DropMalformed], want.global[sad.DropNoSA] = 4, 2
	got = checkInbound(t, sas, b, ws, seeds[len(seeds)-1])
	got.bytes = 0
	if got != want {
		t.Errorf("raw socket:\n got %s\nwant %s", got, want)
	}
}
