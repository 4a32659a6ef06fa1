package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// rwGateway is a gateway connection handing out pool "p"; pool sections
// follow it.
const rwGateway = "[connections.c]\npools = [\"p\"]\n" + pskAuth

func TestPools(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tests := []struct {
		name        string
		addrs       string
		prefix      string
		first, last string
		rng         bool
		size        uint64
	}{
		// strongSwan's mem_pool: network and last address left out.
		{"v4 /24", "10.3.0.0/24", "10.3.0.0/24", "10.3.0.1", "10.3.0.254", false, 254},
		{"v4 host bits start the pool", "10.3.0.10/24", "10.3.0.0/24", "10.3.0.10", "10.3.0.254", false, 245},
		{"v4 /30", "10.3.0.4/30", "10.3.0.4/30", "10.3.0.5", "10.3.0.6", false, 2},
		{"v4 /31 from the network address", "10.3.0.4/31", "10.3.0.4/31", "10.3.0.4", "10.3.0.5", false, 2},
		{"v4 /31 from the second address", "10.3.0.5/31", "10.3.0.4/31", "10.3.0.5", "10.3.0.5", false, 1},
		{"v4 /32", "10.3.0.9/32", "10.3.0.9/32", "10.3.0.9", "10.3.0.9", false, 1},
		{"single address", "10.1.0.30", "10.1.0.30/32", "10.1.0.30", "10.1.0.30", false, 1},
		{"v4 range used as written", "10.3.0.10-10.3.0.200", "10.3.0.0/24", "10.3.0.10", "10.3.0.200", true, 191},
		{"v4 range across a byte", "10.3.0.250 - 10.3.1.5", "10.3.0.0/23", "10.3.0.250", "10.3.1.5", true, 12},
		{"v6 /112", "fd00:3::/112", "fd00:3::/112", "fd00:3::1", "fd00:3::fffe", false, 65534},
		{"v6 /128", "fd00:3::7/128", "fd00:3::7/128", "fd00:3::7", "fd00:3::7", false, 1},
		{"v6 range", "fd00:3::100-fd00:3::1ff", "fd00:3::100/120", "fd00:3::100", "fd00:3::1ff", true, 256},
		{"v4 /11 capped", "10.32.0.0/11", "10.32.0.0/11", "10.32.0.1", "10.48.0.0", false, MaxPoolSize},
		{"v4 /12 just fits", "10.16.0.0/12", "10.16.0.0/12", "10.16.0.1", "10.31.255.254", false, MaxPoolSize - 2},
		{"v6 /64 capped", "fd00:3::/64", "fd00:3::/64", "fd00:3::1", "fd00:3::10:0", false, MaxPoolSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, rwGateway+"[pools.p]\naddrs = "+fmt.Sprintf("%q", tt.addrs)+"\n")
			if len(cfg.Pools) != 1 {
				t.Fatalf("pools = %v", cfg.Pools)
			}
			p := cfg.Pools[0]
			want := &Pool{Name: "p", Line: 9, Prefix: pfx(tt.prefix), Range: tt.rng, First: addr(tt.first), Last: addr(tt.last)}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("got  %+v\nwant %+v", p, want)
			}
			if p.Size() != tt.size {
				t.Errorf("Size() = %d, want %d", p.Size(), tt.size)
			}
			if !p.Contains(p.First) || !p.Contains(p.Last) || p.Contains(p.First.Prev()) || p.Contains(p.Last.Next()) {
				t.Errorf("Contains is wrong at the ends of %s-%s", p.First, p.Last)
			}
			capped := strings.Contains(tt.name, "capped")
			if w := cfg.Warnings(); capped != (len(w) == 1 && strings.HasPrefix(w[0], "t.toml:10: pools.p.addrs: "+tt.addrs+" holds more than 1048576 addresses; esptun hands out the first 1048576")) || !capped && len(w) != 0 {
				t.Errorf("warnings: %q", w)
			}
		})
	}
	if (&Pool{First: addr("10.0.0.1"), Last: addr("10.0.0.9")}).Contains(addr("::ffff:10.0.0.5")) != true {
		t.Error("Contains does not unmap")
	}
}

