//go:build linux

package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/control"
	"github.com/esptun/esptun/internal/netns"
	"github.com/esptun/esptun/internal/relay"
	"github.com/esptun/esptun/internal/testlab"
)

// A lab is two gateways, A (moon.example) and B (sun.example), each an
// esptun daemon in its own namespace, keyed by IKEv2 with a PSK, with the
// child "net" of the connection "site" between 10.78.1.0/24 (A, TUN
// address 10.78.1.1) and 10.78.2.0/24 (B, 10.78.2.1). How their outer
// addresses meet depends on the topology:
//
//	direct:  A sa 10.77.0.1 ======================================== 10.77.0.2 sb B
//	relayed: A sa 10.77.1.1 === 10.77.1.2 ra [R: relay] rb 10.77.2.1 === 10.77.2.2 sb B
//	natted:  A sa 10.77.1.1 === 10.77.1.2 ra [R: router + nft masquerade] rb 10.77.2.1 === 10.77.2.2 sb B
//
// In the relayed lab A's peer address is the relay's 10.77.1.2 and B's is
// the relay's 10.77.2.1; the relay forwards ports 500 and 4500 and applies
// the lab's impairments. In the natted lab A sends to B's own address
// through R, which masquerades A behind 10.77.2.1; B answers whatever
// address and port the IKE and ESP packets come from.
type topology int

const (
	direct topology = iota
	relayed
	natted
)

const (
	connName  = "site"
	childName = "net"
	idA       = "moon.example"
	idB       = "sun.example"
	tunDev    = "esptun0"
	psk       = "esptun soak shared secret"
)

var (
	innerA = netip.MustParseAddr("10.78.1.1")
	innerB = netip.MustParseAddr("10.78.2.1")
)

// gwConfig holds what one gateway's configuration may change; zero values
// leave esptun's defaults, except that retransmit_timeout is 1s.
type gwConfig struct {
	startAction       string // the child's; default "none"
	dpdDelay          string
	dpdAction         string
	keyingTries       *int
	retransmitTimeout string
	retransmitBase    float64
	retransmitTries   *int
	rekeyPackets      uint64
	lifePackets       uint64
	randPackets       *uint64
}

type labConfig struct {
	topo topology
	a, b gwConfig
	// impair is the relay's impairment per direction (relayed only).
	impair [2]relay.Impairment
}

type lab struct {
	cfg   labConfig
	dir   string
	a, b  *gateway
	r     *netns.NS    // the middle namespace (relayed, natted)
	relay *relay.Relay // relayed only
}

// gateway is one side of a lab: its namespace and its esptun daemon.
type gateway struct {
	name   string // "a" or "b"
	ns     *netns.NS
	veth   string
	outer  netip.Addr // own outer address
	remote netip.Addr // remote_addrs of its connection
	inner  netip.Addr
	cfg    gwConfig
	conf   string
	sock   string

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

var labSeq atomic.Int32

// skipUnlessNetwork skips a test that needs root, /dev/net/tun and ip(8),
// and every tool in tools.
func skipUnlessNetwork(t *testing.T, tools ...string) {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed", tool)
		}
	}
}

