//go:build interop && linux

package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/testlab"
)

// The remote-access lab: a gateway, a road-warrior client and a host on the
// internet behind the gateway, in namespaces of their own:
//
//	client ix0 10.77.0.2 ==== 10.77.0.1 ix0 gateway ix1 10.99.0.254 ==== 10.99.0.1 ix1 inet
//	                                    office 10.78.2.1 (lo or TUN)
//
// The gateway (moon.interop.test, certificate) hands out 10.3.0.0/24 with the
// DNS server 10.78.2.53 and the split-DNS domain corp.interop.test, and
// forwards between its tunnels and the internet host, which is in no office
// subnet: only a full tunnel (remote_ts 0.0.0.0/0) reaches it. The client is
// alice (EAP-MSCHAPv2) or sun.interop.test (EAP-TLS).
//
// Namespaces are esptunrw-PID-N{g,c,i}. The client namespace gets its own
// /etc/netns/NAME/resolv.conf before anything runs in it, so that ip netns
// exec bind-mounts it over /etc/resolv.conf and a client that applies DNS
// never writes the host's file.
const (
	rwNSPrefix   = "esptunrw-"
	rwConn       = "rw"
	rwChild      = "net"
	rwPool       = "10.3.0.0/24"
	rwDNS        = "10.78.2.53"
	rwDomain     = "corp.interop.test"
	rwUser       = "alice"
	rwGwID       = "moon.interop.test"
	rwTLSID      = "sun.interop.test"
	rwOrigResolv = "# esptun interop: the client namespace's own resolv.conf\nnameserver 192.0.2.53\nsearch lab.invalid\n"
)

var (
	rwOffice   = netip.MustParsePrefix("10.78.2.0/24")
	rwInetHost = netip.MustParseAddr("10.99.0.1")
)

type rwLab struct {
	gw, client, inet *endpoint
	resolv           string // the client namespace's resolv.conf
	password         string
}

var rwSeq int

// newRWLab builds the three namespaces and their links; everything is
// removed in t.Cleanup.
func newRWLab(t *testing.T) *rwLab { return buildRWLab(t, rwNSPrefix, &rwSeq, true) }

