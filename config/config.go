package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults of the keys whose zero value is not the default.
const (
	DefaultControlSocket = "/run/esptun/esptun.sock"
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "text"
	DefaultScheduling    = "batch"
	DefaultTunName       = "esptun0"
	DefaultMTU           = 1400
	DefaultIKEPort       = 500
	DefaultNATTPort      = 4500
	DefaultReplayWindow  = 1024

	// [ike], after strongswan.conf's charon.* defaults.
	DefaultRetransmitTimeout = 4 * time.Second
	DefaultRetransmitBase    = 1.8
	DefaultRetransmitTries   = 5
	DefaultCookieThreshold   = 30
	DefaultHalfOpenLimit     = 10000
	DefaultHalfOpenTimeout   = 30 * time.Second
	DefaultFragmentSize      = 1280
	DefaultKeepaliveInterval = 20 * time.Second // RFC 3948 4: 20 seconds
)

// Limits of the validated values.
const (
	MinMTU          = 576  // RFC 791: every IPv4 host must accept 576-byte datagrams
	MinMTUIPv6      = 1280 // RFC 8200 5: the IPv6 minimum link MTU
	MaxMTU          = 9000 // jumbo frames
	MaxReplayWindow = 65536
	MaxWorkers      = 1024
	MinSPI          = 256 // RFC 4303 2.1: 1-255 are reserved by IANA, 0 is never sent
)

// WorkersAuto and WorkersNone are Daemon.Workers for workers = "auto" (the
// default) and workers = 0, as tunnel.Options.Workers takes them.
const (
	WorkersAuto = 0
	WorkersNone = -1
)

// Load reads, parses and validates the file at path. A file that cannot be
// read gives the os error wrapped ("config: ..."); a file that does not
// validate gives Errors listing every problem.
//
// Because key files must stay private, Load also adds a warning when the file
// holds static keys or secrets and is readable by group or others (not on
// Windows, where file modes do not say so). Parse gives the same warning for
// each secret_file and private key file it reads.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if what := cfg.holdsKeys(); what != "" && runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o044 != 0 {
			cfg.warnings = append(cfg.warnings, fmt.Sprintf("%s: file holds %s but is readable by group or others (mode %04o); chmod 600 %s",
				path, what, fi.Mode().Perm(), path))
		}
	}
	return cfg, nil
}

// Parse parses and validates data as the contents of file. On failure the
// error is Errors, every entry formatted as "FILE:LINE: key: message"
// (syntax errors: "FILE:LINE: message").
//
// Files named by the configuration (certs, cacerts, secret_file, private
// key files) are resolved against file's directory, checked for
// readability and, for secrets and keys, read. Nothing else is touched.
func Parse(file string, data []byte) (cfg *Config, err error) {
	var raw map[string]any
	if err := decodeTOML(string(data), &raw); err != nil {
		e := &Error{File: file, Msg: "invalid TOML: " + err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			e.Line = syntaxErrorLine(data, pe.Position)
			e.Msg = "invalid TOML: " + pe.Message
			if mayHoldSecret(data, e.Line) {
				// The decoder quotes what it found, which may be part
				// of a secret.
				e.Msg = "invalid TOML on a line that may hold a secret (details withheld; check the quoting of the value)"
			}
		}
		return nil, Errors{e}
	}
	c := &checker{file: file, dir: filepath.Dir(file), lines: scanKeyLines(string(data))}
	cfg = c.config(raw)
	if len(c.errs) > 0 {
		sortByLine(c.errs, file)
		return nil, c.errs
	}
	sortByLine(c.warns, file)
	for _, w := range c.warns {
		cfg.warnings = append(cfg.warnings, w.Error())
	}
	return cfg, nil
}

