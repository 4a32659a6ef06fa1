//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/netns"
	"github.com/esptun/esptun/internal/testlab"
)

// The road-warrior lab: one esptun gateway and any number of esptun
// clients, each client in a network namespace of its own, all joined by a
// bridge in the gateway's namespace:
//
//	client i: rw0 10.77.1.i/16 ──┐
//	                             br0 10.77.0.1/16  gateway (moon.example, certificate)
//	client j: rw0 10.77.1.j/16 ──┘                 [esptun0 10.78.0.1: the office]
//
// The gateway authenticates itself with an ECDSA certificate and its
// clients with EAP-MSCHAPv2 (users from a users file), and hands out
// virtual IPs, a DNS server and a split-DNS domain from one pool. Clients
// ask for a virtual IP (vips = ["0.0.0.0"]) and route the office network
// (10.78.0.0/16) into their TUN device.
//
// Namespaces are named esptunrw-PID-N...; each client namespace gets an
// /etc/netns/NAME/resolv.conf before its daemon starts, so that ip netns
// exec bind-mounts it over /etc/resolv.conf and the DNS a client applies
// never reaches the host's file. Everything is removed when the test ends.
const (
	rwConn     = "rw"
	rwChild    = "net"
	rwGwID     = ikeIDA // the leaf writeIKECerts makes as a-cert.pem
	rwOffice   = "10.78.0.0/16"
	rwProposal = "aes128gcm16-prfsha256-x25519"
	rwESP      = "aes128gcm16"
	rwDNS      = "10.78.0.53"
	rwDomain   = "corp.example"
	rwNSPrefix = "esptunrw-"
	// rwOrigResolv is what every client namespace's resolv.conf holds
	// before and after its client runs.
	rwOrigResolv = "# esptun road-warrior test: the namespace's own resolv.conf\nnameserver 192.0.2.53\nsearch lab.invalid\n"
)

var (
	rwGwAddr     = netip.MustParseAddr("10.77.0.1")
	rwOfficeHost = netip.MustParseAddr("10.78.0.1")
)

// rwLabConfig chooses what differs between road-warrior labs.
type rwLabConfig struct {
	Pool            string // the pool's addrs; default 10.3.0.0/24
	HalfOpenTimeout string // the gateway's [ike] half_open_timeout; default esptun's
	Users           int    // EAP users in the gateway's users file: u1..uN
}

type rwLab struct {
	t      *testing.T
	cfg    rwLabConfig
	dir    string
	prefix string
	gw     *gateway
	users  map[string]string // user -> password

	mu      sync.Mutex
	clients []*rwClient
	seq     int
}

// rwClient is one esptun road-warrior client in its own namespace.
type rwClient struct {
	*gateway
	user, password string
	outer          netip.Addr
	resolv         string // /etc/netns/NS/resolv.conf
	past           string // output of the daemon's earlier runs
}

var rwLabSeq atomic.Int32