// buildRWLab makes the gateway and client namespaces, named
// PREFIX-PID-N{g,c}, joined by a veth pair, the client's own resolv.conf
// and, with inet, the internet host behind the gateway (PREFIX-PID-Ni).
func buildRWLab(t *testing.T, prefix string, seq *int, inet bool) *rwLab {
	t.Helper()
	requirePrereq(t)
	if *seq == 0 {
		testlab.RemoveStale(prefix)
	}
	*seq++
	mk := func(label, suffix, outer, inner, innerNet, id string) *endpoint {
		ns, dir := newHost(t, fmt.Sprintf("%s%d-%d%s", prefix, os.Getpid(), *seq, suffix), prefix+label+"-")
		e := &endpoint{label: label, ns: ns, outer: netip.MustParseAddr(outer), id: id, dir: dir}
		if inner != "" {
			e.inner, e.innerNet = netip.MustParseAddr(inner), netip.MustParsePrefix(innerNet)
		}
		return e
	}
	l := &rwLab{
		gw:       mk("moon", "g", "10.77.0.1", "10.78.2.1", "10.78.2.0/24", rwGwID),
		client:   mk("sun", "c", "10.77.0.2", "", "", rwTLSID),
		password: fmt.Sprintf("pw-%d-%x", os.Getpid(), time.Now().UnixNano()),
	}
	var err error
	if l.resolv, err = testlab.ResolvConf(l.client.ns, rwOrigResolv); err != nil {
		fatalf(t, "%v", err)
	}
	if err := testlab.Link(l.client.ns, "ix0", []string{"10.77.0.2/24"}, l.gw.ns, "ix0", []string{"10.77.0.1/24"}); err != nil {
		fatalf(t, "veth: %v", err)
	}
	if !inet {
		return l
	}
	l.inet = mk("inet", "i", "10.99.0.1", "10.99.0.1", "10.99.0.0/24", "")
	if err := testlab.Link(l.gw.ns, "ix1", []string{"10.99.0.254/24"}, l.inet.ns, "ix1", []string{"10.99.0.1/24"}); err != nil {
		fatalf(t, "veth: %v", err)
	}
	for _, c := range [][]string{
		{"gw", "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"inet", "ip", "route", "add", "default", "via", "10.99.0.254"},
	} {
		e := map[string]*endpoint{"gw": l.gw, "inet": l.inet}[c[0]]
		if _, err := e.ns.Run(c[1:]...); err != nil {
			fatalf(t, "%v", err)
		}
	}
	return l
}

// rwCharonConf is strongswan.conf for the remote-access cells: the suite's
// plugins plus EAP (eap-identity, eap-mschapv2 with MD4 from gcrypt, eap-tls)
// and resolve, which writes the DNS servers a client gets into the
// instance's own file, never /etc/resolv.conf.
func rwCharonConf(dir string) string {
	base := strongswanConf(dir)
	base = strings.Replace(base, " kernel-libipsec kernel-netlink socket-default vici",
		" gcrypt eap-identity eap-mschapv2 eap-tls resolve kernel-libipsec kernel-netlink socket-default vici", 1)
	return strings.Replace(base, "\tinstall_routes = yes\n", fmt.Sprintf("\tinstall_routes = yes\n\tplugins {\n\t\tresolve {\n\t\t\tfile = %s\n\t\t}\n\t}\n",
		filepath.Join(dir, "resolv.conf")), 1)
}

// startRWCharon runs a charon with rwCharonConf in e's namespace and puts
// the run's ECDSA PKI into its swanctl directory (e's certificate and key
// under e.label, and the CA).
func startRWCharon(t *testing.T, e *endpoint) *charon {
	t.Helper()
	e.charonConf = rwCharonConf
	c := startCharon(t, e)
	p := pkiFor(t, authECDSA)
	sw := filepath.Join(e.dir, "swanctl")
	copyFile(t, p.cert(e.label), filepath.Join(sw, "x509", e.label+".pem"))
	copyFile(t, p.key(e.label), filepath.Join(sw, "private", e.label+".key"))
	copyFile(t, p.caCert(), filepath.Join(sw, "x509ca", "ca.pem"))
	return c
}

// loadConf writes swanctl.conf and loads it, with the connection rwConn.
func (c *charon) loadConf(t *testing.T, conf string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.e.dir, "swanctl", "swanctl.conf"), []byte(conf), 0o600); err != nil {
		fatalf(t, "%v", err)
	}
	if out, err := c.swanctl("--load-all", "--noprompt"); err != nil {
		fatalf(t, "%s: %v", c.e.label, err)
	} else if !strings.Contains(out, "loaded connection '"+rwConn+"'") {
		fatalf(t, "%s: swanctl --load-all did not load the connection: %s", c.e.label, out)
	}
}

// rwGatewaySpec is one gateway connection for the cells.
type rwGatewaySpec struct {
	auth     string // the clients' method: eap-mschapv2 | eap-tls
	localTS  string // the office (split) or 0.0.0.0/0 (full tunnel)
	ike, esp string // proposals; "" = the suite's default
	legacy   bool   // esptun: allow_legacy_proposals
}

func (s rwGatewaySpec) proposals() (string, string) {
	ike, esp := s.ike, s.esp
	if ike == "" {
		ike = "aes128gcm16-prfsha256-x25519"
	}
	if esp == "" {
		esp = "aes128gcm16"
	}
	return ike, esp
}