// syntaxErrorLine is the line of a TOML syntax error. The decoder counts a
// newline that ends a broken line as the start of the next one, so the line
// is taken from the byte offset where possible.
func syntaxErrorLine(data []byte, pos toml.Position) int {
	off := pos.Start
	switch {
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		off += 3 // the decoder's offsets start after a BOM
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		off += 2
	}
	if pos.Start <= 0 || off >= len(data) {
		return max(pos.Line, 1)
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// mayHoldSecret reports whether line (1-based) of data may hold key
// material: it mentions a secret or a manual key, or lies in a [secrets]
// table.
func mayHoldSecret(data []byte, line int) bool {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return true
	}
	l := strings.ToLower(lines[line-1])
	if strings.Contains(l, "secret") || strings.Contains(l, "key") {
		return true
	}
	for i := line - 1; i >= 0; i-- {
		h := strings.TrimLeft(strings.ToLower(lines[i]), " \t")
		if strings.HasPrefix(h, "[") {
			return strings.Contains(h, "secrets")
		}
	}
	return false
}

// decodeTOML runs the TOML decoder, turning a panic inside it into an error:
// a configuration file must never crash the daemon.
func decodeTOML(src string, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder failure: %v", r)
		}
	}()
	_, err = toml.Decode(src, v)
	return err
}

// Warnings returns problems that do not stop the configuration from being
// used, each formatted like an Error.
func (c *Config) Warnings() []string { return slices.Clone(c.warnings) }

// Line returns the line where the dotted key (as in Error.Key, e.g.
// "manual.site.encap") or the table it names is defined, or 0. It lets later
// stages report problems as "FILE:LINE: key: message".
func (c *Config) Line(key string) int {
	return (&checker{lines: c.lines}).lineOf(strings.Split(key, "."))
}

// holdsKeys says what secret material the file itself holds, or "".
func (c *Config) holdsKeys() string {
	for _, m := range c.Manual {
		if len(m.KeyIn) > 0 || len(m.KeyOut) > 0 {
			return "static keys"
		}
	}
	for _, s := range c.Secrets {
		if len(s.Data) > 0 && !s.fromFile {
			return "secrets"
		}
	}
	return ""
}

// Sections of swanctl.conf that this version does not accept, with why.
var unsupportedSections = map[string]string{
	"authorities": "certification authorities are not supported by this version of esptun; give CA certificates with cacerts in [connections.NAME.remote]",
}

var topSections = []string{"daemon", "tun", "ike", "manual", "connections", "secrets", "pools"}

const allowedSections = "[daemon], [tun], [ike], [manual.NAME], [connections.NAME], [secrets.NAME], [pools.NAME]"