// newRWLab makes the gateway's namespace and bridge, its certificate, users
// file and configuration, and starts it. Clients are added with addClient.
func newRWLab(t *testing.T, cfg rwLabConfig) *rwLab {
	t.Helper()
	skipUnlessNetwork(t)
	testlab.RemoveStale(rwNSPrefix)
	if cfg.Pool == "" {
		cfg.Pool = "10.3.0.0/24"
	}
	dir, err := os.MkdirTemp("", rwNSPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &rwLab{t: t, cfg: cfg, dir: dir, users: map[string]string{},
		prefix: testlab.Prefix(rwNSPrefix, int64(rwLabSeq.Add(1)))}
	writeIKECerts(t, dir, "ecdsa")

	l.writeUsers(t)
	l.gw = l.newGateway(t)
	l.gw.conf = filepath.Join(dir, "gw.toml")
	l.gw.sock = filepath.Join(dir, "gw.sock")
	l.writeConf(t, l.gw.conf, l.gwConfig())
	if os.Getenv("ESPTUN_E2E_LOGS") != "" {
		t.Cleanup(func() { t.Logf("gateway: esptun up output:\n%s", l.gw.out.String()) })
	}
	l.gw.start(t)
	l.gw.waitReady(t)
	return l
}

// writeUsers makes the users u1..uN of the lab's configuration and writes
// the gateway's users file.
func (l *rwLab) writeUsers(t *testing.T) {
	t.Helper()
	for i := 1; i <= l.cfg.Users; i++ {
		// Distinctive and random, so that a search of the logs for it
		// cannot match anything else.
		l.users[fmt.Sprintf("u%d", i)] = fmt.Sprintf("pw-%x", randomKey(t, 12))
	}
	if err := testlab.WriteUsers(filepath.Join(l.dir, "users.txt"), l.users); err != nil {
		t.Fatal(err)
	}
}

// newGateway makes the gateway's namespace with the bridge br0 that
// clients (or a router) join. It does not write or start the daemon.
func (l *rwLab) newGateway(t *testing.T) *gateway {
	t.Helper()
	gw := &gateway{name: "gw", ns: l.newNS(t, "gw"), inner4: rwOfficeHost, veth: "br0"}
	if err := testlab.Bridge(gw.ns, "br0", "02:00:0a:4d:00:01", rwGwAddr.String()+"/16"); err != nil {
		t.Fatal(err)
	}
	return gw
}

// newNS makes a namespace of the lab, deleted (with its /etc/netns
// directory) when the test ends.
func (l *rwLab) newNS(t *testing.T, suffix string) *netns.NS {
	t.Helper()
	ns, err := testlab.NS(t, l.prefix+suffix, t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func (l *rwLab) writeConf(t *testing.T, path, conf string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, 10*time.Second, "check", "-c", path); code != 0 {
		t.Fatalf("esptun check -c %s: exit %d\n%s\nconfig:\n%s", path, code, out, conf)
	}
}

func (l *rwLab) gwConfig() string {
	return testlab.RWGateway{
		Sock: l.gw.sock, TUN: tunDev, Office: rwOfficeHost, Addr: rwGwAddr,
		RetransmitTries: 3, HalfOpenTimeout: l.cfg.HalfOpenTimeout,
		Conn: rwConn, Child: rwChild, Proposal: rwProposal, ESP: rwESP,
		ID: rwGwID, Cert: "a-cert.pem", Key: "a-key.pem", ClientAuth: "eap-mschapv2", LocalTS: rwOffice,
		Pool: l.cfg.Pool, DNS: rwDNS, Domain: rwDomain, UsersFile: "users.txt",
	}.Config()
}

// rwClientOpts chooses what differs between clients.
type rwClientOpts struct {
	User     string // EAP user; its password from the users file
	Password string // overrides the user's password (a wrong one)
	NoStart  bool   // only write the configuration and prepare the namespace
}

// addClient makes a client namespace joined to the gateway's bridge, with
// its own resolv.conf, writes the client's configuration and, unless
// NoStart, starts it. It does not wait for the IKE SA.
func (l *rwLab) addClient(t *testing.T, o rwClientOpts) *rwClient {
	t.Helper()
	l.mu.Lock()
	l.seq++
	i := l.seq
	l.mu.Unlock()
	if i > 250 {
		t.Fatalf("road-warrior lab: more than 250 clients")
	}
	pw := l.users[o.User]
	if o.Password != "" {
		pw = o.Password
	}
	name := fmt.Sprintf("c%d", i)
	ns := l.newNS(t, name)
	c := &rwClient{gateway: &gateway{name: name, ns: ns, veth: "rw0"}, user: o.User, password: pw,
		outer: netip.AddrFrom4([4]byte{10, 77, 1, byte(i)})}
	if err := testlab.Link(ns, "rw0", []string{c.outer.String() + "/16"}, l.gw.ns, "rwc"+strconv.Itoa(i), nil); err != nil {
		t.Fatal(err)
	}
	l.gw.mustRun(t, "ip", "link", "set", "rwc"+strconv.Itoa(i), "master", "br0")
	var err error
	if c.resolv, err = testlab.ResolvConf(ns, rwOrigResolv); err != nil {
		t.Fatal(err)
	}
	l.configure(t, c)
	if !o.NoStart {
		c.start(t)
		c.waitReady(t)
	}
	return c
}

// configure gives client c a directory of its own with the CA, writes and
// checks its configuration there, and adds it to the lab. A directory per
// client: the daemon keeps its host configuration state next to its
// control socket, named after the TUN device and the connection, which
// are the same for every client.
func (l *rwLab) configure(t *testing.T, c *rwClient) {
	t.Helper()
	cdir := filepath.Join(l.dir, c.name)
	if err := os.Mkdir(cdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(l.dir, "ca.pem"), filepath.Join(cdir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	c.conf = filepath.Join(cdir, "esptun.toml")
	c.sock = filepath.Join(cdir, "esptun.sock")
	l.writeConf(t, c.conf, c.config())
	l.mu.Lock()
	l.clients = append(l.clients, c)
	l.mu.Unlock()
}

func (c *rwClient) config() string {
	return testlab.RWClient{
		Sock: c.sock, TUN: tunDev, Addr: c.outer, RetransmitTries: 2,
		Conn: rwConn, Child: rwChild, Proposal: rwProposal, ESP: rwESP,
		Gateway: rwGwAddr, GatewayID: rwGwID, CACert: "ca.pem",
		Auth: "eap-mschapv2", ID: c.user, Password: c.password, RemoteTS: rwOffice,
	}.Config()
}

// rwStatus is the part of esptun status --json the road-warrior tests read.
type rwStatus struct {
	IKESAs []rwIKESA `json:"ike_sas"`
	IKE    *struct {
		Received    uint64 `json:"received"`
		Dropped     uint64 `json:"dropped"`
		Invalid     uint64 `json:"invalid"`
		AuthFailed  uint64 `json:"auth_failed"`
		CookiesSent uint64 `json:"cookies_sent"`
		InboxFull   uint64 `json:"inbox_full"`
		HalfOpen    int64  `json:"half_open"`
	} `json:"ike"`
	SAs []SAStatus `json:"sas"`
}

type rwIKESA struct {
	Name        string          `json:"name"`
	State       string          `json:"state"`
	RemoteAddr  string          `json:"remote_addr"`
	RemoteID    string          `json:"remote_id"`
	Established *time.Time      `json:"established"`
	VIPs        []string        `json:"vips"`
	EAPID       string          `json:"eap_id"`
	Children    []childSAStatus `json:"children"`
}

// rwStatusOK reads g's status; ok is false when the daemon does not answer.
func (g *gateway) rwStatusOK(t *testing.T) (*rwStatus, bool) {
	t.Helper()
	out, code := runCLI(t, 20*time.Second, "status", "--json", "-s", g.sock)
	if code != 0 {
		return nil, false
	}
	var st rwStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%s: esptun status --json: %v\n%s", g.name, err, out)
	}
	return &st, true
}

func (g *gateway) rwStatus(t *testing.T) *rwStatus {
	t.Helper()
	st, ok := g.rwStatusOK(t)
	if !ok {
		t.Fatalf("%s: esptun status --json does not answer; output:\n%s", g.name, g.out.String())
	}
	return st
}

// established returns the client's IKE SA once it is ESTABLISHED with a
// virtual IP and a Child SA.
func (c *rwClient) established(t *testing.T) (rwIKESA, bool) {
	st, ok := c.rwStatusOK(t)
	if !ok {
		return rwIKESA{}, false
	}
	for _, sa := range st.IKESAs {
		if sa.State == "ESTABLISHED" && len(sa.VIPs) > 0 && len(sa.Children) > 0 {
			return sa, true
		}
	}
	return rwIKESA{}, false
}

// startAll starts the daemons of clients (made with NoStart) all at once
// and waits for each to be up with its virtual IP (each within timeout),
// which must be in the pool and differ from every other client's. It
// returns the addresses in the order of clients.
func (l *rwLab) startAll(t *testing.T, clients []*rwClient, timeout time.Duration) []netip.Addr {
	t.Helper()
	start := time.Now()
	for _, c := range clients {
		c.start(t)
	}
	for _, c := range clients {
		c.waitReady(t)
	}
	t.Logf("%d clients started in %v", len(clients), time.Since(start).Round(time.Millisecond))
	vips := make([]netip.Addr, len(clients))
	owner := map[netip.Addr]string{}
	pool := netip.MustParsePrefix(l.cfg.Pool)
	for i, c := range clients {
		vips[i] = c.waitVIP(t, timeout)
		if !pool.Contains(vips[i]) {
			t.Errorf("%s: virtual IP %s is not in the pool %s", c.name, vips[i], pool)
		}
		if o, dup := owner[vips[i]]; dup {
			t.Errorf("%s and %s both got %s", o, c.user, vips[i])
		}
		owner[vips[i]] = c.user
	}
	return vips
}

// waitVIP waits until the client is up and its virtual IP is on its TUN
// device, and returns the address.
func (c *rwClient) waitVIP(t *testing.T, timeout time.Duration) netip.Addr {
	t.Helper()
	var vip netip.Addr
	if !waitFor(timeout, func() bool {
		sa, ok := c.established(t)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(sa.VIPs[0])
		if err != nil {
			t.Fatalf("%s: virtual IP %q: %v", c.name, sa.VIPs[0], err)
		}
		vip = a
		return c.tunHas(a)
	}) {
		t.Fatalf("%s (%s): no established IKE SA with a virtual IP on %s within %v; log tail:\n%s",
			c.name, c.user, tunDev, timeout, tailLines(c.out.String(), 30))
	}
	return vip
}

// tunHas reports whether a is an address of the client's TUN device.
func (c *rwClient) tunHas(a netip.Addr) bool { return testlab.HasAddr(c.ns, tunDev, a) }

// routeDev returns the device the client's kernel routes dst through.
func (c *rwClient) routeDev(t *testing.T, dst netip.Addr) string {
	t.Helper()
	dev, err := testlab.RouteDev(c.ns, dst)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return dev
}

func (c *rwClient) resolvConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(c.resolv)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return string(b)
}

// restart starts the client's daemon again after stop.
func (c *rwClient) restart(t *testing.T) {
	t.Helper()
	c.past += c.out.String()
	c.start(t)
	c.waitReady(t)
}

// stop sends SIGTERM and waits for exit 0.
func (c *rwClient) stop(t *testing.T) {
	t.Helper()
	if !c.running() {
		t.Fatalf("%s: esptun exited already (%v)", c.name, c.err)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		if c.err != nil {
			t.Errorf("%s: esptun up after SIGTERM: %v, want exit 0", c.name, c.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: esptun up did not exit within 15s of SIGTERM", c.name)
	}
}

// checkSecretsNotLogged fails t if any password of the lab (the users
// file's and any wrong one a client used) appears in any daemon's output.
func (l *rwLab) checkSecretsNotLogged(t *testing.T) {
	t.Helper()
	secrets := map[string]bool{}
	for _, pw := range l.users {
		secrets[pw] = true
	}
	l.mu.Lock()
	clients := append([]*rwClient(nil), l.clients...)
	l.mu.Unlock()
	logs := map[string]string{"gateway": l.gw.out.String()}
	for _, c := range clients {
		secrets[c.password] = true
		if c.out != nil {
			logs[c.name] = c.past + c.out.String()
		}
	}
	searched := 0
	for name, log := range logs {
		searched += len(log)
		for s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("%s: the debug log shows an EAP password", name)
			}
		}
	}
	t.Logf("searched %d bytes of debug logs of %d daemons for %d passwords: none found", searched, len(logs), len(secrets))
}

func tailLines(s string, n int) string { return testlab.Tail(s, n) }