// newLab builds the namespaces and the relay, writes both configurations
// and starts both daemons (B first). It does not wait for the IKE SA.
// Everything is removed when the test ends, whatever its outcome.
func newLab(t *testing.T, cfg labConfig) *lab {
	t.Helper()
	tools := []string{}
	if cfg.topo == natted {
		tools = append(tools, "nft")
	}
	skipUnlessNetwork(t, tools...)
	// Short paths: control sockets must fit in sun_path.
	dir, err := os.MkdirTemp("", "esptunsoak-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &lab{cfg: cfg, dir: dir}
	prefix := testlab.Prefix("esptunsoak-", int64(labSeq.Add(1)))
	newNS := func(name string) *netns.NS {
		t.Helper()
		ns, err := testlab.NS(t, prefix+name, t.Errorf)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	l.a = &gateway{name: "a", ns: newNS("a"), veth: "sa", inner: innerA, cfg: cfg.a}
	l.b = &gateway{name: "b", ns: newNS("b"), veth: "sb", inner: innerB, cfg: cfg.b}
	mustRun := func(ns *netns.NS, args ...string) {
		t.Helper()
		if _, err := ns.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	switch cfg.topo {
	case direct:
		if err := testlab.Link(l.a.ns, "sa", []string{"10.77.0.1/24"}, l.b.ns, "sb", []string{"10.77.0.2/24"}); err != nil {
			t.Fatal(err)
		}
		l.a.outer, l.b.outer = netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
		l.a.remote, l.b.remote = l.b.outer, l.a.outer
	case relayed, natted:
		l.r = newNS("r")
		if err := testlab.Link(l.a.ns, "sa", []string{"10.77.1.1/24"}, l.r, "ra", []string{"10.77.1.2/24"}); err != nil {
			t.Fatal(err)
		}
		if err := testlab.Link(l.r, "rb", []string{"10.77.2.1/24"}, l.b.ns, "sb", []string{"10.77.2.2/24"}); err != nil {
			t.Fatal(err)
		}
		l.a.outer, l.b.outer = netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("10.77.2.2")
		l.b.remote = netip.MustParseAddr("10.77.2.1")
		if cfg.topo == relayed {
			l.a.remote = netip.MustParseAddr("10.77.1.2")
			l.startRelay(t)
		} else {
			l.a.remote = l.b.outer
			mustRun(l.a.ns, "ip", "route", "add", "10.77.2.0/24", "via", "10.77.1.2")
			mustRun(l.r, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
			l.setMasquerade(t, "20000-20999")
		}
	}
	for _, g := range []*gateway{l.a, l.b} {
		g.conf = filepath.Join(dir, g.name+".toml")
		g.sock = filepath.Join(dir, g.name+".sock")
		conf := l.config(g)
		if err := os.WriteFile(g.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, code := runCLI(t, 10*time.Second, "check", "-c", g.conf); code != 0 {
			t.Fatalf("esptun check -c %s: exit %d\n%s\nconfig:\n%s", g.conf, code, out, conf)
		}
	}
	if os.Getenv("ESPTUN_SOAK_LOGS") != "" {
		t.Cleanup(func() {
			for _, g := range []*gateway{l.a, l.b} {
				if g.out != nil {
					t.Logf("gateway %s: esptun up output:\n%s", g.name, g.out.String())
				}
			}
		})
	}
	for _, g := range []*gateway{l.b, l.a} {
		g.start(t)
		g.waitReady(t)
	}
	return l
}

// tunQueueLen is the TUN devices' transmit queue: the packets the kernel
// keeps for the daemon to read. The default of 500 is 25ms at 20 000
// datagrams/s, less than a daemon can be kept off the CPU on a busy
// 2-core machine; a second of it keeps scheduling out of the figures, as
// the receivers' large socket buffers do.
const tunQueueLen = 20000

// startRelay runs the relay in R for IKE (500) and NAT-T (4500).
func (l *lab) startRelay(t *testing.T) {
	t.Helper()
	var links []relay.Link
	for _, port := range []uint16{500, 4500} {
		ap := func(a string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(a), port) }
		links = append(links, relay.Link{A: ap("10.77.1.2"), PeerA: ap("10.77.1.1"), B: ap("10.77.2.1"), PeerB: ap("10.77.2.2")})
	}
	r, err := relay.New(relay.Config{
		Links:  links,
		Impair: l.cfg.impair,
		Listen: func(a netip.AddrPort) (c *net.UDPConn, err error) {
			err = l.r.Do(func() error {
				c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
				return err
			})
			return c, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	l.relay = r
}

// setMasquerade (re)writes R's NAT table: A's packets leaving towards B get
// R's address and a port from ports ("20000-20999"). Existing conntrack
// entries keep their mapping until flushed (flushConntrack).
func (l *lab) setMasquerade(t *testing.T, ports string) {
	t.Helper()
	script := fmt.Sprintf(`flush ruleset
table ip soaknat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "rb" ip saddr 10.77.1.0/24 meta l4proto udp masquerade to :%s
		oifname "rb" ip saddr 10.77.1.0/24 masquerade
	}
}
`, ports)
	cmd := l.r.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s", l.r.Name, err, out)
	}
}

// config renders g's configuration.
func (l *lab) config(g *gateway) string {
	c := g.cfg
	localID, remoteID := idA, idB
	localTS, remoteTS := "10.78.1.0/24", "10.78.2.0/24"
	if g == l.b {
		localID, remoteID = remoteID, localID
		localTS, remoteTS = remoteTS, localTS
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %q\nlog_level = \"debug\"\n\n", g.sock)
	fmt.Fprintf(&b, "[tun]\nname = %q\naddresses = [%q]\n\n", tunDev, g.inner.String()+"/32")
	rt := c.retransmitTimeout
	if rt == "" {
		rt = "1s"
	}
	fmt.Fprintf(&b, "[ike]\nlisten = [%q]\nretransmit_timeout = %q\n", g.outer, rt)
	if c.retransmitTries != nil {
		fmt.Fprintf(&b, "retransmit_tries = %d\n", *c.retransmitTries)
	}
	if c.retransmitBase > 0 {
		fmt.Fprintf(&b, "retransmit_base = %v\n", c.retransmitBase)
	}
	fmt.Fprintf(&b, "\n[connections.%s]\n", connName)
	fmt.Fprintf(&b, "remote_addrs = [%q]\nlocal_addrs = [%q]\n", g.remote, g.outer)
	fmt.Fprintf(&b, "proposals = [\"aes128gcm16-prfsha256-x25519\"]\n")
	// The natted lab detects its NAT for real; elsewhere UDP
	// encapsulation is forced so that the relay and the captures see
	// ESP in UDP on port 4500.
	fmt.Fprintf(&b, "encap = %v\n", l.cfg.topo != natted)
	if c.dpdDelay != "" {
		fmt.Fprintf(&b, "dpd_delay = %q\n", c.dpdDelay)
	}
	if c.keyingTries != nil {
		fmt.Fprintf(&b, "keyingtries = %d\n", *c.keyingTries)
	}
	fmt.Fprintf(&b, "\n[connections.%s.local]\nauth = \"psk\"\nid = %q\n", connName, localID)
	fmt.Fprintf(&b, "\n[connections.%s.remote]\nauth = \"psk\"\nid = %q\n", connName, remoteID)
	fmt.Fprintf(&b, "\n[connections.%s.children.%s]\n", connName, childName)
	fmt.Fprintf(&b, "local_ts = [%q]\nremote_ts = [%q]\n", localTS, remoteTS)
	start := c.startAction
	if start == "" {
		start = "none"
	}
	fmt.Fprintf(&b, "esp_proposals = [\"aes128gcm16\"]\nstart_action = %q\n", start)
	if c.dpdAction != "" {
		fmt.Fprintf(&b, "dpd_action = %q\n", c.dpdAction)
	}
	if c.rekeyPackets > 0 {
		fmt.Fprintf(&b, "rekey_packets = %d\n", c.rekeyPackets)
	}
	if c.lifePackets > 0 {
		fmt.Fprintf(&b, "life_packets = %d\n", c.lifePackets)
	}
	if c.randPackets != nil {
		fmt.Fprintf(&b, "rand_packets = %d\n", *c.randPackets)
	}
	fmt.Fprintf(&b, "\n[secrets.ike-%s]\nid = [%q, %q]\nsecret = %q\n", connName, idA, idB, psk)
	return b.String()
}

func ptr[T any](v T) *T { return &v }

// start runs esptun up in g's namespace; the daemon is stopped with
// SIGTERM (SIGKILL after 10s) when the test ends.
func (g *gateway) start(t *testing.T) {
	t.Helper()
	g.out = &lockedBuffer{}
	g.cmd = g.ns.Command(context.Background(), esptunBin, "up", "-c", g.conf)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	out := g.out
	done, err := testlab.Supervise(t, "gateway "+g.name, g.cmd, 10*time.Second, t.Errorf,
		func(err error) { g.err = err },
		func() {
			t.Logf("gateway %s: esptun up output (last 200 lines):\n%s", g.name, lastLines(out.String(), 200))
		})
	if err != nil {
		t.Fatalf("gateway %s: esptun up: %v", g.name, err)
	}
	g.done = done
}

func lastLines(s string, n int) string { return testlab.Tail(s, n) }

func (g *gateway) running() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// kill stops g's daemon with SIGKILL, so that it sends nothing more.
func (g *gateway) kill(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-g.done
}

// waitReady waits until the daemon answers on its control socket, then
// sets its TUN's queue length to tunQueueLen.
func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	err := testlab.Poll(15*time.Second, 50*time.Millisecond, g.running, testlab.SocketAnswers(g.sock, func() bool {
		_, ok := g.statusOK()
		return ok
	}))
	switch err {
	case testlab.ErrExited:
		t.Fatalf("gateway %s: esptun up exited early (%v); output:\n%s", g.name, g.err, g.out.String())
	case testlab.ErrTimeout:
		t.Fatalf("gateway %s: no answer on %s within 15s; output:\n%s", g.name, g.sock, g.out.String())
	}
	if _, err := g.ns.Run("ip", "link", "set", tunDev, "txqueuelen", strconv.Itoa(tunQueueLen)); err != nil {
		t.Fatal(err)
	}
}

// statusOK reads esptun status --json from g; ok is false when the daemon
// does not answer.
func (g *gateway) statusOK() (*control.Status, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, esptunBin, "status", "--json", "-s", g.sock).Output()
	if err != nil {
		return nil, false
	}
	var st control.Status
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, false
	}
	return &st, true
}

func (g *gateway) status(t *testing.T) *control.Status {
	t.Helper()
	st, ok := g.statusOK()
	if !ok {
		out, code := runCLI(t, 10*time.Second, "status", "--json", "-s", g.sock)
		t.Fatalf("gateway %s: esptun status --json: exit %d\n%s", g.name, code, out)
	}
	return st
}

// inboundSA returns g's inbound ESP SA with SPI spi ("0x..."), if any.
func inboundSA(st *control.Status, spi string) (control.SA, bool) {
	for _, sa := range st.SAs {
		if sa.Direction == "in" && strings.EqualFold(trimHex(sa.SPI), trimHex(spi)) {
			return sa, true
		}
	}
	return control.SA{}, false
}

func trimHex(s string) string {
	return strings.TrimLeft(strings.TrimPrefix(strings.ToLower(s), "0x"), "0")
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	return testlab.Poll(timeout, 50*time.Millisecond, nil, cond) == nil
}

// current returns st's one ESTABLISHED IKE SA with exactly one Child SA.
// ok is false if there is none, more than one, or another IKE SA in a
// state other than DELETING (one being deleted after a rekey may linger
// until its DELETE is answered or given up).
func current(st *control.Status) (control.IKESA, bool) {
	var cur []control.IKESA
	for _, sa := range st.IKESAs {
		switch sa.State {
		case "ESTABLISHED":
			cur = append(cur, sa)
		case "DELETING":
		default:
			return control.IKESA{}, false
		}
	}
	if len(cur) != 1 || len(cur[0].Children) != 1 {
		return control.IKESA{}, false
	}
	return cur[0], true
}

// settled reports whether st holds nothing but one ESTABLISHED IKE SA
// with one Child SA and that Child SA's two ESP SAs.
func settled(st *control.Status) bool {
	_, ok := current(st)
	return ok && len(st.IKESAs) == 1 && len(st.SAs) == 2
}

// paired checks that a and b are the two ends of one IKE SA and one Child
// SA.
func paired(a, b control.IKESA) bool {
	if a.SPIi != b.SPIi || a.SPIr != b.SPIr || len(a.Children) != 1 || len(b.Children) != 1 {
		return false
	}
	ca, cb := a.Children[0], b.Children[0]
	return strings.EqualFold(ca.SPIIn, cb.SPIOut) && strings.EqualFold(ca.SPIOut, cb.SPIIn)
}

// established waits until both gateways hold one established IKE SA with
// one Child SA, paired across the two sides (settle: and nothing else, no
// IKE SA being deleted and no other ESP SA), and returns A's and B's.
func (l *lab) established(t *testing.T, timeout time.Duration, settle bool) (control.IKESA, control.IKESA) {
	t.Helper()
	var (
		sa, sb   *control.Status
		cur, cub control.IKESA
	)
	ok := waitFor(timeout, func() bool {
		var oka, okb bool
		sa, oka = l.a.statusOK()
		sb, okb = l.b.statusOK()
		if !oka || !okb {
			return false
		}
		cur, oka = current(sa)
		cub, okb = current(sb)
		if !oka || !okb || !paired(cur, cub) {
			return false
		}
		return !settle || (settled(sa) && settled(sb))
	})
	if !ok {
		l.dumpStatus(t, sa, sb)
		t.Fatalf("no single established IKE SA with one Child SA, paired on both sides, within %v", timeout)
	}
	return cur, cub
}

func (l *lab) dumpStatus(t *testing.T, sa, sb *control.Status) {
	t.Helper()
	for _, x := range []struct {
		name string
		st   *control.Status
	}{{"A", sa}, {"B", sb}} {
		j, _ := json.MarshalIndent(x.st, "", "  ")
		t.Logf("gateway %s status: %s", x.name, j)
	}
}

// pingEventually waits until one ping from g to peer's inner address is
// answered, and returns how long that took.
func (g *gateway) pingEventually(t *testing.T, peer *gateway, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if !waitFor(timeout, func() bool {
		n, _ := g.ns.Ping(g.inner, peer.inner, 1, 56, 0, 300*time.Millisecond)
		return n == 1
	}) {
		t.Fatalf("gateway %s: no answer to ping %v -> %v within %v", g.name, g.inner, peer.inner, timeout)
	}
	return time.Since(start)
}

// rekey runs esptun rekey --kind NAME on g and returns how long it took
// and, on failure, its output.
func (g *gateway) rekey(t *testing.T, kind string) (time.Duration, error) {
	t.Helper()
	name := childName
	if kind == "ike" {
		name = connName
	}
	start := time.Now()
	out, code := runCLI(t, 40*time.Second, "rekey", "--"+kind, name, "-s", g.sock)
	if code != 0 {
		return time.Since(start), fmt.Errorf("gateway %s: esptun rekey --%s %s: exit %d: %s", g.name, kind, name, code, strings.TrimSpace(out))
	}
	return time.Since(start), nil
}

// procStats is what /proc says about one daemon.
type procStats struct {
	rssKiB uint64
	cpu    time.Duration // user + system
}

// readProc reads VmRSS from /proc/PID/status and utime+stime from
// /proc/PID/stat (in clock ticks of 1/100 s, USER_HZ on every Linux port
// Go runs on).
func readProc(pid int) (procStats, error) {
	var ps procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			ps.rssKiB, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return ps, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	ps.cpu = time.Duration(ut+st) * 10 * time.Millisecond
	return ps, nil
}

// netCounters reads the kernel's UDP counters and the interface drop
// counters of g's namespace, through its daemon's /proc/PID/net.
type netCounters struct {
	udp map[string]uint64            // /proc/net/snmp "Udp:" fields
	dev map[string]map[string]uint64 // interface -> rx_dropped, tx_dropped
}

func (g *gateway) netCounters(t *testing.T) netCounters {
	t.Helper()
	return readNetCounters(t, g.ns)
}

func readNetCounters(t *testing.T, ns *netns.NS) netCounters {
	t.Helper()
	nc := netCounters{udp: map[string]uint64{}, dev: map[string]map[string]uint64{}}
	snmp, err := ns.Run("cat", "/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(snmp, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			if i < len(names) {
				nc.udp[names[i]], _ = strconv.ParseUint(v, 10, 64)
			}
		}
	}
	dev, err := ns.Run("cat", "/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(dev, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 16 {
			continue
		}
		rxDrop, _ := strconv.ParseUint(f[3], 10, 64)
		txDrop, _ := strconv.ParseUint(f[11], 10, 64)
		nc.dev[strings.TrimSpace(name)] = map[string]uint64{"rx_dropped": rxDrop, "tx_dropped": txDrop}
	}
	return nc
}

// kernelDrops is what the kernel dropped between two readings: UDP receive
// and send buffer overflows and interface drops, as "name +n" for each
// counter that moved.
func kernelDrops(before, after netCounters) (total uint64, detail string) {
	var parts []string
	for _, k := range []string{"RcvbufErrors", "SndbufErrors", "InErrors", "MemErrors"} {
		if d := after.udp[k] - before.udp[k]; d > 0 {
			// InErrors includes RcvbufErrors: count it only once.
			if k != "InErrors" {
				total += d
			}
			parts = append(parts, fmt.Sprintf("Udp %s +%d", k, d))
		}
	}
	for dev, m := range after.dev {
		for _, k := range []string{"rx_dropped", "tx_dropped"} {
			if d := m[k] - before.dev[dev][k]; d > 0 {
				total += d
				parts = append(parts, fmt.Sprintf("%s %s +%d", dev, k, d))
			}
		}
	}
	if len(parts) == 0 {
		return 0, "none"
	}
	return total, strings.Join(parts, ", ")
}