func TestPoolAttributes(t *testing.T) {
	cfg := mustParse(t, `[connections.c]
pools = ["v4", "v6"]
`+pskAuth+`[pools.v4]
addrs = "10.3.0.0/24"
dns = ["10.3.0.1", "2001:db8::53, 10.3.0.2"]
nbns = ["10.3.0.3"]
domains = ["Corp.Example.com.", "example.org"]
subnet = ["10.1.0.0/16", "10.2.0.1"]
split_include = ["10.1.0.9/16"]
split_exclude = ["192.168.0.0/16"]
[pools.v6]
addrs = "fd00:3::/112"
dns = ["fd00:3::1"]
`)
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	if c := cfg.Connections[0]; !slices.Equal(c.Pools, []string{"v4", "v6"}) || c.VIPs != nil {
		t.Errorf("connection pools = %q, vips = %v", c.Pools, c.VIPs)
	}
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	v4 := cfg.Pools[0]
	if !slices.Equal(v4.DNS, []netip.Addr{a("10.3.0.1"), a("2001:db8::53"), a("10.3.0.2")}) ||
		!slices.Equal(v4.NBNS, []netip.Addr{a("10.3.0.3")}) ||
		!slices.Equal(v4.Domains, []string{"corp.example.com", "example.org"}) ||
		!slices.Equal(v4.Subnets, []netip.Prefix{p("10.1.0.0/16"), p("10.2.0.1/32")}) ||
		!slices.Equal(v4.SplitInclude, []netip.Prefix{p("10.1.0.0/16")}) ||
		!slices.Equal(v4.SplitExclude, []netip.Prefix{p("192.168.0.0/16")}) {
		t.Errorf("v4 = %+v", v4)
	}
	if v6 := cfg.Pools[1]; v6.Name != "v6" || v6.Line != 17 || !slices.Equal(v6.DNS, []netip.Addr{a("fd00:3::1")}) {
		t.Errorf("v6 = %+v", v6)
	}
}

func TestVIPs(t *testing.T) {
	cfg := mustParse(t, "[connections.c]\nremote_addrs = [\"vpn.example.org\"]\nvips = [\"0.0.0.0\", \"::, 10.3.0.7\"]\n"+pskAuth+
		"[connections.c.children.net]\nremote_ts = [\"0.0.0.0/0\", \"::/0\"]\nstart_action = \"start\"\n")
	c := cfg.Connections[0]
	want := []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified(), netip.MustParseAddr("10.3.0.7")}
	if !slices.Equal(c.VIPs, want) || c.Pools != nil {
		t.Errorf("vips = %v, pools = %v", c.VIPs, c.Pools)
	}
	// A dynamic local_ts stays dynamic: it becomes the virtual IP when the
	// IKE SA is set up.
	if ch := c.Children[0]; !ch.LocalTS.Dynamic || ch.LocalTS.Selectors != nil {
		t.Errorf("local_ts = %+v", ch.LocalTS)
	}
}

