package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/spd"
)

func defaultIKE() IKE {
	return IKE{
		Port: 500, NATTPort: 4500,
		RetransmitTimeout: 4 * time.Second, RetransmitBase: 1.8, RetransmitTries: 5,
		CookieThreshold: 30, HalfOpenLimit: 10000, HalfOpenTimeout: 30 * time.Second,
		FragmentSize: 1280, KeepaliveInterval: 20 * time.Second,
	}
}

func mustSelectors(t *testing.T, ss ...string) []spd.Selector {
	t.Helper()
	var out []spd.Selector
	for _, s := range ss {
		sel, err := spd.ParseSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sel)
	}
	return out
}

func mustIKE(t *testing.T, ss ...string) []crypto.Proposal {
	t.Helper()
	var out []crypto.Proposal
	for _, s := range ss {
		p, err := crypto.ParseIKEProposal(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func mustESP(t *testing.T, ss ...string) []crypto.Proposal {
	t.Helper()
	var out []crypto.Proposal
	for _, s := range ss {
		p, err := crypto.ParseESPProposalTransforms(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestDesignExampleFull parses every section of the design notes' example.
func TestDesignExampleFull(t *testing.T) {
	cfg := mustParse(t, designExample+designIKE)
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	if len(cfg.Manual) != 1 || len(cfg.Connections) != 1 || len(cfg.Secrets) != 1 {
		t.Fatalf("sections: %d manual, %d connections, %d secrets", len(cfg.Manual), len(cfg.Connections), len(cfg.Secrets))
	}
	want := &Connection{
		Name: "site", Line: 26, Version: 2,
		LocalAddrs:      []PeerAddr{{Prefix: netip.MustParsePrefix("10.77.0.1/32")}},
		RemoteAddrs:     []PeerAddr{{Prefix: netip.MustParsePrefix("10.77.0.2/32")}},
		LocalPort:       500,
		RemotePort:      500,
		Proposals:       mustIKE(t, "aes128gcm16-prfsha256-x25519"),
		ProposalStrings: []string{"aes128gcm16-prfsha256-x25519"},
		Encap:           true,
		DPDDelay:        30 * time.Second,
		RekeyTime:       4 * time.Hour, OverTime: 24 * time.Minute, RandTime: 24 * time.Minute,
		KeyingTries: 1, Unique: "no", SendCertReq: true, SendCert: "ifasked", Fragmentation: "yes",
		StartAction: "start",
		Local:       AuthRound{Line: 37, Auth: "psk", ID: "moon.example", Revocation: "relaxed"},
		Remote:      AuthRound{Line: 41, Auth: "psk", ID: "sun.example", Revocation: "relaxed"},
		Children: []*Child{{
			Name: "net", Line: 45,
			LocalTS:            TrafficSelectors{Selectors: mustSelectors(t, "10.78.1.0/24")},
			RemoteTS:           TrafficSelectors{Selectors: mustSelectors(t, "10.78.2.0/24")},
			ESPProposals:       mustESP(t, "aes128gcm16"),
			ESPProposalStrings: []string{"aes128gcm16"},
			Mode:               "tunnel",
			RekeyTime:          time.Hour, LifeTime: 66 * time.Minute, RandTime: 6 * time.Minute,
			StartAction: "start", DPDAction: "clear", CloseAction: "none", ReplayWindow: 1024,
			ownStartAction: true,
		}},
	}
	if got := cfg.Connections[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("connection:\n got %+v\nwant %+v", got, want)
		if len(got.Children) == 1 {
			t.Errorf("child:\n got %+v\nwant %+v", got.Children[0], want.Children[0])
		}
	}
	s := cfg.Secrets[0]
	if s.Name != "ike-site" || s.Line != 52 || s.Type != SecretIKE || !reflect.DeepEqual(s.IDs, []string{"moon.example", "sun.example"}) ||
		string(s.Data) != "..." || s.File != "" || s.Key.Signer != nil {
		t.Errorf("secret = %+v", s)
	}
	if got := cfg.Line("connections.site.children.net.esp_proposals"); got != 48 {
		t.Errorf("Line(esp_proposals) = %d, want 48", got)
	}
}

func TestIKEDefaultsAndKeys(t *testing.T) {
	if got := mustParse(t, "[ike]\n").IKE; !reflect.DeepEqual(got, defaultIKE()) {
		t.Errorf("defaults = %+v", got)
	}
	cfg := mustParse(t, `[ike]
retransmit_timeout = "2.5s"
retransmit_base = 2
retransmit_tries = 3
cookie_threshold = 0
half_open_limit = 0
half_open_timeout = 10
fragment_size = 1400
keepalive_interval = "0"
`)
	want := defaultIKE()
	want.RetransmitTimeout, want.RetransmitBase, want.RetransmitTries = 2500*time.Millisecond, 2, 3
	want.CookieThreshold, want.HalfOpenLimit, want.HalfOpenTimeout = 0, 0, 10*time.Second
	want.FragmentSize, want.KeepaliveInterval = 1400, 0
	if !reflect.DeepEqual(cfg.IKE, want) {
		t.Errorf("got %+v\nwant %+v", cfg.IKE, want)
	}
}

// fixtures are files that connections and secrets refer to.
type fixtures struct {
	dir                                                 string
	cert, ca, ecKey, rsaKey, sec1Key, encKey, legacyKey string
	psk, openKey, openPSK, emptyPSK, notKey, unreadable string
}

func newFixtures(t *testing.T) *fixtures {
	t.Helper()
	dir := t.TempDir()
	f := &fixtures{dir: dir}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
		return p
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, b []byte, h map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: h, Bytes: b})
	}
	f.cert = write("moon.pem", pemOf("CERTIFICATE", []byte{0x30, 0}, nil), 0o644)
	f.ca = write("ca.pem", pemOf("CERTIFICATE", []byte{0x30, 0}, nil), 0o644)
	f.ecKey = write("moon.key", pemOf("PRIVATE KEY", p8, nil), 0o600)
	f.rsaKey = write("rsa.key", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk), nil), 0o600)
	f.sec1Key = write("ec.der", sec1, 0o600)
	f.encKey = write("enc.key", pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0}, nil), 0o600)
	f.legacyKey = write("legacy.key", pemOf("RSA PRIVATE KEY", []byte{1, 2}, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}), 0o600)
	f.psk = write("psk.txt", []byte("Hunter2FromFile\n"), 0o600)
	f.openKey = write("open.key", pemOf("PRIVATE KEY", p8, nil), 0o644)
	f.openPSK = write("open.psk", []byte("Hunter2FromFile\r\n"), 0o640)
	f.emptyPSK = write("empty.psk", []byte("\n"), 0o600)
	f.notKey = write("not.key", []byte("Hunter2 is not a key\n"), 0o600)
	f.unreadable = write("unreadable.key", pemOf("PRIVATE KEY", p8, nil), 0o000)
	return f
}

