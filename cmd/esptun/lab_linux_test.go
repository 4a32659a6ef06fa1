//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/netns"
	"github.com/esptun/esptun/internal/testlab"
)

// The lab is two gateways, A and B, each running "esptun up" in its own
// network namespace, joined by a veth pair:
//
//	[esptun0 10.78.1.1 fd78:1::1] A 10.77.0.1 fd77::1 ==== fd77::2 10.77.0.2 B [esptun0 10.78.2.1 fd78:2::1]
//
// A's outbound SA is B's inbound SA (spiAB, keyAB) and the other way round.
const (
	spiAB  = 0xc0000001
	spiBA  = 0xc0000002
	vethA  = "e2e-a"
	vethB  = "e2e-b"
	tunDev = "esptun0"
	saName = "manual/site"
)

var (
	outerA4, outerB4 = netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	outerA6, outerB6 = netip.MustParseAddr("fd77::1"), netip.MustParseAddr("fd77::2")
	innerA4, innerB4 = netip.MustParseAddr("10.78.1.1"), netip.MustParseAddr("10.78.2.1")
	innerA6, innerB6 = netip.MustParseAddr("fd78:1::1"), netip.MustParseAddr("fd78:2::1")
)

// keyLen is the length of key_out/key_in for each ESP suite: the
// encryption key (with the 4-byte salt for GCM and ChaCha20-Poly1305,
// RFC 4106 and RFC 7634), then the integrity key.
var keyLen = map[string]int{
	"aes128gcm16":      16 + 4,
	"aes256gcm16":      32 + 4,
	"chacha20poly1305": 32 + 4,
	"aes128-sha256":    16 + 32,
	"aes256-sha384":    32 + 48,
	"aes256-sha512":    32 + 64,
	"null-sha256":      0 + 32,
}

// labConfig chooses what differs between labs; the zero value is the
// two-site AES-128-GCM tunnel of examples/.
type labConfig struct {
	ESP          string // default aes128gcm16
	ESN          bool
	NoEncap      bool // encap = false: raw ESP
	OuterV6      bool // the SAs run between fd77::1 and fd77::2
	KeyAB, KeyBA []byte
	// Extra selectors and TUN addresses for B only, to make B send what A's
	// inbound SA does not allow.
	ExtraLocalTSB, ExtraAddrB []string
	NoRoutes                  bool // [tun] install_routes = false
}

type lab struct {
	t    *testing.T
	cfg  labConfig
	dir  string
	a, b *gateway
}

// gateway is one side of the lab: its namespace and its esptun daemon.
type gateway struct {
	name   string // "a" or "b"
	ns     *netns.NS
	conf   string // config file
	sock   string // control socket
	inner4 netip.Addr
	inner6 netip.Addr
	veth   string

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed when the daemon has exited
	err  error         // cmd.Wait's result, valid once done is closed
}

var labSeq atomic.Int32

// skipUnlessNetwork skips a test that needs root, /dev/net/tun and ip(8).
func skipUnlessNetwork(t *testing.T) {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("skipping end-to-end test: %v", err)
	}
}