func (c *checker) config(raw map[string]any) *Config {
	cfg := &Config{
		File: c.file,
		Daemon: Daemon{
			ControlSocket: DefaultControlSocket,
			LogLevel:      DefaultLogLevel,
			LogFormat:     DefaultLogFormat,
			Scheduling:    DefaultScheduling,
		},
		Tun: Tun{
			Name:          DefaultTunName,
			MTU:           DefaultMTU,
			InstallRoutes: true,
			Offload:       true,
		},
		IKE: IKE{
			Port:              DefaultIKEPort,
			NATTPort:          DefaultNATTPort,
			RetransmitTimeout: DefaultRetransmitTimeout,
			RetransmitBase:    DefaultRetransmitBase,
			RetransmitTries:   DefaultRetransmitTries,
			CookieThreshold:   DefaultCookieThreshold,
			HalfOpenLimit:     DefaultHalfOpenLimit,
			HalfOpenTimeout:   DefaultHalfOpenTimeout,
			FragmentSize:      DefaultFragmentSize,
			KeepaliveInterval: DefaultKeepaliveInterval,
		},
		lines: c.lines,
	}
	top := &table{c: c, m: raw}
	sections := map[string]*table{}
	for _, k := range top.keysInOrder() {
		v := raw[k]
		if why, ok := unsupportedSections[k]; ok {
			top.errorf(k, "section not supported: %s", why)
			continue
		}
		if !slices.Contains(topSections, k) {
			if _, isTable := v.(map[string]any); isTable {
				top.errorf(k, "unknown section (allowed: %s)", allowedSections)
			} else {
				top.errorf(k, "unknown key (allowed at the top level: the sections %s)", allowedSections)
			}
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			top.errorf(k, "must be a table ([%s]), not %s", k, typeName(v))
			continue
		}
		sections[k] = &table{c: c, path: []string{k}, m: m}
	}
	if t := sections["daemon"]; t != nil {
		c.daemon(t, &cfg.Daemon)
	}
	if t := sections["tun"]; t != nil {
		c.tun(t, &cfg.Tun)
	}
	if t := sections["ike"]; t != nil {
		c.ike(t, &cfg.IKE)
	}
	if t := sections["manual"]; t != nil {
		cfg.Manual = c.manuals(t, &cfg.IKE)
	}
	if t := sections["secrets"]; t != nil {
		cfg.Secrets = c.secrets(t)
	}
	if t := sections["pools"]; t != nil {
		cfg.Pools = c.pools(t, &cfg.Tun)
	}
	if t := sections["connections"]; t != nil {
		cfg.Connections = c.connections(t, &cfg.IKE, cfg.Secrets, cfg.Pools)
	}
	c.checkPoolsUsed(cfg)
	c.checkMTU(cfg)
	return cfg
}

func (c *checker) daemon(t *table, d *Daemon) {
	t.unknown([]string{"control_socket", "log_level", "log_format", "workers", "scheduling"})
	if s, ok := t.str("control_socket"); ok {
		// sockaddr_un's sun_path: 108 bytes on Linux and Windows, 104 on
		// macOS and the BSDs, the terminating NUL included.
		max := 107
		if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
			max = 103
		}
		switch {
		case s == "":
			t.errorf("control_socket", "must not be empty (default %q)", DefaultControlSocket)
		case strings.IndexByte(s, 0) >= 0:
			t.errorf("control_socket", "must not contain NUL bytes")
		case len(s) > max:
			t.errorf("control_socket", "path is %d bytes long; a unix socket path can have at most %d here", len(s), max)
		default:
			d.ControlSocket = s
		}
	}
	if s, ok := t.oneOf("log_level", "debug", "info", "warn", "error"); ok {
		d.LogLevel = s
	}
	if s, ok := t.oneOf("log_format", "text", "json"); ok {
		d.LogFormat = s
	}
	d.Workers = t.workers("workers")
	if s, ok := t.oneOf("scheduling", "batch", "normal"); ok {
		d.Scheduling = s
	}
}

// workers reads [daemon] workers: "auto" (or absent) is WorkersAuto, an
// integer 0 is WorkersNone, 1..MaxWorkers that many.
func (t *table) workers(k string) int {
	switch v := t.m[k].(type) {
	case nil:
		return WorkersAuto
	case string:
		if v != "auto" {
			t.errorf(k, "unknown value %q (allowed: \"auto\", or an integer in 0..%d)", v, MaxWorkers)
		}
		return WorkersAuto
	case int64:
		n, ok := t.integer(k, 0, MaxWorkers)
		switch {
		case !ok:
			return WorkersAuto
		case n == 0:
			return WorkersNone
		}
		return int(n)
	default:
		t.errorf(k, "must be \"auto\" or an integer in 0..%d, not %s", MaxWorkers, typeName(v))
		return WorkersAuto
	}
}

