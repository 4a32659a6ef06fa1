package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/spd"
)

// designExample is the [daemon], [tun], [ike] and [manual.static1] part of
// the example in esptun's design notes, unchanged.
const designExample = `[daemon]
control_socket = "/run/esptun/esptun.sock"
log_level = "info"            # debug | info | warn | error
log_format = "text"           # text | json

[tun]
name = "esptun0"
mtu = 1400
addresses = ["10.78.1.1/32"]  # put on the TUN at start (optional)

[ike]
listen = ["10.77.0.1"]        # local addresses for IKE and ESP-in-UDP
port = 500
natt_port = 4500

[manual.static1]              # static keying without IKE (tests, simple links)
remote_addr = "10.77.0.2:4500"
local_ts = ["10.78.1.0/24"]
remote_ts = ["10.78.2.0/24"]
esp = "aes128gcm16"
spi_out = "0xc0000001"
key_out = "0x00112233445566778899aabbccddeeff01020304"  # key then 4-byte salt (RFC 4106)
spi_in = "0xc0000002"
key_in = "0xffeeddccbbaa99887766554433221100a0b0c0d0"
`

// designIKE is the rest of that example: the IKEv2 connection and its
// secret, unchanged.
const designIKE = `
[connections.site]
remote_addrs = ["10.77.0.2"]  # "%any" on a responder
local_addrs = ["10.77.0.1"]
proposals = ["aes128gcm16-prfsha256-x25519"]
encap = true                  # force UDP encapsulation
start_action = "start"        # start | trap (first matching packet) | none (responder)
dpd_delay = "30s"
rekey_time = "4h"
# vips = ["0.0.0.0", "::"]    # road-warrior client: ask for virtual IPs (config payload)
# pools = ["office"]          # gateway: hand out addresses from [pools.office]

[connections.site.local]
auth = "psk"                  # psk | pubkey | eap-mschapv2 | eap-tls
id = "moon.example"

[connections.site.remote]
auth = "psk"
id = "sun.example"

[connections.site.children.net]
local_ts = ["10.78.1.0/24"]     # omitted: "dynamic", as in swanctl (own address, or the virtual IP)
remote_ts = ["10.78.2.0/24"]    # routed into the TUN unless [tun] install_routes = false
esp_proposals = ["aes128gcm16"]
rekey_time = "1h"
start_action = "start"

[secrets.ike-site]
id = ["moon.example", "sun.example"]
secret = "..."                # or secret_file = "/path"
`

func parse(t *testing.T, src string) (*Config, Errors) {
	t.Helper()
	cfg, err := Parse("t.toml", []byte(src))
	if err == nil {
		return cfg, nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not Errors: %v", err, err)
	}
	if cfg != nil {
		t.Fatalf("Parse returned both a config and an error")
	}
	return nil, errs
}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, errs := parse(t, src)
	if errs != nil {
		t.Fatalf("unexpected errors:\n%v", errs)
	}
	return cfg
}

func hexKey(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'a') + 10
			}
		}
		b[i] = v
	}
	return b
}

func TestDesignExample(t *testing.T) {
	cfg := mustParse(t, designExample)
	want := &Config{
		File:   "t.toml",
		Daemon: Daemon{ControlSocket: "/run/esptun/esptun.sock", LogLevel: "info", LogFormat: "text", Scheduling: "batch"},
		Tun: Tun{Name: "esptun0", MTU: 1400, Addresses: []netip.Prefix{netip.MustParsePrefix("10.78.1.1/32")},
			InstallRoutes: true, Offload: true},
		IKE: defaultIKE(),
	}
	want.IKE.Listen = []netip.Addr{netip.MustParseAddr("10.77.0.1")}
	if !reflect.DeepEqual(cfg.Daemon, want.Daemon) || !reflect.DeepEqual(cfg.Tun, want.Tun) || !reflect.DeepEqual(cfg.IKE, want.IKE) {
		t.Errorf("got %+v %+v %+v\nwant %+v %+v %+v", cfg.Daemon, cfg.Tun, cfg.IKE, want.Daemon, want.Tun, want.IKE)
	}
	if len(cfg.Manual) != 1 {
		t.Fatalf("got %d manual sections, want 1", len(cfg.Manual))
	}
	m := cfg.Manual[0]
	if m.Name != "static1" || m.Line != 16 || m.Mode != ModeTunnel {
		t.Errorf("name/line/mode = %q/%d/%q", m.Name, m.Line, m.Mode)
	}
	if m.RemoteAddr != netip.MustParseAddrPort("10.77.0.2:4500") || m.LocalAddr.IsValid() {
		t.Errorf("addresses = %v, %v", m.RemoteAddr, m.LocalAddr)
	}
	if m.ESP.Name != "aes128gcm16" || m.ESP.KeyLen() != 20 {
		t.Errorf("esp = %+v", m.ESP)
	}
	if m.SPIOut != 0xc0000001 || m.SPIIn != 0xc0000002 {
		t.Errorf("spis = %#x %#x", m.SPIOut, m.SPIIn)
	}
	if !reflect.DeepEqual(m.KeyOut, hexKey(t, "00112233445566778899aabbccddeeff01020304")) ||
		!reflect.DeepEqual(m.KeyIn, hexKey(t, "ffeeddccbbaa99887766554433221100a0b0c0d0")) {
		t.Errorf("keys differ")
	}
	wantTS := func(s string) []spd.Selector {
		sel, err := spd.ParseSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return []spd.Selector{sel}
	}
	if !reflect.DeepEqual(m.LocalTS, wantTS("10.78.1.0/24")) || !reflect.DeepEqual(m.RemoteTS, wantTS("10.78.2.0/24")) {
		t.Errorf("selectors = %v %v", m.LocalTS, m.RemoteTS)
	}
	if !m.Encap || m.ESN || m.AllowNull || m.ReplayWindow != 1024 || m.Priority != 0 {
		t.Errorf("defaults wrong: %+v", m)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	if got := cfg.Line("manual.static1.key_in"); got != 24 {
		t.Errorf("Line(manual.static1.key_in) = %d, want 24", got)
	}
	if got := cfg.Line("manual.static1.encap"); got != 16 {
		t.Errorf("Line of an unset key = %d, want the section's 16", got)
	}
	if got := cfg.Line("nothing.here"); got != 0 {
		t.Errorf("Line of an unknown key = %d, want 0", got)
	}

}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, "")
	want := &Config{
		File:   "t.toml",
		Daemon: Daemon{ControlSocket: DefaultControlSocket, LogLevel: "info", LogFormat: "text", Scheduling: "batch"},
		Tun:    Tun{Name: "esptun0", MTU: 1400, InstallRoutes: true, Offload: true},
		IKE:    defaultIKE(),
		lines:  keyLines{},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	// Empty sections change nothing.
	cfg2 := mustParse(t, "[daemon]\n[tun]\n[ike]\n[manual]\n")
	if !reflect.DeepEqual(cfg2.Daemon, want.Daemon) || !reflect.DeepEqual(cfg2.Tun, want.Tun) ||
		!reflect.DeepEqual(cfg2.IKE, want.IKE) || len(cfg2.Manual) != 0 {
		t.Errorf("empty sections: got %+v", cfg2)
	}
	// remote_addr without port takes natt_port.
	cfg3 := mustParse(t, "[ike]\nnatt_port = 14500\n"+manual("m", nil))
	if got := cfg3.Manual[0].RemoteAddr.Port(); got != 14500 {
		t.Errorf("remote port = %d, want natt_port 14500", got)
	}
}