// newLab builds the namespaces and starts both daemons; everything is torn
// down when the test ends, whatever its outcome.
func newLab(t *testing.T, cfg labConfig) *lab {
	t.Helper()
	skipUnlessNetwork(t)
	if cfg.ESP == "" {
		cfg.ESP = "aes128gcm16"
	}
	n, ok := keyLen[cfg.ESP]
	if !ok {
		t.Fatalf("lab: no key length for suite %q", cfg.ESP)
	}
	if cfg.KeyAB == nil {
		cfg.KeyAB = randomKey(t, n)
	}
	if cfg.KeyBA == nil {
		cfg.KeyBA = randomKey(t, n)
	}
	// Short paths: control sockets must fit in sun_path.
	dir, err := os.MkdirTemp("", "esptune2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &lab{t: t, cfg: cfg, dir: dir}

	l.a, l.b = newGatewayPair(t, testlab.Prefix("esptune2e-", int64(labSeq.Add(1))), vethA, vethB)

	for _, g := range []*gateway{l.a, l.b} {
		g.conf = filepath.Join(dir, g.name+".toml")
		g.sock = filepath.Join(dir, g.name+".sock")
		if err := os.WriteFile(g.conf, []byte(l.config(g)), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, code := runCLI(t, 10*time.Second, "check", "-c", g.conf); code != 0 {
			t.Fatalf("esptun check -c %s: exit %d\n%s\nconfig:\n%s", g.conf, code, out, l.config(g))
		}
	}
	for _, g := range []*gateway{l.a, l.b} {
		g.start(t)
	}
	for _, g := range []*gateway{l.a, l.b} {
		g.waitReady(t)
	}
	if !cfg.NoRoutes {
		l.warmUp()
	}
	return l
}

// newGatewayPair makes the namespaces PREFIXa and PREFIXb of the gateways
// a and b, joined by the veth pair vethA-vethB with the outer addresses
// 10.77.0.1/24, fd77::1/64 (a) and 10.77.0.2/24, fd77::2/64 (b).
func newGatewayPair(t *testing.T, prefix, vethA, vethB string) (a, b *gateway) {
	t.Helper()
	a = &gateway{name: "a", inner4: innerA4, inner6: innerA6, veth: vethA}
	b = &gateway{name: "b", inner4: innerB4, inner6: innerB6, veth: vethB}
	for _, g := range []*gateway{a, b} {
		ns, err := testlab.NS(t, prefix+g.name, t.Errorf)
		if err != nil {
			t.Fatal(err)
		}
		g.ns = ns
	}
	if err := testlab.Link(a.ns, vethA, []string{outerA4.String() + "/24", outerA6.String() + "/64"},
		b.ns, vethB, []string{outerB4.String() + "/24", outerB6.String() + "/64"}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func randomKey(t *testing.T, n int) []byte {
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// config renders g's esptun configuration.
func (l *lab) config(g *gateway) string {
	c := l.cfg
	local, remote := outerA4, outerB4
	if c.OuterV6 {
		local, remote = outerA6, outerB6
	}
	localTS := []string{"10.78.1.0/24", "fd78:1::/64"}
	remoteTS := []string{"10.78.2.0/24", "fd78:2::/64"}
	addrs := []string{"10.78.1.1/32", "fd78:1::1/128"}
	spiOut, spiIn, keyOut, keyIn := uint32(spiAB), uint32(spiBA), c.KeyAB, c.KeyBA
	if g == l.b {
		local, remote = remote, local
		localTS, remoteTS = remoteTS, localTS
		addrs = []string{"10.78.2.1/32", "fd78:2::1/128"}
		localTS = append(localTS, c.ExtraLocalTSB...)
		addrs = append(addrs, c.ExtraAddrB...)
		spiOut, spiIn, keyOut, keyIn = spiIn, spiOut, keyIn, keyOut
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %q\nlog_level = \"debug\"\n\n", g.sock)
	fmt.Fprintf(&b, "[tun]\nname = %q\naddresses = %s\n", tunDev, quoteList(addrs))
	if c.NoRoutes {
		fmt.Fprintf(&b, "install_routes = false\n")
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "[ike]\nlisten = [%q]\nnatt_port = 4500\n\n", local)
	fmt.Fprintf(&b, "[manual.site]\n")
	fmt.Fprintf(&b, "remote_addr = %q\n", netip.AddrPortFrom(remote, 4500))
	fmt.Fprintf(&b, "local_addr = %q\n", local)
	fmt.Fprintf(&b, "local_ts = %s\nremote_ts = %s\n", quoteList(localTS), quoteList(remoteTS))
	fmt.Fprintf(&b, "esp = %q\n", c.ESP)
	if strings.HasPrefix(c.ESP, "null") {
		fmt.Fprintf(&b, "allow_null = true\n")
	}
	fmt.Fprintf(&b, "esn = %v\nencap = %v\n", c.ESN, !c.NoEncap)
	fmt.Fprintf(&b, "spi_out = \"0x%08x\"\nkey_out = \"0x%x\"\n", spiOut, keyOut)
	fmt.Fprintf(&b, "spi_in = \"0x%08x\"\nkey_in = \"0x%x\"\n", spiIn, keyIn)
	return b.String()
}

func (g *gateway) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := g.ns.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (g *gateway) start(t *testing.T) {
	t.Helper()
	g.out = &lockedBuffer{}
	g.cmd = g.ns.Command(context.Background(), esptunBin, "up", "-c", g.conf)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	out := g.out
	done, err := testlab.Supervise(t, "gateway "+g.name, g.cmd, 10*time.Second, t.Errorf,
		func(err error) { g.err = err },
		func() { t.Logf("gateway %s: esptun up output:\n%s", g.name, out.String()) })
	if err != nil {
		t.Fatalf("gateway %s: esptun up: %v", g.name, err)
	}
	g.done = done
}

func (g *gateway) running() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// waitReady waits until the daemon answers on its control socket.
func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	err := testlab.Poll(15*time.Second, 100*time.Millisecond, g.running, testlab.SocketAnswers(g.sock, func() bool {
		_, code := runCLI(t, 5*time.Second, "status", "--json", "-s", g.sock)
		return code == 0
	}))
	switch err {
	case testlab.ErrExited:
		t.Fatalf("gateway %s: esptun up exited early (%v); output:\n%s", g.name, g.err, g.out.String())
	case testlab.ErrTimeout:
		t.Fatalf("gateway %s: no answer on %s within 15s; output:\n%s", g.name, g.sock, g.out.String())
	}
}

// warmUp waits until one ping goes through in each address family: IPv6
// addresses on a fresh TUN may be tentative for a moment. It does not fail
// the test; the tests' own pings do.
func (l *lab) warmUp() {
	for _, p := range [][2]netip.Addr{{innerA4, innerB4}, {innerA6, innerB6}} {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if n, _ := l.a.ns.Ping(p[0], p[1], 1, 56, 0, 500*time.Millisecond); n == 1 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// ping pings from src to dst count times from g and fails the test unless
// every echo is answered.
func (g *gateway) ping(t *testing.T, src, dst netip.Addr, count int) {
	t.Helper()
	n, err := g.ns.Ping(src, dst, count, 56, 50*time.Millisecond, 2*time.Second)
	if n != count {
		t.Fatalf("gateway %s: ping %v -> %v: %d of %d replies (%v)", g.name, src, dst, n, count, err)
	}
}

// Status is esptun status --json.
type Status struct {
	Version string          `json:"version"`
	Tun     string          `json:"tun"`
	Offload map[string]bool `json:"offload"`
	Drops   Drops           `json:"drops"`
	SAs     []SAStatus      `json:"sas"`
}

// Drops are the drop counters by reason.
type Drops struct {
	Auth      uint64 `json:"auth"`
	Replay    uint64 `json:"replay"`
	Policy    uint64 `json:"policy"`
	Malformed uint64 `json:"malformed"`
	NoSA      uint64 `json:"no_sa"`
	Expired   uint64 `json:"expired"`
}

// SAStatus is one SA of esptun status --json.
type SAStatus struct {
	Name      string   `json:"name"`
	Direction string   `json:"direction"`
	SPI       string   `json:"spi"`
	ESP       string   `json:"esp"`
	ESN       bool     `json:"esn"`
	LocalTS   []string `json:"local_ts"`
	RemoteTS  []string `json:"remote_ts"`
	Peer      string   `json:"peer"`
	Encap     bool     `json:"encap"`
	Packets   uint64   `json:"packets"`
	Bytes     uint64   `json:"bytes"`
	Drops     Drops    `json:"drops"`
	Created   string   `json:"created"`
}

// statusRaw runs esptun status --json against g and returns its output.
func (g *gateway) statusRaw(t *testing.T) []byte {
	t.Helper()
	out, code := runCLI(t, 10*time.Second, "status", "--json", "-s", g.sock)
	if code != 0 {
		t.Fatalf("gateway %s: esptun status --json: exit %d\n%s", g.name, code, out)
	}
	return []byte(out)
}

func (g *gateway) status(t *testing.T) *Status {
	t.Helper()
	raw := g.statusRaw(t)
	var st Status
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("gateway %s: esptun status --json: %v\n%s", g.name, err, raw)
	}
	return &st
}

// sa returns g's SA with the given direction and SPI.
func (g *gateway) sa(t *testing.T, direction string, spi uint32) SAStatus {
	t.Helper()
	st := g.status(t)
	want := fmt.Sprintf("0x%08x", spi)
	for _, sa := range st.SAs {
		if sa.Direction == direction && strings.EqualFold(sa.SPI, want) {
			return sa
		}
	}
	t.Fatalf("gateway %s: no %s SA with SPI %s in esptun status: %+v", g.name, direction, want, st.SAs)
	return SAStatus{}
}

// waitCounter polls get until it returns at least want or timeout passes,
// then waits settle and returns the final value, so that a test can assert
// an exact count without racing the daemon's workers.
func waitCounter(get func() uint64, want uint64, timeout, settle time.Duration) uint64 {
	deadline := time.Now().Add(timeout)
	for get() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(settle)
	return get()
}

// espFilter returns a capture filter for ESP-in-UDP datagrams with the
// given SPI (0: any), from src to dst, and no bigger than the veth MTU (so
// never a UDP GSO super-packet).
func espFilter(src, dst netip.Addr, spi uint32) func([]byte) bool {
	return func(p []byte) bool {
		if len(p) > 1500 {
			return false
		}
		u, ok := netns.ParseUDP(p)
		if !ok || u.Src.Addr() != src || u.Dst.Addr() != dst || u.Dst.Port() != 4500 || len(u.Payload) < 8 {
			return false
		}
		got := binary.BigEndian.Uint32(u.Payload)
		if got == 0 { // RFC 3948 2.2: non-ESP marker, an IKE message
			return false
		}
		return spi == 0 || got == spi
	}
}

func hexKey(b []byte) string { return "0x" + hex.EncodeToString(b) }