// validIfName reports whether s can name a network interface everywhere
// esptun runs: 1 to IFNAMSIZ-1 (15) bytes of letters, digits, '_', '-', '.'.
func validIfName(s string) bool {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (c *checker) tun(t *table, tun *Tun) {
	t.unknown([]string{"name", "mtu", "addresses", "install_routes", "offload"})
	if s, ok := t.str("name"); ok {
		if validIfName(s) {
			tun.Name = s
		} else {
			t.errorf("name", "invalid interface name %q (allowed: 1-15 letters, digits, '_', '-', '.'; not \".\" or \"..\")", s)
		}
	}
	if n, ok := t.integer("mtu", MinMTU, MaxMTU); ok {
		tun.MTU = int(n)
	}
	if list, ok := t.strList("addresses"); ok {
		for _, s := range list {
			p, err := parseIfPrefix(s)
			if err != nil {
				t.errorf("addresses", "%v", err)
				continue
			}
			if slices.Contains(tun.Addresses, p) {
				t.errorf("addresses", "%s is listed twice", p)
				continue
			}
			tun.Addresses = append(tun.Addresses, p)
		}
	}
	tun.InstallRoutes = t.boolean("install_routes", true)
	tun.Offload = t.boolean("offload", true)
}

// parseIfPrefix parses an interface address: a prefix such as "10.78.1.1/24"
// (host bits kept: they are the address) or a bare address, which means the
// host prefix (/32, /128).
func parseIfPrefix(s string) (netip.Prefix, error) {
	const allowed = `allowed: "10.78.1.1/24", "fd00:78::1/64", or a bare address for a /32 or /128`
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("invalid address prefix %q (%s)", s, allowed)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("invalid address %q (%s)", s, allowed)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.IsUnspecified() || a.IsMulticast() {
		return p, fmt.Errorf("%s cannot be an interface address (%s)", s, allowed)
	}
	return p, nil
}

var ikeKeys = []string{
	"listen", "port", "natt_port",
	"retransmit_timeout", "retransmit_base", "retransmit_tries",
	"cookie_threshold", "half_open_limit", "half_open_timeout",
	"fragment_size", "keepalive_interval",
}

// maxRetransmitWait bounds the time a request is retransmitted for.
const maxRetransmitWait = 24 * time.Hour

func (c *checker) ike(t *table, ike *IKE) {
	t.unknown(ikeKeys)
	if list, ok := t.strList("listen"); ok {
		for _, s := range list {
			a, err := parseHostAddr(s)
			if err != nil {
				t.errorf("listen", "%v", err)
				continue
			}
			if a.IsMulticast() {
				t.errorf("listen", "%s is a multicast address; give a local unicast address (or omit listen for all)", a)
				continue
			}
			if slices.Contains(ike.Listen, a) {
				t.errorf("listen", "%s is listed twice", a)
				continue
			}
			ike.Listen = append(ike.Listen, a)
		}
	}
	if p, ok := t.port("port"); ok {
		ike.Port = p
	}
	if p, ok := t.port("natt_port"); ok {
		ike.NATTPort = p
	}
	if ike.Port == ike.NATTPort && (t.has("port") || t.has("natt_port")) {
		// RFC 3948 2.2: only the NAT-T port carries the non-ESP marker that
		// tells IKE from ESP; the plain IKE port cannot share it.
		k := "natt_port"
		if !t.has(k) {
			k = "port"
		}
		t.errorf(k, "port and natt_port must differ (both are %d): ESP-in-UDP arrives on natt_port, IKE without the non-ESP marker on port", ike.Port)
	}

	if d, ok := t.duration("retransmit_timeout"); ok {
		if d <= 0 {
			t.errorf("retransmit_timeout", "must be greater than 0 (default %v)", DefaultRetransmitTimeout)
		} else {
			ike.RetransmitTimeout = d
		}
	}
	if f, ok := t.float("retransmit_base", 1, 10); ok {
		ike.RetransmitBase = f
	}
	if n, ok := t.integer("retransmit_tries", 0, 30); ok {
		ike.RetransmitTries = int(n)
	}
	// The last wait is timeout * base^tries; the total is the sum over
	// 0..tries. Bound it so that a dead peer is noticed in finite time and
	// the arithmetic stays within time.Duration.
	total, wait := 0.0, float64(ike.RetransmitTimeout)
	for range ike.RetransmitTries + 1 {
		total += wait
		wait *= ike.RetransmitBase
	}
	if total > float64(maxRetransmitWait) {
		k := "retransmit_tries"
		for _, cand := range []string{"retransmit_tries", "retransmit_base", "retransmit_timeout"} {
			if t.has(cand) {
				k = cand
				break
			}
		}
		t.errorf(k, "a request would be retransmitted for %v before the peer is declared dead (at most %v allowed: lower retransmit_timeout, retransmit_base or retransmit_tries)",
			time.Duration(total).Round(time.Second), maxRetransmitWait)
	}

	if n, ok := t.integer("cookie_threshold", 0, 1<<20); ok {
		ike.CookieThreshold = int(n)
	}
	if n, ok := t.integer("half_open_limit", 0, 1<<24); ok {
		ike.HalfOpenLimit = int(n)
	}
	if ike.HalfOpenLimit > 0 && ike.CookieThreshold >= ike.HalfOpenLimit && (t.has("cookie_threshold") || t.has("half_open_limit")) {
		k := "cookie_threshold"
		if !t.has(k) {
			k = "half_open_limit"
		}
		t.errorf(k, "cookie_threshold (%d) must be below half_open_limit (%d), or cookies (RFC 7296 2.6) would never be asked for before requests are dropped",
			ike.CookieThreshold, ike.HalfOpenLimit)
	}
	if d, ok := t.duration("half_open_timeout"); ok {
		if d <= 0 {
			t.errorf("half_open_timeout", "must be greater than 0 (default %v)", DefaultHalfOpenTimeout)
		} else {
			ike.HalfOpenTimeout = d
		}
	}
	if n, ok := t.integer("fragment_size", MinMTU, 65535); ok {
		ike.FragmentSize = int(n)
	}
	if d, ok := t.duration("keepalive_interval"); ok {
		ike.KeepaliveInterval = d
	}
}

// checkMTU enforces the IPv6 minimum link MTU once every address,
// selector, pool and virtual IP is known.
func (c *checker) checkMTU(cfg *Config) {
	if cfg.Tun.MTU >= MinMTUIPv6 {
		return
	}
	why := ""
	for _, p := range cfg.Tun.Addresses {
		if p.Addr().Is6() {
			why = fmt.Sprintf("tun.addresses has %s", p)
			break
		}
	}
	for _, m := range cfg.Manual {
		for _, s := range slices.Concat(m.LocalTS, m.RemoteTS) {
			if why == "" && s.Prefix.Addr().Is6() {
				why = fmt.Sprintf("manual.%s has the IPv6 selector %s", m.Name, s.Prefix)
			}
		}
	}
	for _, conn := range cfg.Connections {
		for _, ch := range conn.Children {
			for _, s := range slices.Concat(ch.LocalTS.Selectors, ch.RemoteTS.Selectors) {
				if why == "" && s.Prefix.Addr().Is6() {
					why = fmt.Sprintf("connections.%s.children.%s has the IPv6 selector %s", formatPath([]string{conn.Name}), formatPath([]string{ch.Name}), s.Prefix)
				}
			}
		}
	}
	for _, p := range cfg.Pools {
		if why == "" && p.First.Is6() {
			why = fmt.Sprintf("pools.%s hands out IPv6 addresses", formatPath([]string{p.Name}))
		}
	}
	for _, conn := range cfg.Connections {
		for _, a := range conn.VIPs {
			if why == "" && a.Is6() {
				why = fmt.Sprintf("connections.%s asks for an IPv6 virtual IP", formatPath([]string{conn.Name}))
			}
		}
	}
	if why != "" {
		c.errorf([]string{"tun", "mtu"}, "%d is below the IPv6 minimum of %d (RFC 8200 5) and %s", cfg.Tun.MTU, MinMTUIPv6, why)
	}
}