// manualKeyOrder is the order manual() writes keys in, one a line after the
// [manual.NAME] header, so a key's line is its index + 2.
var manualKeyOrder = []string{"remote_addr", "local_ts", "remote_ts", "esp", "spi_out", "key_out", "spi_in", "key_in"}

var manualDefaults = map[string]string{
	"remote_addr": `"10.77.0.2"`,
	"local_ts":    `["10.78.1.0/24"]`,
	"remote_ts":   `["10.78.2.0/24"]`,
	"esp":         `"aes128gcm16"`,
	"spi_out":     `"0xc0000001"`,
	"key_out":     `"0x00112233445566778899aabbccddeeff01020304"`,
	"spi_in":      `"0xc0000002"`,
	"key_in":      `"0xffeeddccbbaa99887766554433221100a0b0c0d0"`,
}

// manual writes a valid [manual.NAME] section of 9 lines. over replaces
// values; an empty value turns the key's line into a comment, so line
// numbers stay put. Keys not in manualKeyOrder are appended.
func manual(name string, over map[string]string) string {
	var b strings.Builder
	b.WriteString("[manual." + name + "]\n")
	for _, k := range manualKeyOrder {
		v, ok := over[k]
		if !ok {
			v = manualDefaults[k]
		}
		if v == "" {
			b.WriteString("# no " + k + "\n")
		} else {
			b.WriteString(k + " = " + v + "\n")
		}
	}
	var extra []string
	for k := range over {
		if _, ok := manualDefaults[k]; !ok {
			extra = append(extra, k)
		}
	}
	// Deterministic order for extra keys: as listed in manualKeys.
	for _, k := range manualKeys {
		for _, e := range extra {
			if e == k {
				b.WriteString(k + " = " + over[k] + "\n")
			}
		}
	}
	for _, e := range extra {
		if !containsStr(manualKeys, e) {
			b.WriteString(e + " = " + over[e] + "\n")
		}
	}
	return b.String()
}