// swanctlGateway is the strongSwan gateway's swanctl.conf: pools with DNS
// and, as attribute 25 (INTERNAL_DNS_DOMAIN, RFC 8598), the split-DNS
// domain; swanctl names no such attribute, but takes a numbered one.
func (l *rwLab) swanctlGateway(s rwGatewaySpec) string {
	ike, esp := s.proposals()
	return fmt.Sprintf(`connections {
	%s {
		version = 2
		local_addrs = %s
		proposals = %s
		encap = yes
		pools = office
		send_cert = always
		local {
			auth = pubkey
			certs = %s.pem
			id = %s
		}
		remote {
			auth = %s
			eap_id = %%any
		}
		children {
			%s {
				local_ts = %s
				esp_proposals = %s
			}
		}
	}
}
pools {
	office {
		addrs = %s
		dns = %s
		25 = %s
	}
}
secrets {
	eap-%s {
		id = %s
		secret = "%s"
	}
}
`, rwConn, l.gw.outer, ike, l.gw.label, rwGwID, s.auth, rwChild, s.localTS, esp, rwPool, rwDNS, rwDomain, rwUser, rwUser, l.password)
}

// esptunGateway is esptun's configuration for the same gateway.
func (l *rwLab) esptunGateway(s rwGatewaySpec, sock string) string {
	ike, esp := s.proposals()
	g := testlab.RWGateway{
		Sock: sock, TUN: "esptun0", Office: l.gw.inner, Addr: l.gw.outer,
		RetransmitBase: 1.4, RetransmitTries: 3,
		Conn: rwConn, Child: rwChild, Proposal: ike, ESP: esp, Legacy: s.legacy,
		ID: rwGwID, Cert: filepath.Join(l.gw.dir, "moon.pem"), Key: filepath.Join(l.gw.dir, "moon.key"),
		ClientAuth: s.auth, LocalTS: s.localTS,
		Pool: rwPool, DNS: rwDNS, Domain: rwDomain, User: rwUser, Password: l.password,
	}
	if s.auth == "eap-tls" {
		g.CACert = filepath.Join(l.gw.dir, "ca.pem")
	}
	return g.Config()
}

// rwClientSpec is one client connection for the cells.
type rwClientSpec struct {
	auth     string // eap-mschapv2 | eap-tls
	remoteTS string // the office, or 0.0.0.0/0 (full tunnel)
	ike, esp string // strongSwan proposals ("" = the suite's default)
}

// esptunClient is esptun's road-warrior configuration.
func (l *rwLab) esptunClient(s rwClientSpec, sock string) string {
	ike, esp := rwGatewaySpec{ike: s.ike, esp: s.esp}.proposals()
	c := testlab.RWClient{
		Sock: sock, TUN: "esptun0", Addr: l.client.outer, RetransmitBase: 1.4, RetransmitTries: 3,
		Conn: rwConn, Child: rwChild, Proposal: ike, ESP: esp,
		Gateway: l.gw.outer, GatewayID: rwGwID, CACert: filepath.Join(l.client.dir, "ca.pem"),
		Auth: "eap-mschapv2", ID: rwUser, Password: l.password, RemoteTS: s.remoteTS,
	}
	if s.auth == "eap-tls" {
		c.Auth, c.ID, c.Password = "eap-tls", rwTLSID, ""
		c.Cert, c.Key = filepath.Join(l.client.dir, "sun.pem"), filepath.Join(l.client.dir, "sun.key")
	}
	return c.Config()
}

// swanctlClient is the strongSwan road warrior's swanctl.conf.
func (l *rwLab) swanctlClient(s rwClientSpec) string {
	ike, esp := rwGatewaySpec{ike: s.ike, esp: s.esp}.proposals()
	return fmt.Sprintf(`connections {
	%s {
		version = 2
		local_addrs = %s
		remote_addrs = %s
		proposals = %s
		encap = yes
		vips = 0.0.0.0
		local {
			auth = eap-mschapv2
			id = %s
			eap_id = %s
		}
		remote {
			auth = pubkey
			id = %s
		}
		children {
			%s {
				remote_ts = %s
				esp_proposals = %s
				start_action = none
			}
		}
	}
}
secrets {
	eap-%s {
		id = %s
		secret = "%s"
	}
}
`, rwConn, l.client.outer, l.gw.outer, ike, rwUser, rwUser, rwGwID, rwChild, s.remoteTS, esp, rwUser, rwUser, l.password)
}