func TestRemoteAccessErrors(t *testing.T) {
	// pool wraps pool keys: the first one is on line 10, after rwGateway.
	pool := func(kv ...string) string { return rwGateway + "[pools.p]\n" + strings.Join(kv, "\n") + "\n" }
	ck := func(kv string) string { return conn([]string{kv}, pskAuth) }
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// [pools.NAME]
		{"pool not table", "[pools]\np = 1\n", []string{"t.toml:2: pools.p: must be a table [pools.NAME], not an integer"}},
		{"pool name", "[pools.\"a b\"]\naddrs = \"10.0.0.0/24\"\n", []string{`t.toml:1: pools."a b": invalid pool name "a b"`}},
		{"addrs missing", rwGateway + "[pools.p]\ndns = [\"10.0.0.1\"]\n",
			[]string{`t.toml:9: pools.p: required: addrs, the virtual IPs to hand out: a CIDR such as "10.3.0.0/24"`}},
		{"addrs array", pool(`addrs = ["10.3.0.0/24", "10.4.0.0/24"]`),
			[]string{"t.toml:10: pools.p.addrs: must be one string, not an array: swanctl takes one addrs per pool"}},
		{"addrs type", pool(`addrs = 10`), []string{"t.toml:10: pools.p.addrs: must be a string, not an integer"}},
		{"addrs cidr", pool(`addrs = "10.3.0.0/33"`), []string{`t.toml:10: pools.p.addrs: invalid CIDR "10.3.0.0/33" (allowed: a CIDR such as`}},
		{"addrs range reversed", pool(`addrs = "10.3.0.9-10.3.0.1"`), []string{`t.toml:10: pools.p.addrs: invalid range "10.3.0.9-10.3.0.1": both ends must be of one family, first <= last`}},
		{"addrs range families", pool(`addrs = "10.3.0.1-fd00::9"`), []string{`t.toml:10: pools.p.addrs: invalid range "10.3.0.1-fd00::9": both ends must be of one family`}},
		{"addrs range bad", pool(`addrs = "10.3.0.1-x"`), []string{`t.toml:10: pools.p.addrs: invalid range "10.3.0.1-x"`}},
		{"addrs range too large", pool(`addrs = "10.0.0.0-10.16.0.0"`), []string{`t.toml:10: pools.p.addrs: range "10.0.0.0-10.16.0.0" holds more than 1048576 addresses (at most 1048576 per pool)`}},
		{"addrs v6 range too large", pool(`addrs = "fd00::1-fd00::1:0:0"`), []string{`t.toml:10: pools.p.addrs: range "fd00::1-fd00::1:0:0" holds more than 1048576 addresses`}},
		{"addrs address", pool(`addrs = "vpn.example.org"`), []string{`t.toml:10: pools.p.addrs: invalid address "vpn.example.org"`}},
		{"addrs multicast", pool(`addrs = "224.0.0.0/24"`), []string{"t.toml:10: pools.p.addrs: 224.0.0.0/24 includes 224.0.0.1, which cannot be a client's virtual IP"}},
		{"addrs loopback", pool(`addrs = "::1"`), []string{"t.toml:10: pools.p.addrs: ::1 includes ::1, which cannot be a client's virtual IP"}},
		{"addrs broadcast", pool(`addrs = "255.255.255.200-255.255.255.255"`), []string{"t.toml:10: pools.p.addrs: 255.255.255.200-255.255.255.255 includes the broadcast address"}},
		{"pools overlap", "[connections.c]\npools = [\"a\", \"b\"]\n" + pskAuth + "[pools.a]\naddrs = \"10.3.0.0/24\"\n[pools.b]\naddrs = \"10.3.0.200-10.3.1.10\"\n",
			[]string{"t.toml:12: pools.b.addrs: 10.3.0.200-10.3.1.10 overlaps pool a (10.3.0.1-10.3.0.254, line 9): pools must not share addresses"}},
		{"pools of two families do not overlap", "[connections.c]\npools = [\"a\", \"b\"]\n" + pskAuth + "[pools.a]\naddrs = \"10.3.0.0/24\"\n[pools.b]\naddrs = \"::ffff:0:0/96\"\n", nil},
		{"v6 pool needs mtu 1280", "[tun]\nmtu = 1000\n" + pool(`addrs = "fd00:3::/112"`),
			[]string{"t.toml:2: tun.mtu: 1000 is below the IPv6 minimum of 1280 (RFC 8200 5) and pools.p hands out IPv6 addresses"}},
		{"v6 vip needs mtu 1280", "[tun]\nmtu = 1000\n" + conn([]string{`vips = ["0.0.0.0", "::"]`}, pskAuth),
			[]string{"t.toml:2: tun.mtu: 1000 is below the IPv6 minimum of 1280 (RFC 8200 5) and connections.c asks for an IPv6 virtual IP"}},
		{"pool holds a tun address", "[tun]\naddresses = [\"10.3.0.1/24\"]\n" + pool(`addrs = "10.3.0.0/24"`),
			[]string{"t.toml:12: pools.p.addrs: hands out 10.3.0.1, which tun.addresses puts on this host's TUN"}},
		{"dns", pool(`addrs = "10.3.0.0/24"`, `dns = ["dns.example", "0.0.0.0", "10.3.0.1", "10.3.0.1"]`), []string{
			`t.toml:11: pools.p.dns: invalid IP address "dns.example" (host names are not resolved`,
			"t.toml:11: pools.p.dns: 0.0.0.0 is not a unicast address",
			"t.toml:11: pools.p.dns: 10.3.0.1 is listed twice",
		}},
		{"dns empty", pool(`addrs = "10.3.0.0/24"`, `dns = []`), []string{"t.toml:11: pools.p.dns: must not be empty (leave it out for none)"}},
		{"nbns v6", pool(`addrs = "10.3.0.0/24"`, `nbns = ["fd00::1"]`), []string{"t.toml:11: pools.p.nbns: fd00::1 is IPv6, but there is only INTERNAL_IP4_NBNS (allowed: IPv4 addresses)"}},
		{"domains", pool(`addrs = "10.3.0.0/24"`, `domains = ["a..b", "*.example.com", "_srv.example.com", "Example.com", "example.com."]`), []string{
			`t.toml:11: pools.p.domains: invalid domain "a..b" (allowed: DNS names`,
			`t.toml:11: pools.p.domains: invalid domain "*.example.com"`,
			`t.toml:11: pools.p.domains: invalid domain "_srv.example.com"`,
			"t.toml:11: pools.p.domains: example.com is listed twice",
		}},
		{"domains empty", pool(`addrs = "10.3.0.0/24"`, `domains = []`), []string{"t.toml:11: pools.p.domains: must not be empty"}},
		{"subnet", pool(`addrs = "10.3.0.0/24"`, `subnet = ["10.1.0.0/40", "10.2.0.0/16", "10.2.0.9/16"]`, `split_include = "10.0.0.0/8"`), []string{
			`t.toml:11: pools.p.subnet: invalid subnet "10.1.0.0/40"`,
			"t.toml:11: pools.p.subnet: 10.2.0.0/16 is listed twice",
			`t.toml:12: pools.p.split_include: must be an array of strings`,
		}},
		{"pool keys", pool(`addrs = "10.3.0.0/24"`, `netmask = ["255.255.255.0"]`, `dhcp = ["10.3.0.1"]`, `25 = "example.com"`, `dns_servers = ["10.3.0.1"]`), []string{
			"t.toml:11: pools.p.netmask: not supported: INTERNAL_IP4_NETMASK is not sent by this version of esptun",
			"t.toml:12: pools.p.dhcp: not supported: INTERNAL_IP4_DHCP/INTERNAL_IP6_DHCP are not sent",
			`t.toml:13: pools.p.25: numbered attribute types are not supported by this version of esptun (allowed: addrs, dns, nbns, subnet, split_include, split_exclude, domains; for INTERNAL_DNS_DOMAIN, 25, write domains = ["example.com"])`,
			"t.toml:14: pools.p.dns_servers: unknown key (allowed in [pools.p]: addrs, dns, nbns, subnet, split_include, split_exclude, domains)",
		}},

		// vips and pools on connections.
		{"vips", ck(`vips = ["0.0.0.0", "0.0.0.0", "vpn", "224.0.0.1", "fe80::1%eth0"]`), []string{
			"t.toml:2: connections.c.vips: 0.0.0.0 is listed twice",
			`t.toml:2: connections.c.vips: invalid address "vpn" (allowed: "0.0.0.0" and "::" for any address of that family, or a specific address to ask for)`,
			"t.toml:2: connections.c.vips: 224.0.0.1 cannot be a virtual IP",
			`t.toml:2: connections.c.vips: invalid address "fe80::1%eth0"`,
		}},
		{"vips empty", ck(`vips = []`), []string{"t.toml:2: connections.c.vips: must not be empty (leave it out to ask for no virtual IP;"}},
		{"vips type", ck(`vips = "0.0.0.0"`), []string{"t.toml:2: connections.c.vips: must be an array of strings"}},
		{"pools external", ck(`pools = ["radius", "dhcp"]`), []string{
			`t.toml:2: connections.c.pools: "radius" names strongSwan's eap-radius plugin (addresses a RADIUS server assigns), which esptun does not have; define the addresses in a [pools.NAME] section and list NAME`,
			`t.toml:2: connections.c.pools: "dhcp" names strongSwan's dhcp plugin (addresses leased from a DHCP server), which esptun does not have`,
		}},
		{"pools unknown and dup", "[connections.c]\npools = [\"p\", \"p\", \"q\"]\n" + pskAuth + "[pools.p]\naddrs = \"10.3.0.0/24\"\n", []string{
			`t.toml:2: connections.c.pools: pool "p" is listed twice`,
			"t.toml:2: connections.c.pools: no [pools.q] section (pools: p)",
		}},
		{"pools broken section", "[connections.c]\npools = [\"p\"]\n" + pskAuth + "[pools.p]\naddrs = \"x\"\n",
			[]string{`t.toml:10: pools.p.addrs: invalid address "x"`}},
		{"pools empty", ck(`pools = []`), []string{"t.toml:2: connections.c.pools: must not be empty"}},
		{"vips and pools", conn([]string{`vips = ["0.0.0.0"]`, `pools = ["p"]`}, pskAuth+"[pools.p]\naddrs = \"10.3.0.0/24\"\n"),
			[]string{"t.toml:3: connections.c.pools: vips (a client asks for virtual IPs) and pools (a gateway hands them out) cannot both be set on one connection"}},

		// Legacy algorithms.
		{"legacy ike", ck(`proposals = ["aes256-sha1-modp1024", "aes256-sha256-modp1024", "aes128gcm16-prfsha1-x25519", "default"]`), []string{
			`t.toml:2: connections.c.proposals: proposal "aes256-sha1-modp1024" uses SHA-1 and MODP-1024 (DH group 2), which RFC 8247 advises against (2.4: group 2 SHOULD NOT be used; 2.2, 2.3: SHA-1 is MUST-); to accept it anyway, as the built-in Windows IKEv2 client needs MODP-1024 unless its IPsec policy is changed, add allow_legacy_proposals = true to [connections.c]`,
			`t.toml:2: connections.c.proposals: proposal "aes256-sha256-modp1024" uses MODP-1024 (DH group 2), which RFC 8247 advises against`,
			`t.toml:2: connections.c.proposals: proposal "aes128gcm16-prfsha1-x25519" uses SHA-1, which`,
		}},
		{"legacy esp", "[connections.c.children.x]\nesp_proposals = [\"aes128gcm16-modp1024\"]\n" + pskAuth,
			[]string{`t.toml:2: connections.c.children.x.esp_proposals: proposal "aes128gcm16-modp1024" uses MODP-1024 (DH group 2), which RFC 8247 advises against`}},
		{"legacy type", ck(`allow_legacy_proposals = "yes"`), []string{"t.toml:2: connections.c.allow_legacy_proposals: must be true or false, not a string"}},

		// EAP.
		{"eap_id any on local", conn(nil, "[connections.c.local]\nauth = \"eap-mschapv2\"\neap_id = \"%any\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n[secrets.eap]\nsecret = \"y\"\n"),
			[]string{`t.toml:4: connections.c.local.eap_id: "%any" asks the peer for its EAP identity, so it belongs on the remote round`}},
		{"eap-only methods differ", conn(nil, fmt.Sprintf("[connections.c.local]\nauth = \"eap-tls\"\ncerts = [%q]\n[connections.c.remote]\nauth = \"eap-mschapv2\"\n[secrets.eap]\nsecret = \"y\"\n", newFixtures(t).cert)),
			[]string{`t.toml:6: connections.c.remote.auth: local auth = "eap-tls" and remote auth = "eap-mschapv2": EAP on both rounds is EAP-only authentication (RFC 5998)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parse(t, tt.src)
			checkErrors(t, errs, tt.want)
		})
	}
}

func TestRemoteAccessWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"pool unused", "[pools.p]\naddrs = \"10.3.0.0/24\"\n",
			[]string{"t.toml:1: pools.p: no connection lists this pool in its pools, so its addresses are never handed out"}},
		{"legacy allowed", conn([]string{`allow_legacy_proposals = true`, `proposals = ["aes256-sha1-modp1024", "aes256-sha256-modp1024"]`},
			"[connections.c.children.x]\nesp_proposals = [\"aes256-sha256-modp1024\"]\n"+pskAuth), nil},
		{"legacy allowed but unused", conn([]string{`allow_legacy_proposals = true`}, pskAuth),
			[]string{"t.toml:2: connections.c.allow_legacy_proposals: no proposal of this connection uses modp1024 or sha1, so allow_legacy_proposals = true changes nothing; remove it"}},
		{"eap_id without eap", conn(nil, "[connections.c.local]\nauth = \"psk\"\neap_id = \"carol\"\n[connections.c.remote]\nauth = \"psk\"\n[secrets.ike]\nsecret = \"x\"\n"),
			[]string{`t.toml:4: connections.c.local.eap_id: eap_id is only used with EAP; auth = "psk" ignores it`}},
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

func TestLegacyProposalsAccepted(t *testing.T) {
	cfg := mustParse(t, conn([]string{`allow_legacy_proposals = true`, `proposals = ["aes256-sha1-modp1024"]`}, pskAuth))
	c := cfg.Connections[0]
	if !c.AllowLegacyProposals || !reflect.DeepEqual(c.Proposals, mustIKE(t, "aes256-sha1-modp1024")) {
		t.Errorf("connection = %+v", c)
	}
	if c := mustParse(t, conn(nil, pskAuth)).Connections[0]; c.AllowLegacyProposals {
		t.Error("allow_legacy_proposals defaults to true")
	}
}

func TestEAPRounds(t *testing.T) {
	f := newFixtures(t)
	// A gateway with EAP-only authentication (RFC 5998): EAP-TLS proves
	// both ends, the gateway sends no AUTH payload of its own.
	cfg := mustParse(t, fmt.Sprintf(`[connections.gw]
pools = ["rw"]
[connections.gw.local]
auth = "eap-tls"
certs = [%q]
[connections.gw.remote]
auth = "eap"
eap_id = "%%any"
cacerts = [%q]
[pools.rw]
addrs = "10.3.0.0/24"
[secrets.private-gw]
file = %q
`, f.cert, f.ca, f.ecKey))
	c := cfg.Connections[0]
	if !c.EAPOnly() || !c.Local.IsEAP() || c.Remote.EAPID != "%any" {
		t.Errorf("connection = %+v", c)
	}
	// The common case: a client authenticates with EAP, the gateway with a
	// certificate.
	cfg = mustParse(t, fmt.Sprintf(`[connections.rw]
remote_addrs = ["vpn.example.org"]
vips = ["0.0.0.0"]
[connections.rw.local]
auth = "eap-mschapv2"
eap_id = "carol"
[connections.rw.remote]
auth = "pubkey"
id = "vpn.example.org"
cacerts = [%q]
[secrets.eap-carol]
id = "carol"
secret = "x"
`, f.ca))
	if c := cfg.Connections[0]; c.EAPOnly() || !c.Local.IsEAP() || c.Remote.IsEAP() || c.Local.EAPID != "carol" {
		t.Errorf("connection = %+v", c)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
}

// usersFixture writes a users file with mode 0600 and returns its path.
func usersFixture(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsersFile(t *testing.T) {
	path := usersFixture(t, "\xef\xbb\xbf# EAP users\n"+
		"alice: Hunter2 with spaces # not a comment\r\n"+
		"\n"+
		"  # indented comment\n"+
		"\"fqdn:bob\" : \"Hunter2 \\\"quoted\\\" \\\\ \\n\"\n"+
		"carol@example.org:0x48756e74657232\n"+
		"dave:0sSHVudGVyMg==\n"+
		"erin : \"0xnot-hex\"\n", 0o600)
	cfg := mustParse(t, "[secrets.eap-staff]\nusers_file = "+fmt.Sprintf("%q", path)+"\n")
	type user struct {
		id, pw string
		line   int
	}
	var got []user
	for _, s := range cfg.Secrets {
		if s.Name != "eap-staff" || s.Line != 1 || s.Type != SecretEAP || s.File != path || len(s.IDs) != 1 || !s.fromFile {
			t.Errorf("secret = %+v", s)
			continue
		}
		got = append(got, user{s.IDs[0], string(s.Data), s.FileLine})
	}
	want := []user{
		{"alice", "Hunter2 with spaces # not a comment", 2},
		{"fqdn:bob", `Hunter2 "quoted" \ \n`, 5},
		{"carol@example.org", "Hunter2", 6},
		{"dave", "Hunter2", 7},
		{"erin", "0xnot-hex", 8},
	}
	if !slices.Equal(got, want) {
		t.Errorf("users:\n got %+v\nwant %+v", got, want)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	// The users count as EAP secrets for auth = "eap-mschapv2".
	cfg = mustParse(t, conn(nil, "[connections.c.local]\nauth = \"psk\"\n[connections.c.remote]\nauth = \"eap-mschapv2\"\n[secrets.ike]\nsecret = \"x\"\n")+"[secrets.eap-staff]\nusers_file = "+fmt.Sprintf("%q", path)+"\n")
	for _, w := range cfg.Warnings() {
		if strings.Contains(w, "eap-NAME") {
			t.Errorf("warning: %s", w)
		}
	}
}

func TestUsersFileErrors(t *testing.T) {
	const secret = "Hunter2"
	bad := usersFixture(t, "# users\n"+
		secret+"\n"+ // no separator: the line is not shown
		"alice: "+secret+"\n"+
		"alice: "+secret+"x\n"+
		"bob:\n"+
		"carol: \""+secret+"\n"+
		"dave: \""+secret+"\" trailing "+secret+"\n"+
		"erin: 0x"+secret+"\n"+
		"frank: 0s"+secret+"!\n"+
		"\""+secret+": x\n"+
		"\"gina\" "+secret+"\n"+
		"%any: "+secret+"\n"+
		"a\x01b: "+secret+"\n"+
		"hank: \"\"\n", 0o600)
	src := "[secrets.eap-staff]\nusers_file = " + fmt.Sprintf("%q", bad) + "\n[tun]\nmtu = 1\n"
	_, errs := parse(t, src)
	want := []string{
		"t.toml:4: tun.mtu: 1 is out of range",
		bad + ":2: expected USER: PASSWORD, found no ':' (the line is not shown)",
		bad + `:4: user "alice" is listed twice (first on line 3)`,
		bad + `:5: user "bob": password is empty`,
		bad + `:6: user "carol": password has an opening quote that is not closed (the password is not shown)`,
		bad + `:7: user "dave": password has text after its closing quote (the password is not shown)`,
		bad + `:8: user "erin": password is not valid hex after "0x" (the value is not shown)`,
		bad + `:9: user "frank": password is not valid base64 after "0s" (the value is not shown)`,
		bad + ":10: the user's opening quote is not closed (the line is not shown)",
		bad + `:11: expected USER: PASSWORD, but no ':' follows user "gina"`,
		bad + `:12: user "%any" would share one password among all users`,
		bad + `:13: user: identity "a\x01b" contains control characters`,
		bad + `:14: user "hank": password is empty`,
	}
	checkErrors(t, errs, want)
	for _, e := range errs {
		if strings.Contains(e.Error(), secret) || strings.Contains(e.Error(), "Hunter") {
			t.Errorf("error shows a password: %s", e)
		}
	}

	// The section's own problems.
	psk := usersFixture(t, "alice: x\n", 0o600)
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"combined keys", "[secrets.eap-a]\nusers_file = " + fmt.Sprintf("%q", psk) + "\nid = \"alice\"\nsecret = \"x\"\nfoo = 1\n", []string{
			"t.toml:3: secrets.eap-a.id: users_file gives every user's identity and password, so id cannot be combined with it",
			"t.toml:4: secrets.eap-a.secret: users_file gives every user's identity and password, so secret cannot be combined with it",
			"t.toml:5: secrets.eap-a.foo: unknown key (allowed in [secrets.eap-a]: id, id<suffix> such as id-1, secret, secret_file; or users_file alone)",
		}},
		{"in an ike section", "[secrets.ike-a]\nsecret = \"x\"\nusers_file = " + fmt.Sprintf("%q", psk) + "\n",
			[]string{"t.toml:3: secrets.ike-a.users_file: a users file holds EAP passwords; it belongs in a [secrets.eap-NAME] section"}},
		{"missing", "[secrets.eap-a]\nusers_file = \"/nonexistent/users\"\n", []string{"t.toml:2: secrets.eap-a.users_file: /nonexistent/users does not exist"}},
		{"type", "[secrets.eap-a]\nusers_file = 1\n", []string{"t.toml:2: secrets.eap-a.users_file: must be a string, not an integer"}},
		{"empty path", "[secrets.eap-a]\nusers_file = \"\"\n", []string{`t.toml:2: secrets.eap-a.users_file: invalid path ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parse(t, tt.src)
			checkErrors(t, errs, tt.want)
		})
	}
}