// conn writes a [connections.c] section of 1 + len(keys) lines whose keys
// are on lines 2, 3, ... in order, then extra sections verbatim.
func conn(keys []string, extra string) string {
	var b strings.Builder
	b.WriteString("[connections.c]\n")
	for _, k := range keys {
		b.WriteString(k + "\n")
	}
	return b.String() + extra
}

func TestConnectionDefaults(t *testing.T) {
	cfg := mustParse(t, "[ike]\nport = 1500\n[connections.rw]\n[connections.rw.local]\nauth = \"psk\"\n[connections.rw.remote]\nauth = \"psk\"\n"+
		"[connections.rw.children.a]\n[secrets.ike]\nsecret = \"0sSHVudGVyMg==\"\n")
	c := cfg.Connections[0]
	want := &Connection{
		Name: "rw", Line: 3, Version: 2,
		LocalAddrs: []PeerAddr{{Any: true}}, RemoteAddrs: []PeerAddr{{Any: true}},
		LocalPort: 1500, RemotePort: 500,
		Proposals: crypto.DefaultIKEProposals(),
		RekeyTime: 4 * time.Hour, OverTime: 24 * time.Minute, RandTime: 24 * time.Minute,
		KeyingTries: 1, Unique: "no", SendCertReq: true, SendCert: "ifasked", Fragmentation: "yes", StartAction: "none",
		Local:  AuthRound{Line: 4, Auth: "psk", Revocation: "relaxed"},
		Remote: AuthRound{Line: 6, Auth: "psk", ID: "%any", Revocation: "relaxed"},
		Children: []*Child{{
			Name: "a", Line: 8,
			LocalTS: TrafficSelectors{Dynamic: true}, RemoteTS: TrafficSelectors{Dynamic: true},
			ESPProposals: crypto.DefaultESPProposals(), Mode: "tunnel",
			RekeyTime: time.Hour, LifeTime: 66 * time.Minute, RandTime: 6 * time.Minute,
			StartAction: "none", DPDAction: "clear", CloseAction: "none", ReplayWindow: 1024,
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if s := cfg.Secrets[0]; string(s.Data) != "Hunter2" || s.IDs != nil || s.Type != SecretIKE {
		t.Errorf("secret = %+v", s)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}

	// Derived defaults follow what is set: life_time from rekey_time,
	// rand_time from both, over_time and rand_time from the IKE rekey_time;
	// byte and packet limits from their rekey values.
	cfg = mustParse(t, conn([]string{`rekey_time = "10h"`, `start_action = "trap"`, `remote_addrs = ["gw.example.org"]`},
		"[connections.c.local]\nauth = \"psk\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike-x]\nsecret = \"x\"\n"+
			"[connections.c.children.x]\nrekey_time = \"20m\"\nrekey_bytes = \"1G\"\nrekey_packets = 1000\nlife_packets = 2000\n"))
	c = cfg.Connections[0]
	ch := c.Children[0]
	if c.OverTime != time.Hour || c.RandTime != time.Hour || !reflect.DeepEqual(c.RemoteAddrs, []PeerAddr{{Host: "gw.example.org"}}) ||
		ch.StartAction != "trap" || ch.LifeTime != 22*time.Minute || ch.RandTime != 2*time.Minute ||
		ch.RekeyBytes != 1<<30 || ch.LifeBytes != (1<<30)+(1<<30)/10 || ch.RandBytes != (1<<30)/10 ||
		ch.RekeyPackets != 1000 || ch.LifePackets != 2000 || ch.RandPackets != 1000 {
		t.Errorf("derived: %+v %+v", c, ch)
	}
}

func TestConnectionRoundTrip(t *testing.T) {
	f := newFixtures(t)
	src := fmt.Sprintf(`[ike]
natt_port = 4501
[connections.gw]
version = 0
local_addrs = ["10.77.0.1", "10.77.0.0/16", "10.1.0.1-10.1.0.9", "%%any6"]
remote_addrs = ["gw.example.org", "fd00::2, 10.0.0.9"]
local_port = 4501
remote_port = 4500
proposals = ["aes256-sha256-modp2048, default"]
encap = false
mobike = false
reauth_time = 0
dpd_delay = 10
rekey_time = "1h"
over_time = "5m"
rand_time = "1m"
keyingtries = 0
unique = "replace"
send_certreq = false
send_cert = "always"
fragmentation = "accept"
start_action = "trap"
[connections.gw.local-1]
auth = "ecdsa"
id = "fqdn:moon.example"
certs = [%q]
round = 1
[connections.gw.remote-1]
auth = "eap-tls"
id = "*@example.org"
eap_id = "%%any"
cacerts = [%q, %q]
revocation = "relaxed"
[connections.gw.children.b]
local_ts = ["dynamic", "10.78.1.0/24"]
remote_ts = ["0.0.0.0/0[udp/53], ::/0"]
esp_proposals = ["aes256gcm16-x25519-esn", "default"]
mode = "tunnel"
life_time = "2h"
rand_time = "0"
rekey_bytes = "1M"
life_bytes = "2M"
rand_bytes = 0
start_action = "none"
dpd_action = "restart"
close_action = "start"
replay_window = 0
priority = 5
[connections.gw.children.a]
[secrets.ecdsa-moon]
file = %q
`, f.cert, f.ca, f.cert, f.ecKey)
	cfg := mustParse(t, src)
	c := cfg.Connections[0]
	wantLocal := []PeerAddr{{Prefix: netip.MustParsePrefix("10.77.0.1/32")}, {Prefix: netip.MustParsePrefix("10.77.0.0/16")},
		{First: netip.MustParseAddr("10.1.0.1"), Last: netip.MustParseAddr("10.1.0.9")}, {Prefix: netip.MustParsePrefix("::/0")}}
	wantRemote := []PeerAddr{{Host: "gw.example.org"}, {Prefix: netip.MustParsePrefix("fd00::2/128")}, {Prefix: netip.MustParsePrefix("10.0.0.9/32")}}
	wantProps := append(mustIKE(t, "aes256-sha256-modp2048"), crypto.DefaultIKEProposals()...)
	if c.Version != 2 || !reflect.DeepEqual(c.LocalAddrs, wantLocal) || !reflect.DeepEqual(c.RemoteAddrs, wantRemote) ||
		c.LocalPort != 4501 || c.RemotePort != 4500 || !reflect.DeepEqual(c.Proposals, wantProps) ||
		!reflect.DeepEqual(c.ProposalStrings, []string{"aes256-sha256-modp2048", "default"}) ||
		c.Encap || c.DPDDelay != 10*time.Second || c.RekeyTime != time.Hour || c.OverTime != 5*time.Minute || c.RandTime != time.Minute ||
		c.KeyingTries != 0 || c.Unique != "replace" || c.SendCertReq || c.SendCert != "always" || c.Fragmentation != "accept" || c.StartAction != "trap" {
		t.Errorf("connection = %+v", c)
	}
	if want := (AuthRound{Line: 23, Auth: "ecdsa", ID: "fqdn:moon.example", Certs: []string{f.cert}, Revocation: "relaxed"}); !reflect.DeepEqual(c.Local, want) {
		t.Errorf("local = %+v", c.Local)
	}
	if want := (AuthRound{Line: 28, Auth: "eap-tls", ID: "*@example.org", EAPID: "%any", CACerts: []string{f.ca, f.cert}, Revocation: "relaxed"}); !reflect.DeepEqual(c.Remote, want) {
		t.Errorf("remote = %+v", c.Remote)
	}
	if len(c.Children) != 2 || c.Children[0].Name != "a" || c.Children[0].StartAction != "trap" {
		t.Fatalf("children = %+v", c.Children)
	}
	b := c.Children[1]
	if !reflect.DeepEqual(b.LocalTS, TrafficSelectors{Dynamic: true, Selectors: mustSelectors(t, "10.78.1.0/24")}) ||
		!reflect.DeepEqual(b.RemoteTS, TrafficSelectors{Selectors: mustSelectors(t, "0.0.0.0/0[udp/53]", "::/0")}) ||
		!reflect.DeepEqual(b.ESPProposals, append(mustESP(t, "aes256gcm16-x25519-esn"), crypto.DefaultESPProposals()...)) ||
		b.RekeyTime != time.Hour || b.LifeTime != 2*time.Hour || b.RandTime != 0 ||
		b.RekeyBytes != 1<<20 || b.LifeBytes != 2<<20 || b.RandBytes != 0 ||
		b.StartAction != "none" || b.DPDAction != "restart" || b.CloseAction != "start" || b.ReplayWindow != 0 || b.Priority != 5 {
		t.Errorf("child b = %+v", b)
	}
	s := cfg.Secrets[0]
	if s.Type != SecretECDSA || s.File != f.ecKey || s.Key.Signer == nil {
		t.Errorf("secret = %+v", s)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
}

// pskAuth is a psk local and remote round for conn's extra sections.
const pskAuth = "[connections.c.local]\nauth = \"psk\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"

func TestConnectionErrors(t *testing.T) {
	f := newFixtures(t)
	// ck wraps one connection key: it is on line 2.
	ck := func(kv string) string { return conn([]string{kv}, pskAuth) }
	// child wraps one child key: it is on line 2 too.
	child := func(kv string) string {
		return "[connections.c.children.x]\n" + kv + "\n" + pskAuth
	}
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// [ike]
		{"retransmit_timeout 0", "[ike]\nretransmit_timeout = 0\n", []string{"t.toml:2: ike.retransmit_timeout: must be greater than 0 (default 4s)"}},
		{"retransmit_base low", "[ike]\nretransmit_base = 0.5\n", []string{"t.toml:2: ike.retransmit_base: 0.5 is out of range (allowed: 1..10)"}},
		{"retransmit_base type", "[ike]\nretransmit_base = \"1.8\"\n", []string{"t.toml:2: ike.retransmit_base: must be a number in 1..10, not a string"}},
		{"retransmit_base nan", "[ike]\nretransmit_base = nan\n", []string{"t.toml:2: ike.retransmit_base: NaN is out of range"}},
		{"retransmit_tries", "[ike]\nretransmit_tries = 31\n", []string{"t.toml:2: ike.retransmit_tries: 31 is out of range (allowed: 0..30)"}},
		{"retransmit total", "[ike]\nretransmit_base = 10\nretransmit_tries = 10\n",
			[]string{"t.toml:3: ike.retransmit_tries: a request would be retransmitted for "}},
		{"cookie_threshold >= half_open_limit", "[ike]\ncookie_threshold = 100\nhalf_open_limit = 100\n",
			[]string{"t.toml:2: ike.cookie_threshold: cookie_threshold (100) must be below half_open_limit (100), or cookies (RFC 7296 2.6) would never be asked for"}},
		{"half_open_limit below default threshold", "[ike]\n\nhalf_open_limit = 10\n",
			[]string{"t.toml:3: ike.half_open_limit: cookie_threshold (30) must be below half_open_limit (10)"}},
		{"cookie_threshold negative", "[ike]\ncookie_threshold = -1\n", []string{"t.toml:2: ike.cookie_threshold: -1 is out of range (allowed: 0..1048576)"}},
		{"half_open_timeout", "[ike]\nhalf_open_timeout = \"0s\"\n", []string{"t.toml:2: ike.half_open_timeout: must be greater than 0 (default 30s)"}},
		{"fragment_size", "[ike]\nfragment_size = 500\n", []string{"t.toml:2: ike.fragment_size: 500 is out of range (allowed: 576..65535)"}},
		{"keepalive_interval", "[ike]\nkeepalive_interval = \"often\"\n", []string{`t.toml:2: ike.keepalive_interval: invalid duration "often"`}},

		// Structure.
		{"connection not table", "[connections]\nc = 1\n", []string{"t.toml:2: connections.c: must be a table [connections.NAME], not an integer"}},
		{"connection name", "[connections.\"a b\"]\n" + strings.ReplaceAll(pskAuth, "connections.c.", "connections.\"a b\"."), []string{`t.toml:1: connections."a b": invalid connection name "a b"`}},
		{"connection unknown key", ck("remote_addr = \"10.0.0.1\""), []string{"t.toml:2: connections.c.remote_addr: unknown key (allowed in [connections.c]: version, local_addrs, remote_addrs,"}},
		{"children not table", ck("children = 1"), []string{"t.toml:2: connections.c.children: must be a table of [connections.c.children.NAME] sections, not an integer"}},
		{"child not table", ck("children.x = 1"), []string{"t.toml:2: connections.c.children.x: must be a table [connections.c.children.NAME], not an integer"}},
		{"child name", "[connections.c.children.\"x.y\"]\n" + pskAuth, []string{`t.toml:1: connections.c.children."x.y": invalid child name "x.y"`}},

		// Connection keys.
		{"version 1", ck("version = 1"), []string{"t.toml:2: connections.c.version: IKEv1 is not supported; esptun speaks IKEv2 only (allowed: 2, or 0 for the default)"}},
		{"version 3", ck("version = 3"), []string{"t.toml:2: connections.c.version: 3 is out of range (allowed: 0..2)"}},
		{"local_addrs bad", ck(`local_addrs = ["10.0.0.1/33", "10.0.0.9-10.0.0.1", "224.0.0.1", "-bad-", "1.2.3", ""]`), []string{
			`t.toml:2: connections.c.local_addrs: invalid subnet "10.0.0.1/33"`,
			`t.toml:2: connections.c.local_addrs: invalid range "10.0.0.9-10.0.0.1": both ends must be of one family, first <= last`,
			`t.toml:2: connections.c.local_addrs: 224.0.0.1 is not a unicast address without zone`,
			`t.toml:2: connections.c.local_addrs: invalid address "-bad-": not an IP address, subnet, range or DNS name`,
			`t.toml:2: connections.c.local_addrs: invalid address "1.2.3"`,
			`t.toml:2: connections.c.local_addrs: empty address`,
		}},
		{"local_addrs dup", ck(`local_addrs = ["10.0.0.1", "10.0.0.1/32"]`), []string{"t.toml:2: connections.c.local_addrs: 10.0.0.1 is listed twice"}},
		{"local_addrs empty", ck(`local_addrs = []`), []string{`t.toml:2: connections.c.local_addrs: must not be empty (leave it out for "%any")`}},
		{"local_addrs not listened on", "[ike]\nlisten = [\"10.77.0.1\"]\n" + conn([]string{`local_addrs = ["10.77.0.9", "10.77.0.0/24"]`}, pskAuth),
			[]string{"t.toml:4: connections.c.local_addrs: 10.77.0.9 is not one of ike.listen (10.77.0.1)"}},
		{"remote_addrs type", ck(`remote_addrs = "10.0.0.1"`), []string{`t.toml:2: connections.c.remote_addrs: must be an array of strings`}},
		{"local_port", ck("local_port = 501"), []string{"t.toml:2: connections.c.local_port: 501 is neither ike.port (500) nor ike.natt_port (4500), the ports esptun listens on"}},
		{"remote_port", ck("remote_port = 0"), []string{"t.toml:2: connections.c.remote_port: 0 is out of range (allowed: 1..65535)"}},
		{"proposals bad", ck(`proposals = ["aes128gcm16-prfsha256", "aes128-bogus-x25519"]`), []string{
			`t.toml:2: connections.c.proposals: IKE proposal "aes128gcm16-prfsha256": no key exchange group`,
			`t.toml:2: connections.c.proposals: IKE proposal "aes128-bogus-x25519": unsupported keyword "bogus"`,
		}},
		{"proposals empty", ck(`proposals = []`), []string{`t.toml:2: connections.c.proposals: must not be empty: give one or more IKE proposals`}},
		{"proposals dup", ck(`proposals = ["default", "default"]`), []string{`t.toml:2: connections.c.proposals: proposal "default" is listed twice`}},
		{"encap yes", ck(`encap = "yes"`), []string{`t.toml:2: connections.c.encap: must be true or false, not a string (swanctl's yes is written true in TOML, unquoted)`}},
		{"mobike", ck(`mobike = true`), []string{"t.toml:2: connections.c.mobike: MOBIKE (RFC 4555) is not supported by this version of esptun; set mobike = false or remove it"}},
		{"dpd_timeout", ck(`dpd_timeout = "150s"`), []string{"t.toml:2: connections.c.dpd_timeout: not supported: applies to IKEv1 only in swanctl; IKEv2 declares a peer dead when a request goes unanswered"}},
		{"aggressive", ck(`aggressive = true`), []string{"t.toml:2: connections.c.aggressive: not supported: Aggressive Mode belongs to IKEv1"}},
		{"if_id_in", ck(`if_id_in = 1`), []string{"t.toml:2: connections.c.if_id_in: not supported: XFRM interface IDs"}},
		{"pools undefined", ck(`pools = ["office"]`), []string{"t.toml:2: connections.c.pools: no [pools.office] section (pools: none defined)"}},
		{"reauth_time", ck(`reauth_time = "24h"`), []string{"t.toml:2: connections.c.reauth_time: reauthentication is not supported by this version of esptun; IKE SAs are rekeyed instead (rekey_time)"}},
		{"dpd_delay", ck(`dpd_delay = "-1s"`), []string{`t.toml:2: connections.c.dpd_delay: duration "-1s" must not be negative`}},
		{"rand_time >= rekey_time", conn([]string{`rekey_time = "1h"`, `rand_time = "1h"`}, pskAuth),
			[]string{"t.toml:3: connections.c.rand_time: rand_time (1h0m0s) must be less than rekey_time (1h0m0s): it is subtracted from it"}},
		{"over_time defaults rand_time", conn([]string{`rekey_time = "1h"`, `over_time = "2h"`}, pskAuth),
			[]string{"t.toml:3: connections.c.over_time: rand_time (2h0m0s) must be less than rekey_time (1h0m0s)"}},
		{"keyingtries", ck(`keyingtries = -1`), []string{"t.toml:2: connections.c.keyingtries: -1 is out of range (allowed: 0..2147483647)"}},
		{"unique", ck(`unique = "yes"`), []string{`t.toml:2: connections.c.unique: unknown value "yes" (allowed: no, never, keep, replace)`}},
		{"send_certreq", ck(`send_certreq = "no"`), []string{`t.toml:2: connections.c.send_certreq: must be true or false, not a string (swanctl's no is written false`}},
		{"send_cert", ck(`send_cert = "yes"`), []string{`t.toml:2: connections.c.send_cert: unknown value "yes" (allowed: ifasked, always, never)`}},
		{"fragmentation", ck(`fragmentation = "maybe"`), []string{`t.toml:2: connections.c.fragmentation: unknown value "maybe" (allowed: yes, accept, force, no)`}},
		{"start_action", ck(`start_action = "route"`), []string{`t.toml:2: connections.c.start_action: unknown value "route" (allowed: none, trap, start)`}},
		{"start without remote", ck(`start_action = "start"`) + "[connections.c.children.x]\n[connections.c.children.y]\nstart_action = \"none\"\n",
			[]string{`t.toml:2: connections.c.start_action: start_action = "start" initiates, so remote_addrs needs an IP address or DNS name, not only %any`}},
		{"trap child without remote", conn([]string{`remote_addrs = ["10.0.0.0/8", "%any"]`}, pskAuth) + "[connections.c.children.x]\n\nstart_action = \"trap\"\n",
			[]string{`t.toml:11: connections.c.children.x.start_action: start_action = "trap" initiates, so remote_addrs needs an IP address or DNS name, not only 10.0.0.0/8, %any`}},

		// Authentication rounds.
		{"auth unknown", conn(nil, "[connections.c.local]\nauth = \"password\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:3: connections.c.local.auth: unknown value "password" (allowed: psk, pubkey, rsa, ecdsa, eap, eap-mschapv2, eap-tls)`}},
		{"auth xauth", conn(nil, "[connections.c.remote]\nauth = \"xauth-pam\"\n[connections.c.local]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:3: connections.c.remote.auth: "xauth-pam" belongs to IKEv1`}},
		{"auth eap-md5", conn(nil, "[connections.c.remote]\nauth = \"eap-md5\"\n[connections.c.local]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:3: connections.c.remote.auth: EAP method "eap-md5" is not supported`}},
		{"auth constraint", conn(nil, "[connections.c.remote]\nauth = \"rsa-2048\"\n[connections.c.local]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:3: connections.c.remote.auth: signature scheme and key strength constraints ("rsa-2048") are not supported`}},
		{"round not table", "[connections.c]\nlocal = \"psk\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n", []string{`t.toml:2: connections.c.local: must be a table [connections.c.local] (an authentication round), not a string`}},
		{"two local rounds", conn(nil, pskAuth+"[connections.c.local-2]\nauth = \"eap\"\n"),
			[]string{"t.toml:8: connections.c.local-2: a second local authentication round (after [connections.c.local]): multiple authentication (RFC 4739) is not supported"}},
		{"pubkey without certs", conn(nil, "[connections.c.local]\nid = \"moon\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:2: connections.c.local.auth: auth = "pubkey" needs certs: the certificate this end authenticates with`}},
		{"remote pubkey without trust", conn(nil, "[connections.c.local]\nauth = \"psk\"\n[connections.c.remote]\nid = \"sun\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:4: connections.c.remote.auth: auth = "pubkey" needs cacerts (the CA certificates the peer's certificate must chain to) or certs`}},
		{"ids", conn(nil, "[connections.c.local]\nauth = \"psk\"\nid = \"\"\n[connections.c.remote]\nauth = \"psk\"\nid = \"ipv4:fd00::1\"\neap_id = \"keyid:#xy\"\n[secrets.ike]\nsecret = \"x\"\n"), []string{
			`t.toml:4: connections.c.local.id: identity must not be empty (use "%any" to match any)`,
			`t.toml:7: connections.c.remote.id: identity "ipv4:fd00::1": "fd00::1" is not an IPv4 address`,
			`t.toml:8: connections.c.remote.eap_id: identity "keyid:#xy": hex after '#' is invalid`,
		}},
		{"certs missing", conn(nil, "[connections.c.local]\ncerts = [\"/nonexistent/moon.pem\", "+fmt.Sprintf("%q", f.dir)+"]\n"+
			"[connections.c.remote]\ncacerts = ["+fmt.Sprintf("%q, %q", f.ca, f.ca)+"]\n"), []string{
			"t.toml:3: connections.c.local.certs: /nonexistent/moon.pem does not exist",
			"t.toml:3: connections.c.local.certs: " + f.dir + " is a directory, not a file",
			"t.toml:5: connections.c.remote.cacerts: " + f.ca + " is listed twice",
		}},
		{"local cacerts", conn(nil, "[connections.c.local]\nauth = \"psk\"\ncacerts = ["+fmt.Sprintf("%q", f.ca)+"]\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{"t.toml:4: connections.c.local.cacerts: only a remote round has cacerts"}},
		{"revocation", conn(nil, pskAuth+"[connections.c.remote-x]\n"), []string{"t.toml:8: connections.c.remote-x: a second remote authentication round"}},
		{"revocation strict", conn(nil, "[connections.c.local]\nauth = \"psk\"\n[connections.c.remote]\nauth = \"psk\"\nrevocation = \"strict\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:6: connections.c.remote.revocation: "strict" needs CRL or OCSP checking, which this version of esptun does not do (allowed: relaxed)`}},
		{"auth unknown key", conn(nil, "[connections.c.local]\nauth = \"psk\"\npubkeys = [\"a\"]\nfoo = 1\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"), []string{
			"t.toml:4: connections.c.local.pubkeys: not supported: raw public keys are not supported by this version of esptun; use certs",
			"t.toml:5: connections.c.local.foo: unknown key (allowed in [connections.c.local]: auth, id, eap_id, certs, cacerts, revocation, round)",
		}},

		// Children.
		{"child unknown key", child("esp = \"aes128gcm16\""), []string{"t.toml:2: connections.c.children.x.esp: unknown key (allowed in [connections.c.children.x]: local_ts, remote_ts, esp_proposals,"}},
		{"updown", child("updown = \"/bin/true\""), []string{"t.toml:2: connections.c.children.x.updown: not supported: esptun runs no updown scripts; remove it"}},
		{"hostaccess", child("hostaccess = true"), []string{"t.toml:2: connections.c.children.x.hostaccess: not supported:"}},
		{"ah_proposals", child("ah_proposals = [\"sha256\"]"), []string{"t.toml:2: connections.c.children.x.ah_proposals: not supported: AH (RFC 4302) is not supported"}},
		{"local_ts bad", child(`local_ts = ["dynamic", "dynamic", "10.0.0.0/8[tcp/99999]", "dynamic[tcp]", "10.1.0.0/16", "10.1.0.0/16"]`), []string{
			`t.toml:2: connections.c.children.x.local_ts: "dynamic" is listed twice`,
			`t.toml:2: connections.c.children.x.local_ts: traffic selector "10.0.0.0/8[tcp/99999]":`,
			`t.toml:2: connections.c.children.x.local_ts: "dynamic[tcp]": a protocol or port on dynamic is not supported`,
			`t.toml:2: connections.c.children.x.local_ts: 10.1.0.0/16 is listed twice`,
		}},
		{"remote_ts empty", child(`remote_ts = []`), []string{`t.toml:2: connections.c.children.x.remote_ts: must not be empty: leave it out for "dynamic"`}},
		{"ts families", child("local_ts = [\"10.0.0.0/8\"]\nremote_ts = [\"fd00::/8\"]"), []string{"t.toml:3: connections.c.children.x.remote_ts: no address family in common with local_ts"}},
		{"esp_proposals bad", child(`esp_proposals = ["aes128gcm16-prfsha256"]`), []string{`t.toml:2: connections.c.children.x.esp_proposals: ESP proposal "aes128gcm16-prfsha256":`}},
		{"mode transport", child(`mode = "transport"`), []string{`t.toml:2: connections.c.children.x.mode: "transport" is not supported: esptun works in tunnel mode only (allowed: tunnel)`}},
		{"mode pass", child(`mode = "pass"`), []string{`t.toml:2: connections.c.children.x.mode: "pass" shunts are not children here: write a [manual.NAME] section with mode = "pass"`}},
		{"child rekey >= life", child("rekey_time = \"2h\"\nlife_time = \"1h\""), []string{"t.toml:2: connections.c.children.x.rekey_time: 2h0m0s must be less than life_time (1h0m0s)"}},
		{"child rand_time", child("rand_time = \"1h\""), []string{"t.toml:2: connections.c.children.x.rand_time: 1h0m0s must be less than rekey_time (1h0m0s): it is subtracted from it"}},
		{"child bytes", child("rekey_bytes = \"2G\"\nlife_bytes = \"1G\""), []string{"t.toml:2: connections.c.children.x.rekey_bytes: 2147483648 must be less than life_bytes (1073741824)"}},
		{"child rand_packets", child("rekey_packets = 10\nrand_packets = 10"), []string{"t.toml:3: connections.c.children.x.rand_packets: 10 must be less than rekey_packets (10): it is subtracted from it"}},
		{"child packets bad", child(`life_packets = "1M"`), []string{`t.toml:2: connections.c.children.x.life_packets: must be a non-negative integer, got "1M"`}},
		{"dpd_action", child(`dpd_action = "hold"`), []string{`t.toml:2: connections.c.children.x.dpd_action: unknown value "hold" (allowed: clear, trap, restart)`}},
		{"close_action", child(`close_action = "restart"`), []string{`t.toml:2: connections.c.children.x.close_action: unknown value "restart" (allowed: none, trap, start)`}},
		{"replay_window", child(`replay_window = 65537`), []string{"t.toml:2: connections.c.children.x.replay_window: 65537 is out of range (allowed: 0..65536)"}},
		{"priority", child(`priority = -1`), []string{"t.toml:2: connections.c.children.x.priority: -1 is out of range (allowed: 0..4294967295)"}},
		{"mtu v6 child", "[tun]\nmtu = 1200\n" + child(`remote_ts = ["fd00::/8"]`),
			[]string{"t.toml:2: tun.mtu: 1200 is below the IPv6 minimum of 1280 (RFC 8200 5) and connections.c.children.x has the IPv6 selector fd00::/8"}},

		// Secrets.
		{"secret type unknown", "[secrets.psk-x]\nsecret = \"x\"\n", []string{"t.toml:1: secrets.psk-x: unknown secret type (section names start with the secret type as in swanctl: ike-NAME, eap-NAME,"}},
		{"secret xauth", "[secrets.xauth-x]\nsecret = \"x\"\n", []string{"t.toml:1: secrets.xauth-x: section not supported: XAuth belongs to IKEv1"}},
		{"secret ntlm", "[secrets.ntlm1]\nsecret = \"x\"\n", []string{"t.toml:1: secrets.ntlm1: section not supported: NTLM hashes"}},
		{"secret pkcs12", "[secrets.pkcs12-a]\nfile = \"a.p12\"\n", []string{"t.toml:1: secrets.pkcs12-a: section not supported: PKCS#12 containers"}},
		{"secret token", "[secrets.token-a]\nhandle = \"01\"\n", []string{"t.toml:1: secrets.token-a: section not supported: keys on tokens and smartcards (PKCS#11)"}},
		{"secret not table", "[secrets]\nike = \"x\"\n", []string{"t.toml:2: secrets.ike: must be a table [secrets.NAME], not a string"}},
		{"secret name", "[secrets.\"ike x\"]\nsecret = \"x\"\n", []string{`t.toml:1: secrets."ike x": invalid section name "ike x"`}},
		{"secret missing", "[secrets.ike-a]\nid = \"a\"\n", []string{`t.toml:1: secrets.ike-a: required: secret ("text", "0x" hex or "0s" base64) or secret_file`}},
		{"secret both", "[secrets.eap-a]\nsecret = \"x\"\nsecret_file = \"f\"\n", []string{"t.toml:3: secrets.eap-a.secret_file: give secret or secret_file, not both"}},
		{"secret empty", "[secrets.ike-a]\nsecret = \"\"\n", []string{"t.toml:2: secrets.ike-a.secret: must not be empty"}},
		{"secret type", "[secrets.ike-a]\nsecret = 1234\n", []string{"t.toml:2: secrets.ike-a.secret: must be a string, not an integer (the value is not shown)"}},
		{"secret ids", "[secrets.ike-a]\nid = [\"a\", \"a\"]\nid-2 = 5\nidx = \"\"\nids = []\nsecret = \"x\"\nfoo = 1\n", []string{
			`t.toml:2: secrets.ike-a.id: identity "a" is listed twice`,
			"t.toml:3: secrets.ike-a.id-2: must be an identity string or an array of them, not an integer",
			`t.toml:4: secrets.ike-a.idx: identity must not be empty`,
			"t.toml:5: secrets.ike-a.ids: must not be empty: give one or more identities",
			"t.toml:7: secrets.ike-a.foo: unknown key (allowed in [secrets.ike-a]: id, id<suffix> such as id-1, secret, secret_file)",
		}},
		{"secret_file missing", "[secrets.ike-a]\nsecret_file = \"/nonexistent/psk\"\n", []string{"t.toml:2: secrets.ike-a.secret_file: /nonexistent/psk does not exist"}},
		{"secret_file empty", "[secrets.ike-a]\nsecret_file = " + fmt.Sprintf("%q", f.emptyPSK) + "\n", []string{"t.toml:2: secrets.ike-a.secret_file: " + f.emptyPSK + " is empty"}},
		{"secret_file dir", "[secrets.ike-a]\nsecret_file = " + fmt.Sprintf("%q", f.dir) + "\n", []string{"t.toml:2: secrets.ike-a.secret_file: " + f.dir + " is a directory, not a file"}},
		{"key file missing", "[secrets.private-a]\nsecret = \"pass\"\n", []string{"t.toml:1: secrets.private-a: required: file, the private key file (PEM or DER)"}},
		{"key unknown key", "[secrets.rsa-a]\nfile = " + fmt.Sprintf("%q", f.rsaKey) + "\nid = \"x\"\n", []string{"t.toml:3: secrets.rsa-a.id: unknown key (allowed in [secrets.rsa-a]: file, secret)"}},
		{"key encrypted pkcs8", "[secrets.private-a]\nfile = " + fmt.Sprintf("%q", f.encKey) + "\nsecret = \"pass\"\n",
			[]string{"t.toml:2: secrets.private-a.file: " + f.encKey + ": is an encrypted PKCS#8 key, which Go's standard library cannot decrypt"}},
		{"key legacy encrypted", "[secrets.rsa-a]\nfile = " + fmt.Sprintf("%q", f.legacyKey) + "\n",
			[]string{"t.toml:2: secrets.rsa-a.file: " + f.legacyKey + ": uses legacy PEM encryption (RFC 1423), which is insecure and not supported"}},
		{"key not a key", "[secrets.private-a]\nfile = " + fmt.Sprintf("%q", f.notKey) + "\n",
			[]string{"t.toml:2: secrets.private-a.file: " + f.notKey + ": is not a private key in PEM or DER"}},
		{"key type mismatch", "[secrets.rsa-a]\nfile = " + fmt.Sprintf("%q", f.ecKey) + "\n[secrets.ecdsa-b]\nfile = " + fmt.Sprintf("%q", f.rsaKey) + "\n[secrets.pkcs8-c]\nfile = " + fmt.Sprintf("%q", f.sec1Key) + "\n", []string{
			"t.toml:2: secrets.rsa-a.file: " + f.ecKey + " holds a ECDSA key; an rsa-NAME section needs an RSA key",
			"t.toml:4: secrets.ecdsa-b.file: " + f.rsaKey + " holds a RSA key; an ecdsa-NAME section needs an ECDSA key",
			"t.toml:6: secrets.pkcs8-c.file: " + f.sec1Key + " holds a SEC 1 key; a pkcs8-NAME section needs PKCS#8 encoding",
		}},
	}
	if runtime.GOOS != "windows" && os.Getuid() != 0 {
		tests = append(tests, struct {
			name string
			src  string
			want []string
		}{"key unreadable", "[secrets.private-a]\nfile = " + fmt.Sprintf("%q", f.unreadable) + "\n",
			[]string{"t.toml:2: secrets.private-a.file: " + f.unreadable + " cannot be read (permission denied)"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parse(t, tt.src)
			checkErrors(t, errs, tt.want)
		})
	}
}

func TestConnectionWarnings(t *testing.T) {
	f := newFixtures(t)
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"psk without secret", conn([]string{`remote_addrs = ["10.0.0.2"]`}, "[connections.c.local]\nauth = \"psk\"\nid = \"moon\"\n[connections.c.remote]\nauth = \"psk\"\nid = \"sun\"\n"+
			"[secrets.ike-other]\nid = \"venus\"\nsecret = \"x\"\n"),
			[]string{`t.toml:4: connections.c.local.auth: auth = "psk", but no [secrets.ike-NAME] section has an id of this connection (moon, sun) or no id at all`}},
		{"psk matched by address", conn([]string{`remote_addrs = ["10.0.0.2"]`}, "[connections.c.local]\nauth = \"psk\"\n[connections.c.remote]\nauth = \"psk\"\nid = \"sun\"\n"+
			"[secrets.ike-other]\nid = \"10.0.0.2\"\nsecret = \"x\"\n"), nil},
		{"pubkey without key", conn(nil, "[connections.c.local]\ncerts = ["+fmt.Sprintf("%q", f.cert)+"]\n[connections.c.remote]\ncacerts = ["+fmt.Sprintf("%q", f.ca)+"]\n"),
			[]string{`t.toml:2: connections.c.local.auth: auth = "pubkey", but no [secrets.private-NAME] (or rsa-, ecdsa-, pkcs8-) section gives a private key`}},
		{"eap without secret", conn(nil, "[connections.c.local]\nauth = \"eap-mschapv2\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:3: connections.c.local.auth: auth = "eap-mschapv2", but there is no [secrets.eap-NAME] section with a password`}},
		{"duplicate child names", "[connections.a.children.net]\n[connections.a.local]\nauth = \"psk\"\n[connections.a.remote]\nauth = \"psk\"\n" +
			"[connections.b.children.net]\n[connections.b.local]\nauth = \"psk\"\n[connections.b.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n",
			[]string{`t.toml:6: connections.b.children.net: child name "net" is also used in connections.a (line 1); commands that take --child act on the first`}},
		{"passphrase unused", "[secrets.private-a]\nfile = " + fmt.Sprintf("%q", f.ecKey) + "\nsecret = \"Hunter2\"\n",
			[]string{"t.toml:3: secrets.private-a.secret: passphrase not used: " + f.ecKey + " is not encrypted"}},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name string
			src  string
			want []string
		}{"exposed files", "[secrets.ike-a]\nsecret_file = " + fmt.Sprintf("%q", f.openPSK) + "\n[secrets.private-b]\nfile = " + fmt.Sprintf("%q", f.openKey) + "\n", []string{
			"t.toml:2: secrets.ike-a.secret_file: " + f.openPSK + " holds a secret but is readable by group or others (mode 0640); chmod 600 " + f.openPSK,
			"t.toml:4: secrets.private-b.file: " + f.openKey + " holds a private key but is readable by group or others (mode 0644); chmod 600 " + f.openKey,
		}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.src)
			if got := cfg.Warnings(); !slices.Equal(got, tt.want) {
				t.Errorf("warnings:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestSecretForms(t *testing.T) {
	f := newFixtures(t)
	cfg := mustParse(t, `[secrets.ike-hex]
id-1 = "a"
id-2 = ["b", "c"]
secret = "0x48756e74657232"
[secrets.ike-b64]
secret = "0sSHVudGVyMg=="
[secrets.eap-file]
id = "carol"
secret_file = `+fmt.Sprintf("%q", f.psk)+`
[secrets.eap-crlf]
secret_file = `+fmt.Sprintf("%q", f.openPSK)+`
[secrets.private-rsa]
file = `+fmt.Sprintf("%q", f.rsaKey)+`
[secrets.private-sec1]
file = `+fmt.Sprintf("%q", f.sec1Key)+`
[secrets.pkcs8]
file = `+fmt.Sprintf("%q", f.ecKey)+`
`)
	byName := map[string]*Secret{}
	for _, s := range cfg.Secrets {
		byName[s.Name] = s
	}
	if s := byName["ike-hex"]; string(s.Data) != "Hunter2" || !slices.Equal(s.IDs, []string{"a", "b", "c"}) {
		t.Errorf("ike-hex = %q %q", []byte(s.Data), s.IDs)
	}
	if s := byName["ike-b64"]; string(s.Data) != "Hunter2" {
		t.Errorf("ike-b64 = %q", []byte(s.Data))
	}
	if s := byName["eap-file"]; string(s.Data) != "Hunter2FromFile" || s.File != f.psk || s.Type != SecretEAP || !slices.Equal(s.IDs, []string{"carol"}) {
		t.Errorf("eap-file = %q %+v", []byte(s.Data), s)
	}
	if s := byName["eap-crlf"]; string(s.Data) != "Hunter2FromFile" {
		t.Errorf("eap-crlf = %q", []byte(s.Data))
	}
	if _, ok := byName["private-rsa"].Key.Signer.(*rsa.PrivateKey); !ok {
		t.Errorf("private-rsa key = %T", byName["private-rsa"].Key.Signer)
	}
	if _, ok := byName["private-sec1"].Key.Signer.(*ecdsa.PrivateKey); !ok {
		t.Errorf("private-sec1 key = %T", byName["private-sec1"].Key.Signer)
	}
	if s := byName["pkcs8"]; s.Type != SecretPKCS8 || s.Key.Signer == nil {
		t.Errorf("pkcs8 = %+v", s)
	}
	// Secrets never print.
	for _, s := range cfg.Secrets {
		for _, out := range []string{fmt.Sprintf("%v %+v %s %x %q %#v", s, s, s.Data, s.Data, s.Data, *s), fmt.Sprint(s.Key)} {
			if strings.Contains(out, "Hunter2") || strings.Contains(out, "48756e74") || strings.Contains(out, "D:") {
				t.Errorf("%s prints its secret: %s", s.Name, out)
			}
		}
	}

	// Relative paths are taken from the configuration file's directory.
	rel := mustParse(t, "")
	_ = rel
	cfg2, err := Parse(filepath.Join(f.dir, "esptun.toml"), []byte("[secrets.ike-a]\nsecret_file = \"psk.txt\"\n[connections.c.local]\nauth = \"psk\"\n[connections.c.remote]\ncacerts = [\"ca.pem\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.Secrets[0].File != f.psk || !slices.Equal(cfg2.Connections[0].Remote.CACerts, []string{f.ca}) {
		t.Errorf("relative paths: %q %q", cfg2.Secrets[0].File, cfg2.Connections[0].Remote.CACerts)
	}
}

// TestSecretNeverShown feeds secrets that are wrong in every way and checks
// that no error or warning quotes them.
func TestSecretNeverShown(t *testing.T) {
	const secret = "Hunter2"
	f := newFixtures(t)
	srcs := []string{
		"[secrets.ike-a]\nsecret = \"0x" + secret + "\"\n",
		"[secrets.ike-a]\nsecret = \"0s" + secret + "!\"\n",
		"[secrets.ike-a]\nsecret = " + secret + "\n",
		"[secrets.ike-a]\nsecret = \"" + secret + "\n",
		"[secrets.ike-a]\nsecret = '''" + secret + "\n",
		"[secrets.ike-a]\nsecret = [\"" + secret + "\"]\n",
		"[secrets.ike-a]\nsecret = {x = \"" + secret + "\"}\n",
		"[secrets.ike-a]\nsecret = \"" + secret + "\"\nsecret_file = \"x\"\n",
		"[secrets.ike-a]\nsecret = \"" + secret + "\"\nsecret = \"" + secret + "\"\n",
		"[secrets.ike-a]\nsecret = 0x" + secret + "\n",
		"[secrets]\nike-a = { secret = " + secret + " }\n",
		"[secrets.private-a]\nfile = " + fmt.Sprintf("%q", f.notKey) + "\nsecret = \"" + secret + "\"\n",
		"[secrets.private-a]\nfile = " + fmt.Sprintf("%q", f.encKey) + "\nsecret = \"" + secret + "\"\n",
		"[secrets.private-a]\nfile = " + fmt.Sprintf("%q", f.ecKey) + "\nsecret = \"" + secret + "\"\n",
		"[secrets.ike-a]\nsecret_file = " + fmt.Sprintf("%q", f.openPSK) + "\n",
		"[manual.m]\nkey_in = 0x" + secret + "\n",
	}
	for i, src := range srcs {
		cfg, err := Parse("t.toml", []byte(src))
		var out []string
		if err != nil {
			out = append(out, err.Error())
		} else {
			out = cfg.Warnings()
			for _, s := range cfg.Secrets {
				out = append(out, fmt.Sprintf("%+v", *s))
			}
		}
		if len(out) == 0 {
			t.Errorf("%d: no error or warning for %q", i, src)
		}
		for _, o := range out {
			if strings.Contains(o, secret) || strings.Contains(o, "Hunter") {
				t.Errorf("%d: %q shows the secret: %s", i, src, o)
			}
		}
	}
}

func TestLoadSecretsWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not say who can read a file on Windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "esptun.toml")
	if err := os.WriteFile(path, []byte("[secrets.ike-a]\nsecret = \"Hunter2\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := path + ": file holds secrets but is readable by group or others (mode 0644); chmod 600 " + path
	if w := cfg.Warnings(); len(w) != 1 || w[0] != want {
		t.Errorf("warnings %q, want %q", w, want)
	}
	// A secret read from a private file does not make the configuration
	// itself secret.
	if err := os.WriteFile(filepath.Join(dir, "psk"), []byte("Hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("[secrets.ike-a]\nsecret_file = \"psk\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(path); err != nil || len(cfg.Warnings()) != 0 {
		t.Errorf("Load = %v, %v", cfg, err)
	}
}

func TestPeerAddr(t *testing.T) {
	good := map[string]PeerAddr{
		"%any":             {Any: true},
		"%any4":            {Prefix: netip.MustParsePrefix("0.0.0.0/0")},
		"%any6":            {Prefix: netip.MustParsePrefix("::/0")},
		"10.0.0.1":         {Prefix: netip.MustParsePrefix("10.0.0.1/32")},
		"::ffff:1.2.3.4":   {Prefix: netip.MustParsePrefix("1.2.3.4/32")},
		"10.0.0.1/8":       {Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		"fd00::1-fd00::9":  {First: netip.MustParseAddr("fd00::1"), Last: netip.MustParseAddr("fd00::9")},
		"vpn.example.org.": {Host: "vpn.example.org"},
		"gw":               {Host: "gw"},
	}
	for in, want := range good {
		got, err := parsePeerAddr(in)
		if err != nil || got != want {
			t.Errorf("parsePeerAddr(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%any5", "10.0.0.1/40", "10.0.0.2-10.0.0.1", "10.0.0.1-fd00::1", "1.2.3.4.5", "a..b", "-a", "a_b c", "fe80::1%eth0", "::", "ff02::1"} {
		if got, err := parsePeerAddr(in); err == nil {
			t.Errorf("parsePeerAddr(%q) = %+v, want an error", in, got)
		}
	}
	contains := []struct {
		p    string
		a    string
		want bool
	}{
		{"%any", "10.0.0.1", true}, {"%any", "::1", true}, {"%any4", "::1", false}, {"%any6", "::1", true},
		{"10.0.0.0/8", "10.9.9.9", true}, {"10.0.0.0/8", "11.0.0.0", false}, {"10.0.0.1", "::ffff:10.0.0.1", true},
		{"10.0.0.5-10.0.0.9", "10.0.0.9", true}, {"10.0.0.5-10.0.0.9", "10.0.0.10", false}, {"10.0.0.5-10.0.0.9", "::1", false},
		{"gw.example", "10.0.0.1", false},
	}
	for _, c := range contains {
		p, err := parsePeerAddr(c.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Contains(netip.MustParseAddr(c.a)); got != c.want {
			t.Errorf("%s.Contains(%s) = %v", c.p, c.a, got)
		}
		if p.String() != strings.TrimSuffix(c.p, ".") && c.p != "%any4" && c.p != "%any6" {
			t.Errorf("String() = %q, want %q", p.String(), c.p)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"moon.example", "%any", "10.0.0.1", "fd00::1", "C=CH, O=strongSwan, CN=moon", "carol@example.org",
		"fqdn:moon", "ipv4:10.0.0.1", "ipv6:fd00::1", "keyid:#0a0b", "{11}:x", "email:*@example.org", "a:b"} {
		if err := checkID(id); err != nil {
			t.Errorf("checkID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "fqdn:", "ipv4:moon", "ipv6:10.0.0.1", "keyid:#", "keyid:#0", "{300}:x", "{x}:y", "a\x00b", strings.Repeat("a", 1025)} {
		if err := checkID(id); err == nil {
			t.Errorf("checkID(%q) succeeded", id)
		}
	}
}