func containsStr(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// checkErrors asserts that errs has exactly one entry per want, each
// starting with it.
func checkErrors(t *testing.T, errs Errors, want []string) {
	t.Helper()
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("errors:\n\t%s\nwant prefixes:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestErrors(t *testing.T) {
	const k20 = `"0x00112233445566778899aabbccddeeff01020304"`
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// Syntax.
		{"syntax unterminated header", "[daemon\nlog_level = \"info\"\n", []string{"t.toml:1: invalid TOML:"}},
		{"syntax duplicate key", "[tun]\nmtu = 1400\nmtu = 1500\n", []string{"t.toml:3: invalid TOML: Key 'tun.mtu' has already been defined"}},
		{"syntax newline in string", "[tun]\n\nname = \"a\n", []string{"t.toml:3: invalid TOML: strings cannot contain newlines"}},

		// Top level.
		{"unknown section", "[daemon]\n[foo]\nbar = 1\n", []string{"t.toml:2: foo: unknown section (allowed: [daemon], [tun], [ike], [manual.NAME], [connections.NAME], [secrets.NAME], [pools.NAME])"}},
		{"unknown top-level key", "\n\nfoo = 1\n", []string{"t.toml:3: foo: unknown key (allowed at the top level"}},
		{"pools not table", "pools = 1\n", []string{"t.toml:1: pools: must be a table ([pools]), not an integer"}},
		{"authorities", "\n[authorities.ca]\ncacert = \"ca.pem\"\n", []string{"t.toml:2: authorities: section not supported: certification authorities are not supported by this version of esptun; give CA certificates with cacerts"}},
		{"section not a table", "daemon = 5\n", []string{"t.toml:1: daemon: must be a table ([daemon]), not an integer"}},

		// [daemon]
		{"log_level", "[daemon]\nlog_level = \"verbose\"\n", []string{`t.toml:2: daemon.log_level: unknown value "verbose" (allowed: debug, info, warn, error)`}},
		{"log_format", "[daemon]\n\nlog_format = \"xml\"\n", []string{`t.toml:3: daemon.log_format: unknown value "xml" (allowed: text, json)`}},
		{"scheduling", "[daemon]\nscheduling = \"fifo\"\n", []string{`t.toml:2: daemon.scheduling: unknown value "fifo" (allowed: batch, normal)`}},
		{"workers", "[daemon]\nworkers = -1\n", []string{"t.toml:2: daemon.workers: -1 is out of range (allowed: 0..1024)"}},
		{"workers type", "[daemon]\nworkers = 1.5\n", []string{`t.toml:2: daemon.workers: must be "auto" or an integer in 0..1024, not a float`}},
		{"workers word", "[daemon]\nworkers = \"none\"\n", []string{`t.toml:2: daemon.workers: unknown value "none" (allowed: "auto", or an integer in 0..1024)`}},
		{"control_socket empty", "[daemon]\ncontrol_socket = \"\"\n", []string{"t.toml:2: daemon.control_socket: must not be empty"}},
		{"control_socket long", "[daemon]\ncontrol_socket = \"/" + strings.Repeat("x", 200) + "\"\n", []string{"t.toml:2: daemon.control_socket: path is 201 bytes long"}},
		{"control_socket type", "[daemon]\ncontrol_socket = [\"/a\"]\n", []string{"t.toml:2: daemon.control_socket: must be a string, not an array"}},
		{"daemon unknown key", "[daemon]\nlog_level = \"info\"\nloglevel = \"info\"\n", []string{"t.toml:3: daemon.loglevel: unknown key (allowed in [daemon]: control_socket, log_level, log_format, workers, scheduling)"}},

		// [tun]
		{"tun name long", "[tun]\nname = \"esptun-0123456789\"\n", []string{`t.toml:2: tun.name: invalid interface name "esptun-0123456789" (allowed: 1-15 letters`}},
		{"tun name chars", "[tun]\nname = \"esp/tun\"\n", []string{`t.toml:2: tun.name: invalid interface name "esp/tun"`}},
		{"tun name dotdot", "[tun]\nname = \"..\"\n", []string{`t.toml:2: tun.name: invalid interface name ".."`}},
		{"mtu low", "[tun]\nmtu = 575\n", []string{"t.toml:2: tun.mtu: 575 is out of range (allowed: 576..9000)"}},
		{"mtu high", "[tun]\nmtu = 9001\n", []string{"t.toml:2: tun.mtu: 9001 is out of range (allowed: 576..9000)"}},
		{"mtu string", "[tun]\nmtu = \"1400\"\n", []string{"t.toml:2: tun.mtu: must be an integer in 576..9000, not a string"}},
		{"mtu v6 address", "[tun]\nmtu = 1279\naddresses = [\"10.0.0.1\", \"fd00::1/64\"]\n",
			[]string{"t.toml:2: tun.mtu: 1279 is below the IPv6 minimum of 1280 (RFC 8200 5) and tun.addresses has fd00::1/64"}},
		{"mtu v6 selector", "[tun]\nmtu = 1200\n" + manual("m", map[string]string{"remote_ts": `["10.0.0.0/8", "fd00::/8"]`}),
			[]string{"t.toml:2: tun.mtu: 1200 is below the IPv6 minimum of 1280 (RFC 8200 5) and manual.m has the IPv6 selector fd00::/8"}},
		{"addresses bad", "[tun]\naddresses = [\"10.0.0.1/33\", \"nope\", \"224.0.0.1\"]\n", []string{
			`t.toml:2: tun.addresses: invalid address prefix "10.0.0.1/33"`,
			`t.toml:2: tun.addresses: invalid address "nope"`,
			`t.toml:2: tun.addresses: 224.0.0.1 cannot be an interface address`,
		}},
		{"addresses dup", "[tun]\naddresses = [\"10.0.0.1\", \"10.0.0.1/32\"]\n", []string{"t.toml:2: tun.addresses: 10.0.0.1/32 is listed twice"}},
		{"addresses not list", "[tun]\naddresses = \"10.0.0.1\"\n", []string{`t.toml:2: tun.addresses: must be an array of strings, e.g. ["..."], not a string`}},
		{"addresses element", "[tun]\naddresses = [\"10.0.0.1\", 5]\n", []string{"t.toml:2: tun.addresses: element 1 must be a string, not an integer"}},
		{"install_routes", "[tun]\ninstall_routes = \"yes\"\n", []string{"t.toml:2: tun.install_routes: must be true or false, not a string"}},

		// [ike]
		{"port 0", "[ike]\nport = 0\n", []string{"t.toml:2: ike.port: 0 is out of range (allowed: 1..65535)"}},
		{"natt_port big", "[ike]\nnatt_port = 70000\n", []string{"t.toml:2: ike.natt_port: 70000 is out of range (allowed: 1..65535)"}},
		{"ports equal", "[ike]\nport = 4500\nnatt_port = 4500\n", []string{"t.toml:3: ike.natt_port: port and natt_port must differ (both are 4500)"}},
		{"listen hostname", "[ike]\nlisten = [\"gw.example\"]\n", []string{`t.toml:2: ike.listen: invalid IP address "gw.example" (hostnames are not resolved`}},
		{"listen multicast", "[ike]\nlisten = [\"ff02::1\"]\n", []string{"t.toml:2: ike.listen: ff02::1 is a multicast address"}},
		{"ike unknown", "[ike]\nlisten_port = 1\n", []string{"t.toml:2: ike.listen_port: unknown key (allowed in [ike]: listen, port, natt_port, retransmit_timeout, retransmit_base, retransmit_tries, cookie_threshold, half_open_limit, half_open_timeout, fragment_size, keepalive_interval)"}},

		// [manual.NAME] structure.
		{"manual not table", "manual = 1\n", []string{"t.toml:1: manual: must be a table ([manual]), not an integer"}},
		{"manual entry not table", "[manual]\nsite = \"x\"\n", []string{"t.toml:2: manual.site: must be a table [manual.NAME], not a string"}},
		{"manual array of tables", "[[manual.site]]\nmode = \"pass\"\n", []string{"t.toml:1: manual.site: must be a table [manual.NAME], not an array of tables"}},
		{"manual name", "[manual.\"my site\"]\nmode = \"drop\"\nlocal_ts = [\"0.0.0.0/0\"]\nremote_ts = [\"0.0.0.0/0\"]\n",
			[]string{`t.toml:1: manual."my site": invalid section name "my site" (allowed: 1-64 letters, digits, '_', '-')`}},
		{"manual unknown key", manual("m", map[string]string{"esp_proposals": `["aes128gcm16"]`}),
			[]string{"t.toml:10: manual.m.esp_proposals: unknown key (allowed in [manual.m]: mode, remote_addr,"}},
		{"manual empty", "\n[manual.m]\n", []string{
			"t.toml:2: manual.m.local_ts: required: a non-empty list of traffic selectors",
			"t.toml:2: manual.m.remote_ts: required:",
			`t.toml:2: manual.m.remote_addr: required with mode = "tunnel" (e.g. "10.77.0.2" for port 4500`,
			`t.toml:2: manual.m.esp: required with mode = "tunnel": one ESP proposal, e.g. "aes128gcm16"`,
			`t.toml:2: manual.m.spi_out: required with mode = "tunnel"`,
			`t.toml:2: manual.m.spi_in: required with mode = "tunnel"`,
			`t.toml:2: manual.m.key_out: required with mode = "tunnel": hex key material`,
			`t.toml:2: manual.m.key_in: required with mode = "tunnel"`,
		}},
		{"mode", manual("m", map[string]string{"mode": `"transport"`}), []string{`t.toml:10: manual.m.mode: unknown value "transport" (allowed: tunnel, pass, drop)`}},

		// remote_addr, local_addr
		{"remote_addr missing", manual("m", map[string]string{"remote_addr": ""}), []string{`t.toml:1: manual.m.remote_addr: required with mode = "tunnel"`}},
		{"remote_addr hostname", manual("m", map[string]string{"remote_addr": `"gw.example:4500"`}),
			[]string{`t.toml:2: manual.m.remote_addr: invalid address "gw.example:4500" (allowed: "10.77.0.2", "10.77.0.2:4500", "fd00::2", "[fd00::2]:4500"; hostnames are not resolved)`}},
		{"remote_addr port 0", manual("m", map[string]string{"remote_addr": `"10.77.0.2:0"`}), []string{`t.toml:2: manual.m.remote_addr: port 0 in "10.77.0.2:0" is not a valid destination`}},
		{"remote_addr any", manual("m", map[string]string{"remote_addr": `"0.0.0.0"`}), []string{"t.toml:2: manual.m.remote_addr: 0.0.0.0 is not a unicast address"}},
		{"remote_addr family vs listen", "[ike]\nlisten = [\"10.77.0.1\"]\n" + manual("m", map[string]string{"remote_addr": `"[fd00::2]:4500"`}),
			[]string{"t.toml:4: manual.m.remote_addr: fd00::2 cannot be reached: ike.listen (10.77.0.1) has no address of its family"}},
		{"local_addr family", manual("m", map[string]string{"local_addr": `"fd00::1"`}), []string{"t.toml:10: manual.m.local_addr: fd00::1 and remote_addr 10.77.0.2 are of different address families"}},
		{"local_addr not listened on", "[ike]\nlisten = [\"10.77.0.1\"]\n" + manual("m", map[string]string{"local_addr": `"10.77.0.9"`}),
			[]string{"t.toml:12: manual.m.local_addr: 10.77.0.9 is not one of ike.listen (10.77.0.1)"}},

		// Selectors.
		{"local_ts missing", manual("m", map[string]string{"local_ts": ""}), []string{"t.toml:1: manual.m.local_ts: required: a non-empty list of traffic selectors"}},
		{"local_ts empty", manual("m", map[string]string{"local_ts": "[]"}), []string{"t.toml:3: manual.m.local_ts: must not be empty"}},
		{"local_ts string", manual("m", map[string]string{"local_ts": `"10.0.0.0/8"`}), []string{"t.toml:3: manual.m.local_ts: must be an array of strings"}},
		{"remote_ts bad", manual("m", map[string]string{"remote_ts": `["10.0.0.0/8[tcp/99999]", "dynamic"]`}), []string{
			`t.toml:4: manual.m.remote_ts: traffic selector "10.0.0.0/8[tcp/99999]":`,
			`t.toml:4: manual.m.remote_ts: "dynamic" needs IKE to learn the address`,
		}},
		{"families disjoint", manual("m", map[string]string{"remote_ts": `["fd00::/8"]`}),
			[]string{"t.toml:4: manual.m.remote_ts: no address family in common with local_ts"}},

		// esp
		{"esp unknown", manual("m", map[string]string{"esp": `"aes128ccm16"`}),
			[]string{`t.toml:5: manual.m.esp: ESP proposal "aes128ccm16": unsupported keyword "aes128ccm16" (allowed: aes128gcm16, aes256gcm16, chacha20poly1305,`}},
		{"esp list", manual("m", map[string]string{"esp": `["aes128gcm16"]`}), []string{"t.toml:5: manual.m.esp: must be a string, not an array"}},
		{"esp esn keyword", manual("m", map[string]string{"esp": `"aes128gcm16-esn"`}), []string{`t.toml:5: manual.m.esp: "aes128gcm16-esn": the esn keyword has no peer to negotiate with here; remove it and set esn = true`}},
		{"esp null refused", manual("m", map[string]string{"esp": `"null-sha256"`,
			"key_out": `"0x` + strings.Repeat("11", 32) + `"`, "key_in": `"0x` + strings.Repeat("22", 32) + `"`}),
			[]string{`t.toml:5: manual.m.esp: "null-sha256" provides no confidentiality (ENCR_NULL); set allow_null = true to use it anyway`}},

		// SPIs
		{"spi reserved", manual("m", map[string]string{"spi_out": `"0xff"`}), []string{"t.toml:6: manual.m.spi_out: SPI 255 is reserved (allowed: 256..4294967295"}},
		{"spi zero", manual("m", map[string]string{"spi_in": "0"}), []string{"t.toml:8: manual.m.spi_in: SPI 0 is reserved"}},
		{"spi junk", manual("m", map[string]string{"spi_out": `"0xc000000g"`}), []string{`t.toml:6: manual.m.spi_out: invalid SPI "0xc000000g"`}},
		{"spi octal-looking", manual("m", map[string]string{"spi_out": `"1_000"`}), []string{`t.toml:6: manual.m.spi_out: invalid SPI "1_000"`}},
		{"spi too big", manual("m", map[string]string{"spi_in": `"0x100000000"`}), []string{`t.toml:8: manual.m.spi_in: SPI "0x100000000" does not fit in 32 bits`}},
		{"spi negative", manual("m", map[string]string{"spi_in": "-300"}), []string{`t.toml:8: manual.m.spi_in: invalid SPI -300`}},
		{"spi type", manual("m", map[string]string{"spi_in": "true"}), []string{`t.toml:8: manual.m.spi_in: must be a string or an integer, not a boolean`}},
		{"spi_in duplicate", manual("a", nil) + manual("b", map[string]string{"spi_out": `"0xc0000003"`, "spi_in": `3221225474`}),
			[]string{"t.toml:17: manual.b.spi_in: 0xc0000002 is already the spi_in of manual.a (line 8); inbound SPIs must be unique"}},
		{"spi_in duplicate in line order", manual("z", nil) + manual("a", map[string]string{"spi_out": `"0xc0000003"`}),
			[]string{"t.toml:17: manual.a.spi_in: 0xc0000002 is already the spi_in of manual.z (line 8)"}},

		// Keys
		{"key short", manual("m", map[string]string{"key_out": `"0x0011223344556677"`}),
			[]string{"t.toml:7: manual.m.key_out: is 8 bytes, must be 20 bytes for aes128gcm16 (16-byte key + 4-byte salt): 40 hex digits after 0x"}},
		{"key for cbc", manual("m", map[string]string{"esp": `"aes256-sha384"`}), []string{
			"t.toml:7: manual.m.key_out: is 20 bytes, must be 80 bytes for aes256-sha384 (32-byte key + 48-byte integrity key): 160 hex digits after 0x",
			"t.toml:9: manual.m.key_in: is 20 bytes, must be 80 bytes for aes256-sha384 (32-byte key + 48-byte integrity key)",
		}},
		{"key no prefix", manual("m", map[string]string{"key_in": `"ffeeddccbbaa99887766554433221100a0b0c0d0"`}), []string{`t.toml:9: manual.m.key_in: must start with "0x" followed by hex digits`}},
		{"key not hex", manual("m", map[string]string{"key_in": `"0xffeeddccbbaa99887766554433221100a0b0c0dz"`}), []string{"t.toml:9: manual.m.key_in: character 40 after 0x is not a hex digit"}},
		{"key odd", manual("m", map[string]string{"key_in": `"0xffeeddccbbaa99887766554433221100a0b0c0d"`}), []string{"t.toml:9: manual.m.key_in: has an odd number of hex digits (39)"}},
		{"key missing", manual("m", map[string]string{"key_in": ""}), []string{`t.toml:1: manual.m.key_in: required with mode = "tunnel": hex with 0x prefix, 20 bytes for aes128gcm16 (16-byte key + 4-byte salt)`}},
		{"key type", manual("m", map[string]string{"key_in": "1234"}), []string{"t.toml:9: manual.m.key_in: must be a hex string with 0x prefix, not an integer"}},
		{"keys equal", manual("m", map[string]string{"key_in": k20}), []string{"t.toml:9: manual.m.key_in: must differ from key_out"}},

		// Numbers, durations, counts.
		{"replay_window", manual("m", map[string]string{"replay_window": "65537"}), []string{"t.toml:10: manual.m.replay_window: 65537 is out of range (allowed: 0..65536)"}},
		{"priority", manual("m", map[string]string{"priority": "-1"}), []string{"t.toml:10: manual.m.priority: -1 is out of range (allowed: 0..4294967295)"}},
		{"encap type", manual("m", map[string]string{"encap": `"no"`}), []string{"t.toml:10: manual.m.encap: must be true or false, not a string"}},
		{"rekey_time >= life_time", manual("m", map[string]string{"rekey_time": `"4h"`, "life_time": `"1h"`}),
			[]string{"t.toml:10: manual.m.rekey_time: 4h0m0s must be less than life_time (1h0m0s)"}},
		{"rekey_time == life_time", manual("m", map[string]string{"rekey_time": "3600", "life_time": `"60m"`}),
			[]string{"t.toml:10: manual.m.rekey_time: 1h0m0s must be less than life_time (1h0m0s)"}},
		{"duration bad", manual("m", map[string]string{"life_time": `"4 hours"`}),
			[]string{`t.toml:10: manual.m.life_time: invalid duration "4 hours" (allowed: integer seconds, swanctl style "30s", "10m", "4h", "1d", or Go style "1h30m")`}},
		{"duration negative", manual("m", map[string]string{"life_time": `"-1h"`}), []string{`t.toml:10: manual.m.life_time: duration "-1h" must not be negative`}},
		{"duration negative int", manual("m", map[string]string{"life_time": "-5"}), []string{`t.toml:10: manual.m.life_time: -5 seconds is out of range`}},
		{"duration overflow", manual("m", map[string]string{"life_time": `"99999999999999d"`}), []string{`t.toml:10: manual.m.life_time: duration "99999999999999d" is out of range`}},
		{"bytes bad suffix", manual("m", map[string]string{"life_bytes": `"1T"`}),
			[]string{`t.toml:10: manual.m.life_bytes: invalid byte count "1T" (allowed: an integer, or a string like "500000", "512K", "100M", "2G")`}},
		{"bytes overflow", manual("m", map[string]string{"life_bytes": `"18446744073709551615G"`}), []string{`t.toml:10: manual.m.life_bytes: byte count "18446744073709551615G" is out of range`}},
		{"rekey_bytes >= life_bytes", manual("m", map[string]string{"rekey_bytes": `"2G"`, "life_bytes": `"1g"`}),
			[]string{"t.toml:10: manual.m.rekey_bytes: 2147483648 must be less than life_bytes (1073741824)"}},
		{"packets", manual("m", map[string]string{"rekey_packets": "100", "life_packets": `"10"`}),
			[]string{"t.toml:10: manual.m.rekey_packets: 100 must be less than life_packets (10)"}},
		{"packets bad", manual("m", map[string]string{"life_packets": `"1M"`}), []string{`t.toml:10: manual.m.life_packets: must be a non-negative integer, got "1M"`}},

		// Shunts.
		{"pass with SA keys", "[manual.p]\nmode = \"pass\"\nlocal_ts = [\"10.0.0.0/8\"]\nremote_ts = [\"10.0.0.0/8\"]\nesp = \"aes128gcm16\"\nspi_in = 300\nkey_in = \"0x00\"\nremote_addr = \"10.0.0.1\"\n", []string{
			`t.toml:5: manual.p.esp: not allowed with mode = "pass": a shunt policy has no SA (allowed with pass and drop: mode, local_ts, remote_ts, priority)`,
			`t.toml:6: manual.p.spi_in: not allowed with mode = "pass"`,
			`t.toml:7: manual.p.key_in: not allowed with mode = "pass"`,
			`t.toml:8: manual.p.remote_addr: not allowed with mode = "pass"`,
		}},
		{"drop without selectors", "[manual.d]\nmode = \"drop\"\nencap = false\n", []string{
			"t.toml:1: manual.d.local_ts: required",
			"t.toml:1: manual.d.remote_ts: required",
			`t.toml:3: manual.d.encap: not allowed with mode = "drop"`,
		}},

		// Errors keep their lines when keys come from inline tables and
		// dotted keys.
		{"inline table", "[manual]\nsite = { mode = \"pass\", local_ts = [\"10.0.0.0/8\"],\n  remote_ts = [\"bad\"] }\n",
			[]string{`t.toml:3: manual.site.remote_ts: traffic selector "bad":`}},
		{"dotted keys", "tun.mtu = 100\n\ndaemon.log_level = \"loud\"\n", []string{
			"t.toml:1: tun.mtu: 100 is out of range",
			`t.toml:3: daemon.log_level: unknown value "loud"`,
		}},
		{"quoted keys", "[\"tun\"]\n'mtu' = 100\n", []string{"t.toml:2: tun.mtu: 100 is out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parse(t, tt.src)
			checkErrors(t, errs, tt.want)
			for _, e := range errs {
				if e.File != "t.toml" {
					t.Errorf("error names file %q", e.File)
				}
			}
		})
	}
}

// TestMultipleErrors checks that one pass reports problems in every section,
// in line order, and that a valid section next to broken ones is still
// checked.
func TestMultipleErrors(t *testing.T) {
	src := "[daemon]\nlog_level = \"loud\"\nworkers = 5000\n" + // lines 1-3
		"[tun]\nmtu = 10\n" + // 4-5
		"[ike]\nport = 0\n" + // 6-7
		manual("bad", map[string]string{"spi_out": "1", "key_in": `"0x00"`}) + // 8-16
		manual("good", map[string]string{"spi_in": `"0xc0000009"`, "esp": `"aes256gcm16"`}) // 17-25
	_, errs := parse(t, src)
	checkErrors(t, errs, []string{
		"t.toml:2: daemon.log_level:",
		"t.toml:3: daemon.workers:",
		"t.toml:5: tun.mtu:",
		"t.toml:7: ike.port:",
		"t.toml:13: manual.bad.spi_out: SPI 1 is reserved",
		"t.toml:16: manual.bad.key_in: is 1 bytes, must be 20 bytes",
		"t.toml:23: manual.good.key_out: is 20 bytes, must be 36 bytes for aes256gcm16 (32-byte key + 4-byte salt)",
		"t.toml:25: manual.good.key_in: is 20 bytes, must be 36 bytes",
	})
	if want := strings.Count(errs.Error(), "\n") + 1; want != len(errs) {
		t.Errorf("Errors.Error() has %d lines for %d errors", want, len(errs))
	}
	var e *Error
	if !errors.As(error(errs), &e) || e.Line != 2 {
		t.Errorf("errors.As(*Error) = %v", e)
	}
}

// TestDaemonWorkers checks what [daemon] workers means: unset and "auto"
// leave the number to the tunnel, 0 is none at all (whatever the number
// of CPUs), and other numbers are taken as they are.
func TestDaemonWorkers(t *testing.T) {
	for _, c := range []struct {
		src  string
		want int
	}{
		{"", WorkersAuto},
		{"workers = \"auto\"\n", WorkersAuto},
		{"workers = 0\n", WorkersNone},
		{"workers = 1\n", 1},
		{"workers = 1024\n", 1024},
	} {
		cfg := mustParse(t, "[daemon]\n"+c.src)
		if cfg.Daemon.Workers != c.want {
			t.Errorf("%q: Workers = %d, want %d", c.src, cfg.Daemon.Workers, c.want)
		}
	}
	if WorkersNone >= 0 || WorkersAuto != 0 {
		t.Errorf("WorkersNone = %d, WorkersAuto = %d: tunnel.Options.Workers takes a negative number for none and 0 for automatic", WorkersNone, WorkersAuto)
	}
}

// TestRoundTrip sets every key to a value other than its default and checks
// that it arrives in the struct.
func TestRoundTrip(t *testing.T) {
	key48 := strings.Repeat("a1", 48)
	key48in := strings.Repeat("b2", 48)
	src := `[daemon]
control_socket = "/tmp/esptun.sock"
log_level = "debug"
log_format = "json"
workers = 3
scheduling = "normal"

[tun]
name = "ipsec.0"
mtu = 1500
addresses = ["10.78.1.1/24", "fd00:78::1"]
install_routes = false
offload = false

[ike]
listen = ["10.77.0.1", "fd00:77::1"]
port = 1500
natt_port = 14500

[manual.a]
mode = "tunnel"
remote_addr = "[fd00:77::2]"
local_addr = "fd00:77::1"
local_ts = ["fd00:78::/64", "10.78.1.0/24"]
remote_ts = ["::/0", "10.0.0.1/32[tcp/443]"]
priority = 7
esp = "AES128-SHA256"
allow_null = true
encap = false
esn = true
replay_window = 0
spi_out = 256
spi_in = "4294967295"
key_out = "0x` + key48 + `"
key_in = "0X` + strings.ToUpper(key48in) + `"
rekey_time = "1h30m"
life_time = "1d"
rekey_bytes = "512K"
life_bytes = 1048576
rekey_packets = "1000"
life_packets = 2000

[manual.b]
mode = "drop"
local_ts = ["0.0.0.0/0"]
remote_ts = ["10.9.0.0/16[udp/500-600]"]
priority = 1

[manual.c]
mode = "pass"
local_ts = ["::/0"]
remote_ts = ["::/0[icmpv6]"]
`
	cfg := mustParse(t, src)
	if want := (Daemon{ControlSocket: "/tmp/esptun.sock", LogLevel: "debug", LogFormat: "json", Workers: 3, Scheduling: "normal"}); cfg.Daemon != want {
		t.Errorf("daemon = %+v", cfg.Daemon)
	}
	wantTun := Tun{Name: "ipsec.0", MTU: 1500,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.78.1.1/24"), netip.MustParsePrefix("fd00:78::1/128")}}
	if !reflect.DeepEqual(cfg.Tun, wantTun) {
		t.Errorf("tun = %+v", cfg.Tun)
	}
	wantIKE := defaultIKE()
	wantIKE.Listen = []netip.Addr{netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd00:77::1")}
	wantIKE.Port, wantIKE.NATTPort = 1500, 14500
	if !reflect.DeepEqual(cfg.IKE, wantIKE) {
		t.Errorf("ike = %+v", cfg.IKE)
	}
	if len(cfg.Manual) != 3 {
		t.Fatalf("%d manual sections", len(cfg.Manual))
	}
	sels := func(ss ...string) []spd.Selector {
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
	a := cfg.Manual[0]
	if a.Name != "a" || a.Line != 20 || a.Mode != ModeTunnel ||
		a.RemoteAddr != netip.MustParseAddrPort("[fd00:77::2]:14500") || a.LocalAddr != netip.MustParseAddr("fd00:77::1") ||
		!reflect.DeepEqual(a.LocalTS, sels("fd00:78::/64", "10.78.1.0/24")) ||
		!reflect.DeepEqual(a.RemoteTS, sels("::/0", "10.0.0.1/32[tcp/443]")) ||
		a.Priority != 7 || a.ESP.Name != "aes128-sha256" || !a.AllowNull || a.Encap || !a.ESN || a.ReplayWindow != 0 ||
		a.SPIOut != 256 || a.SPIIn != 0xffffffff ||
		!reflect.DeepEqual(a.KeyOut, hexKey(t, key48)) || !reflect.DeepEqual(a.KeyIn, hexKey(t, key48in)) ||
		a.RekeyTime != 90*time.Minute || a.LifeTime != 24*time.Hour ||
		a.RekeyBytes != 512<<10 || a.LifeBytes != 1<<20 || a.RekeyPackets != 1000 || a.LifePackets != 2000 {
		t.Errorf("manual.a = %+v", a)
	}
	b := cfg.Manual[1]
	if b.Name != "b" || b.Mode != ModeDrop || b.Priority != 1 || !reflect.DeepEqual(b.RemoteTS, sels("10.9.0.0/16[udp/500-600]")) {
		t.Errorf("manual.b = %+v", b)
	}
	c := cfg.Manual[2]
	if c.Name != "c" || c.Mode != ModePass || !reflect.DeepEqual(c.RemoteTS, sels("::/0[icmpv6]")) {
		t.Errorf("manual.c = %+v", c)
	}
}

func TestValueForms(t *testing.T) {
	durations := map[string]time.Duration{
		"30": 30 * time.Second, "30s": 30 * time.Second, "10m": 10 * time.Minute, "4h": 4 * time.Hour,
		"1d": 24 * time.Hour, "2D": 48 * time.Hour, "1h30m": 90 * time.Minute, "1.5h": 90 * time.Minute,
		"0": 0, "250ms": 250 * time.Millisecond,
	}
	for in, want := range durations {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "h", "4 hours", "-1s", "1w", "0x10"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) succeeded", in)
		}
	}
	bytesOK := map[string]uint64{"0": 0, "500000": 500000, "512K": 512 << 10, "512k": 512 << 10, "100M": 100 << 20, "2G": 2 << 30, "2 G": 2 << 30}
	for in, want := range bytesOK {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "K", "1T", "-1", "1.5M", "0x10"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded", in)
		}
	}
	remote := map[string]string{
		"10.77.0.2":           "10.77.0.2:4500",
		"10.77.0.2:500":       "10.77.0.2:500",
		"fd00::2":             "[fd00::2]:4500",
		"[fd00::2]":           "[fd00::2]:4500",
		"[fd00::2]:14500":     "[fd00::2]:14500",
		"[fe80::1%eth0]:4500": "[fe80::1%eth0]:4500",
	}
	for in, want := range remote {
		if got, err := parseRemoteAddr(in, 4500); err != nil || got.String() != want {
			t.Errorf("parseRemoteAddr(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "gw.example", "10.77.0.2:", "10.77.0.2:65536", "[10.77.0.2]:4500", "::", "[ff02::1]:4500", "fd00::2:4500x"} {
		if got, err := parseRemoteAddr(in, 4500); err == nil {
			t.Errorf("parseRemoteAddr(%q) = %v, want an error", in, got)
		}
	}
}

func TestWarnings(t *testing.T) {
	cfg := mustParse(t, manual("m", map[string]string{"esp": `"aes128gcm16-x25519"`}))
	want := []string{`t.toml:5: manual.m.esp: key exchange group "x25519" ignored: static keys involve no key exchange`}
	if got := cfg.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings = %q, want %q", got, want)
	}
	cfg = mustParse(t, manual("m", map[string]string{"esp": `"aes128gcm16-modpnone"`}))
	if got := cfg.Warnings(); len(got) != 0 {
		t.Errorf("no PFS group, yet warnings %q", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[tun]\nmtu = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	if err == nil || err.Error() != bad+":2: tun.mtu: 1 is out of range (allowed: 576..9000)" {
		t.Errorf("Load(bad) = %v", err)
	}

	keys := filepath.Join(dir, "keys.toml")
	if err := os.WriteFile(keys, []byte(designExample), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("mode 0600: warnings %q", w)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := os.Chmod(keys, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	want := keys + ": file holds static keys but is readable by group or others (mode 0644); chmod 600 " + keys
	if w := cfg.Warnings(); len(w) != 1 || w[0] != want {
		t.Errorf("mode 0644: warnings %q, want %q", w, want)
	}

	// Without keys, a world-readable file is fine.
	shunt := filepath.Join(dir, "shunt.toml")
	if err := os.WriteFile(shunt, []byte("[manual.p]\nmode = \"pass\"\nlocal_ts = [\"0.0.0.0/0\"]\nremote_ts = [\"10.0.0.0/8\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(shunt); err != nil || len(cfg.Warnings()) != 0 {
		t.Errorf("Load(shunt) = %v, %v", cfg, err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Key: "tun.mtu", Msg: "bad"}, "f:3: tun.mtu: bad"},
		{Error{File: "f", Line: 3, Msg: "bad"}, "f:3: bad"},
		{Error{File: "f", Key: "tun.mtu", Msg: "bad"}, "f: tun.mtu: bad"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
	if got := formatPath([]string{"manual", "my site", `a"b`}); got != `manual."my site"."a\"b"` {
		t.Errorf("formatPath = %s", got)
	}
}

func TestScanKeyLines(t *testing.T) {
	src := "\ufeff# comment\n" + // 1
		"a = 1\n" + // 2
		"\"quoted.key\" = 2\n" + // 3
		"b.c = { d = 1, e = [1, 2,\n" + // 4
		"  3], f = { g = \"x\" } }\n" + // 5
		"s = \"\"\"\n" + // 6
		"x = 1\n" + // 7
		"\"\"\"\n" + // 8
		"[t . 'u v']\n" + // 9
		"w = '''\n" + // 10
		"[not.a.table]\n" + // 11
		"'''\n" + // 12
		"arr = [\n" + // 13
		"  { h = 1 }, # ]\n" + // 14
		"]\n" + // 15
		"[[aot]]\n" + // 16
		"i = 1 # j = 2\n" + // 17
		"\"esc\\u0041\\\"\" = \"a\\\"b\" # q\r\n" + // 18
		"k = { l = 1,\n" + // 19
		"  m = 2, }\n" // 20
	want := map[string]int{
		"a": 2, "quoted.key": 3, "b": 4, "b\x00c": 4, "b\x00c\x00d": 4, "b\x00c\x00e": 4,
		"b\x00c\x00f": 5, "b\x00c\x00f\x00g": 5, "s": 6, "t": 9, "t\x00u v": 9, "t\x00u v\x00w": 10,
		"t\x00u v\x00arr": 13, "aot": 16, "aot\x00i": 17, "aot\x00escA\"": 18, "aot\x00k": 19, "aot\x00k\x00l": 19, "aot\x00k\x00m": 20,
	}
	got := scanKeyLines(src)
	if !reflect.DeepEqual(map[string]int(got), want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	// And the decoder agrees that this is TOML.
	var v map[string]any
	if err := decodeTOML(src, &v); err != nil {
		t.Fatal(err)
	}
}