func TestUsersFileWarnings(t *testing.T) {
	empty := usersFixture(t, "# nobody yet\n", 0o600)
	cfg := mustParse(t, "[secrets.eap-a]\nusers_file = "+fmt.Sprintf("%q", empty)+"\n")
	if w := cfg.Warnings(); !slices.Equal(w, []string{"t.toml:2: secrets.eap-a.users_file: " + empty + " holds no users"}) {
		t.Errorf("warnings: %q", w)
	}
	if runtime.GOOS == "windows" {
		return
	}
	open := usersFixture(t, "alice: Hunter2\n", 0o644)
	cfg = mustParse(t, "[secrets.eap-a]\nusers_file = "+fmt.Sprintf("%q", open)+"\n")
	want := "t.toml:2: secrets.eap-a.users_file: " + open + " holds passwords but is readable by group or others (mode 0644); chmod 600 " + open
	if w := cfg.Warnings(); !slices.Equal(w, []string{want}) {
		t.Errorf("warnings: %q", w)
	}
	for _, s := range cfg.Secrets {
		if out := fmt.Sprintf("%v %+v", s, *s); strings.Contains(out, "Hunter2") {
			t.Errorf("secret prints its password: %s", out)
		}
	}
}

func TestAddrArithmetic(t *testing.T) {
	a := netip.MustParseAddr
	if got := addrDiff(a("fd00::1:0:0"), a("fd00::ffff:ffff")); got != 1 {
		t.Errorf("addrDiff across 64-bit words... = %d", got)
	}
	if got := addrDiff(a("fd00:0:0:1::"), a("fd00::")); got != 1<<64-1 {
		t.Errorf("addrDiff saturates: %d", got)
	}
	if got := addrAdd(a("fd00::ffff:ffff:ffff:ffff"), 1); got != a("fd00:0:0:1::") {
		t.Errorf("addrAdd carries: %s", got)
	}
	if got := addrAdd(a("10.0.0.255"), 2); got != a("10.0.1.1") {
		t.Errorf("addrAdd v4: %s", got)
	}
	for _, tc := range []struct{ p, last string }{
		{"10.0.0.0/8", "10.255.255.255"}, {"0.0.0.0/0", "255.255.255.255"}, {"10.1.2.3/32", "10.1.2.3"},
		{"fd00::/64", "fd00::ffff:ffff:ffff:ffff"}, {"fd00::/48", "fd00::ffff:ffff:ffff:ffff:ffff"}, {"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	} {
		if got := lastAddr(netip.MustParsePrefix(tc.p)); got != a(tc.last) {
			t.Errorf("lastAddr(%s) = %s, want %s", tc.p, got, tc.last)
		}
	}
	if got := coverPrefix(a("10.3.0.250"), a("10.3.1.5")); got != netip.MustParsePrefix("10.3.0.0/23") {
		t.Errorf("coverPrefix = %s", got)
	}
	if got := coverPrefix(a("1.0.0.0"), a("200.0.0.0")); got != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("coverPrefix = %s", got)
	}
}

// BenchmarkParseUsers parses a users file of 10000 users, the load-time
// cost of a large gateway.
func BenchmarkParseUsers(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "user%05d@example.org: \"password number %d\"\n", i, i)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if users, problems := parseUsers(data); len(users) != 10000 || problems != nil {
			b.Fatalf("%d users, %v", len(users), problems)
		}
	}
}