// startEsptunConf runs `esptun up` with conf in e's namespace until
// t.Cleanup (SIGTERM, exit 0 required), after `esptun check`, with e's
// certificate, key and the CA of the ECDSA PKI next to it.
func startEsptunConf(t *testing.T, e *endpoint, conf func(sock string) string) *esptunProc {
	t.Helper()
	requireEsptunIKE(t)
	pk := pkiFor(t, authECDSA)
	copyFile(t, pk.cert(e.label), filepath.Join(e.dir, e.label+".pem"))
	copyFile(t, pk.key(e.label), filepath.Join(e.dir, e.label+".key"))
	copyFile(t, pk.caCert(), filepath.Join(e.dir, "ca.pem"))
	p := &esptunProc{
		e:    e,
		conf: filepath.Join(e.dir, "esptun.toml"),
		sock: filepath.Join(e.dir, "esptun.sock"),
		logf: filepath.Join(e.dir, "esptun.log"),
		done: make(chan struct{}),
	}
	if err := os.WriteFile(p.conf, []byte(conf(p.sock)), 0o600); err != nil {
		fatalf(t, "%v", err)
	}
	if out, code := p.cli(30*time.Second, "check", "-c", p.conf); code != 0 {
		fatalf(t, "esptun check -c %s: exit %d:\n%s", p.conf, code, out)
	}
	logFile, err := os.Create(p.logf)
	if err != nil {
		fatalf(t, "%v", err)
	}
	defer logFile.Close()
	p.cmd = e.ns.Command(context.Background(), esptunBin, "up", "-c", p.conf)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := startChild(p.cmd); err != nil {
		fatalf(t, "starting esptun: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.alive() {
			if err := p.terminate(15 * time.Second); err != nil {
				errorf(t, "esptun up after SIGTERM: %v", err)
				p.kill()
			}
		}
		if t.Failed() {
			t.Logf("%s esptun log (tail):\n%s", e.label, tail(p.log(), 80))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := p.statusJSON(); err == nil {
			return p
		}
		if !p.alive() {
			fatalf(t, "esptun up exited at start: %v\n%s", p.err, tail(p.log(), 40))
		}
		if time.Now().After(deadline) {
			fatalf(t, "esptun's control socket did not answer within 15s\n%s", tail(p.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rwIKE is what the remote-access cells read of an esptun IKE SA.
type rwIKE struct {
	State       string
	VIPs        []string
	EAPID       string
	RemoteAddr  string
	Established bool
	BytesIn     uint64
	BytesOut    uint64
}

// rwState reads esptun's IKE SAs of rwConn from status --json ("vips",
// "eap_id", "remote_addr", "established", children's bytes).
func (p *esptunProc) rwState() ([]rwIKE, error) {
	raw, err := p.statusJSON()
	if err != nil {
		return nil, err
	}
	var doc struct {
		IKESAs []struct {
			Name        string     `json:"name"`
			State       string     `json:"state"`
			VIPs        []string   `json:"vips"`
			EAPID       string     `json:"eap_id"`
			RemoteAddr  string     `json:"remote_addr"`
			Established *time.Time `json:"established"`
			Children    []struct {
				BytesIn  uint64 `json:"bytes_in"`
				BytesOut uint64 `json:"bytes_out"`
			} `json:"children"`
		} `json:"ike_sas"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var out []rwIKE
	for _, s := range doc.IKESAs {
		if s.Name != rwConn {
			continue
		}
		r := rwIKE{State: s.State, VIPs: s.VIPs, EAPID: s.EAPID, RemoteAddr: s.RemoteAddr, Established: s.Established != nil}
		for _, c := range s.Children {
			r.BytesIn += c.BytesIn
			r.BytesOut += c.BytesOut
		}
		out = append(out, r)
	}
	return out, nil
}

// waitVIP waits until esptun reports an established IKE SA with a virtual IP
// and the address is on its TUN device.
func (p *esptunProc) waitVIP(t *testing.T, d time.Duration) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if sas, err := p.rwState(); err == nil {
			for _, s := range sas {
				if s.State == "ESTABLISHED" && len(s.VIPs) > 0 {
					a, err := netip.ParseAddr(s.VIPs[0])
					if err != nil {
						fatalf(t, "esptun's virtual IP %q: %v", s.VIPs[0], err)
					}
					if testlab.HasAddr(p.e.ns, "esptun0", a) {
						return a
					}
				}
			}
		}
		if !p.alive() {
			fatalf(t, "esptun exited: %v\n%s", p.err, tail(p.log(), 40))
		}
		if time.Now().After(deadline) {
			fatalf(t, "esptun: no established IKE SA with a virtual IP on esptun0 within %v\n%s", d, tail(p.log(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// charonVIP waits until charon lists an established IKE SA of rwConn with a
// local virtual IP and an installed Child SA, and returns the address.
func (c *charon) charonVIP(t *testing.T, d time.Duration) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if msgs, err := viciListSAs(c.vici()); err == nil {
			for _, m := range msgs {
				ike := m.sect(rwConn)
				if ike == nil || ike.str("state") != "ESTABLISHED" || len(ike.list("local-vips")) == 0 || len(ike.sect("child-sas")) == 0 {
					continue
				}
				a, err := netip.ParseAddr(ike.list("local-vips")[0])
				if err != nil {
					fatalf(t, "charon's virtual IP %q: %v", ike.list("local-vips")[0], err)
				}
				return a
			}
		}
		if !c.alive() {
			fatalf(t, "charon exited\n%s", tail(c.log(), 40))
		}
		if time.Now().After(deadline) {
			fatalf(t, "charon: no established IKE SA with a virtual IP within %v\n%s", d, tail(c.log(), 60))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// trafficThenDelete pings between the client at vip (charon c) and the
// office both ways, sends size bytes of TCP each way and checks esptun
// gateway gw's Child SA counters; then c deletes its IKE SA, which gw must
// forget within goneTimeout.
func (l *rwLab) trafficThenDelete(t *testing.T, gw *esptunProc, c *charon, vip netip.Addr, size int64) {
	t.Helper()
	client := at(l.client, vip)
	pingOK(t, client, l.gw, 5)
	pingOK(t, l.gw, client, 3)
	if err := tcpTransfer(client, l.gw, size, 0, nil); err != nil {
		fatalf(t, "TCP %s -> office %s: %v", vip, l.gw.inner, err)
	}
	if err := tcpTransfer(l.gw, client, size, 0, nil); err != nil {
		fatalf(t, "TCP office %s -> %s: %v", l.gw.inner, vip, err)
	}
	if sas, err := gw.rwState(); err != nil || len(sas) != 1 || sas[0].BytesIn < uint64(size) || sas[0].BytesOut < uint64(size) {
		errorf(t, "esptun gateway's Child SA counters after %d bytes each way: %+v (%v)", size, sas, err)
	}
	if _, err := c.swanctl("--terminate", "--ike", rwConn, "--timeout", "30"); err != nil {
		fatalf(t, "%v", err)
	}
	deadline := time.Now().Add(goneTimeout)
	for {
		sas, err := gw.rwState()
		if err == nil && len(sas) == 0 {
			return
		}
		if time.Now().After(deadline) {
			fatalf(t, "esptun gateway still lists the client after its DELETE: %+v (%v)", sas, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// routeDev returns the device e's kernel routes dst through.
func routeDev(t *testing.T, e *endpoint, dst netip.Addr) string {
	t.Helper()
	dev, err := testlab.RouteDev(e.ns, dst)
	if err != nil {
		fatalf(t, "%v", err)
	}
	return dev
}

// at returns a copy of e whose inner (traffic) address is a, for pingOK and
// tcpTransfer from or to a virtual IP.
func at(e *endpoint, a netip.Addr) *endpoint {
	c := *e
	c.inner = a
	return &c
}

func (l *rwLab) resolvConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(l.resolv)
	if err != nil {
		fatalf(t, "%v", err)
	}
	return string(b)
}
