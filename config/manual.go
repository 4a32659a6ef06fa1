package config

import (
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/spd"
)

// Modes of a [manual.NAME] section.
const (
	ModeTunnel = "tunnel" // statically keyed SA pair
	ModePass   = "pass"   // bypass policy, no SA
	ModeDrop   = "drop"   // discard policy, no SA
)

var manualKeys = []string{
	"mode", "remote_addr", "local_addr", "local_ts", "remote_ts", "priority",
	"esp", "allow_null", "encap", "esn", "replay_window",
	"spi_out", "spi_in", "key_out", "key_in",
	"rekey_time", "life_time", "rekey_bytes", "life_bytes", "rekey_packets", "life_packets",
}

// shuntKeys are the keys a pass or drop section may have: it is a policy
// without an SA.
var shuntKeys = []string{"mode", "local_ts", "remote_ts", "priority"}

// validManualName reports whether s can name a [manual.NAME] section: it
// becomes the policy name "manual/NAME" and is typed on command lines, so it
// is held to TOML's bare-key characters.
func validManualName(s string) bool { return len(s) <= 64 && isBareKey(s) }

func (c *checker) manuals(t *table, ike *IKE) []*Manual {
	names := make([]string, 0, len(t.m))
	for name := range t.m {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*Manual
	for _, name := range names {
		v := t.m[name]
		m, ok := v.(map[string]any)
		if !ok {
			t.errorf(name, "must be a table [manual.NAME], not %s", typeName(v))
			continue
		}
		if !validManualName(name) {
			t.errorf(name, "invalid section name %q (allowed: 1-64 letters, digits, '_', '-')", name)
		}
		out = append(out, c.manual(&table{c: c, path: t.sub(name), m: m}, name, ike))
	}

	// Inbound SAs are found by SPI alone (RFC 4303 2.1), so no two sections
	// may expect the same one. Report the later definition.
	byLine := append([]*Manual(nil), out...)
	sort.SliceStable(byLine, func(i, j int) bool { return byLine[i].Line < byLine[j].Line })
	seen := map[uint32]*Manual{}
	for _, m := range byLine {
		if m.Mode != ModeTunnel || m.SPIIn == 0 {
			continue
		}
		if first, dup := seen[m.SPIIn]; dup {
			c.errorf([]string{"manual", m.Name, "spi_in"}, "0x%08x is already the spi_in of manual.%s (line %d); inbound SPIs must be unique",
				m.SPIIn, first.Name, c.lineOf([]string{"manual", first.Name, "spi_in"}))
			continue
		}
		seen[m.SPIIn] = m
	}
	return out
}

func (c *checker) manual(t *table, name string, ike *IKE) *Manual {
	m := &Manual{
		Name:         name,
		Line:         c.lineOf(t.path),
		Mode:         ModeTunnel,
		Encap:        true,
		ReplayWindow: DefaultReplayWindow,
	}
	t.unknown(manualKeys)
	modeOK := true
	if t.has("mode") {
		m.Mode, modeOK = t.oneOf("mode", ModeTunnel, ModePass, ModeDrop)
	}
	// With an invalid mode every key present is still checked, but nothing
	// is required.
	required := modeOK && m.Mode == ModeTunnel
	shunt := m.Mode == ModePass || m.Mode == ModeDrop
	if shunt {
		for _, k := range manualKeys {
			if t.has(k) && !slices.Contains(shuntKeys, k) {
				t.errorf(k, "not allowed with mode = %q: a shunt policy has no SA (allowed with pass and drop: %s)",
					m.Mode, strings.Join(shuntKeys, ", "))
			}
		}
	}

	m.LocalTS = t.selectors("local_ts")
	m.RemoteTS = t.selectors("remote_ts")
	checkFamilies(t, m.LocalTS, m.RemoteTS)
	if n, ok := t.integer("priority", 0, math.MaxUint32); ok {
		m.Priority = uint32(n)
	}
	if shunt {
		return m
	}

	natt := ike.NATTPort
	if s, ok := t.str("remote_addr"); ok {
		if ap, err := parseRemoteAddr(s, natt); err != nil {
			t.errorf("remote_addr", "%v", err)
		} else {
			m.RemoteAddr = ap
		}
	} else if required && !t.has("remote_addr") {
		t.errorf("remote_addr", `required with mode = "tunnel" (e.g. "10.77.0.2" for port %d, "10.77.0.2:4500", "[fd00::2]:4500")`, natt)
	}
	if s, ok := t.str("local_addr"); ok {
		a, err := parseHostAddr(s)
		switch {
		case err != nil:
			t.errorf("local_addr", "%v", err)
		case a.IsUnspecified() || a.IsMulticast():
			t.errorf("local_addr", "%s is not a unicast address; omit local_addr to let the routing table choose", a)
		case m.RemoteAddr.IsValid() && a.Is4() != m.RemoteAddr.Addr().Is4():
			t.errorf("local_addr", "%s and remote_addr %s are of different address families", a, m.RemoteAddr.Addr())
		case len(ike.Listen) > 0 && !listensOn(ike.Listen, a, false):
			t.errorf("local_addr", "%s is not one of ike.listen (%s), where ESP-in-UDP is sent and received", a, addrList(ike.Listen))
		default:
			m.LocalAddr = a
		}
	}
	if m.RemoteAddr.IsValid() && !m.LocalAddr.IsValid() && len(ike.Listen) > 0 && !listensOn(ike.Listen, m.RemoteAddr.Addr(), true) {
		t.errorf("remote_addr", "%s cannot be reached: ike.listen (%s) has no address of its family", m.RemoteAddr.Addr(), addrList(ike.Listen))
	}

	suiteOK := false
	if s, ok := t.str("esp"); ok {
		suite, group, esn, err := crypto.ParseESPProposalESN(s)
		switch {
		case err != nil:
			t.errorf("esp", "%s (allowed: %s)", espReason(err), espAllowed())
		case esn != crypto.ESNOff:
			t.errorf("esp", "%q: the esn keyword has no peer to negotiate with here; remove it and set esn = true", s)
		default:
			m.ESP, suiteOK = suite, true
			if group != "" {
				t.warnf("esp", "key exchange group %q ignored: static keys involve no key exchange", group)
			}
		}
	} else if required && !t.has("esp") {
		t.errorf("esp", `required with mode = "tunnel": one ESP proposal, e.g. "aes128gcm16"`)
	}
	m.AllowNull = t.boolean("allow_null", false)
	if suiteOK && m.ESP.IsNull() && !m.AllowNull {
		t.errorf("esp", "%q provides no confidentiality (ENCR_NULL); set allow_null = true to use it anyway", m.ESP.Name)
	}
	m.Encap = t.boolean("encap", true)
	m.ESN = t.boolean("esn", false)
	if n, ok := t.integer("replay_window", 0, MaxReplayWindow); ok {
		m.ReplayWindow = int(n)
	}

	m.SPIOut, _ = t.spi("spi_out", required)
	m.SPIIn, _ = t.spi("spi_in", required)
	m.KeyOut = t.keyMaterial("key_out", required, m.ESP, suiteOK)
	m.KeyIn = t.keyMaterial("key_in", required, m.ESP, suiteOK)
	if len(m.KeyIn) > 0 && subtle.ConstantTimeCompare(m.KeyIn, m.KeyOut) == 1 {
		// One key in both directions repeats (key, nonce) pairs as soon as
		// both ends send the same sequence number.
		t.errorf("key_in", "must differ from key_out: each direction needs its own key")
	}

	var ok1, ok2 bool
	m.RekeyTime, ok1 = t.duration("rekey_time")
	m.LifeTime, ok2 = t.duration("life_time")
	if ok1 && ok2 && m.RekeyTime > 0 && m.LifeTime > 0 && m.RekeyTime >= m.LifeTime {
		t.errorf("rekey_time", "%v must be less than life_time (%v)", m.RekeyTime, m.LifeTime)
	}
	m.RekeyBytes, ok1 = t.byteCount("rekey_bytes")
	m.LifeBytes, ok2 = t.byteCount("life_bytes")
	if ok1 && ok2 && m.RekeyBytes > 0 && m.LifeBytes > 0 && m.RekeyBytes >= m.LifeBytes {
		t.errorf("rekey_bytes", "%d must be less than life_bytes (%d)", m.RekeyBytes, m.LifeBytes)
	}
	m.RekeyPackets, ok1 = t.count("rekey_packets")
	m.LifePackets, ok2 = t.count("life_packets")
	if ok1 && ok2 && m.RekeyPackets > 0 && m.LifePackets > 0 && m.RekeyPackets >= m.LifePackets {
		t.errorf("rekey_packets", "%d must be less than life_packets (%d)", m.RekeyPackets, m.LifePackets)
	}
	return m
}

// selectors parses a required, non-empty list of traffic selectors.
func (t *table) selectors(k string) []spd.Selector {
	const allowed = `e.g. "10.78.1.0/24", "10.0.0.1/32[tcp/443]", "::/0"`
	if !t.has(k) {
		t.errorf(k, "required: a non-empty list of traffic selectors, %s", allowed)
		return nil
	}
	list, ok := t.strList(k)
	if !ok {
		return nil
	}
	if len(list) == 0 {
		t.errorf(k, "must not be empty: give at least one traffic selector, %s", allowed)
		return nil
	}
	var out []spd.Selector
	for _, s := range list {
		if strings.TrimSpace(s) == "dynamic" {
			t.errorf(k, `"dynamic" needs IKE to learn the address; a [manual] section needs prefixes, %s`, allowed)
			continue
		}
		sel, err := spd.ParseSelector(s)
		if err != nil {
			t.errorf(k, "%s", strings.TrimPrefix(err.Error(), "spd: "))
			continue
		}
		out = append(out, sel)
	}
	return out
}

// checkFamilies refuses selector lists that no packet can match: a packet's
// source and destination are of one address family.
func checkFamilies(t *table, local, remote []spd.Selector) {
	if len(local) == 0 || len(remote) == 0 {
		return
	}
	fam := func(sels []spd.Selector) (v4, v6 bool) {
		for _, s := range sels {
			if s.Prefix.Addr().Is4() {
				v4 = true
			} else {
				v6 = true
			}
		}
		return
	}
	l4, l6 := fam(local)
	r4, r6 := fam(remote)
	if !(l4 && r4) && !(l6 && r6) {
		t.errorf("remote_ts", "no address family in common with local_ts: no packet could match (give both IPv4 or both IPv6 selectors)")
	}
}

// parseRemoteAddr parses "10.77.0.2", "10.77.0.2:4500", "fd00::2" or
// "[fd00::2]:4500"; a missing port is defPort.
func parseRemoteAddr(s string, defPort uint16) (netip.AddrPort, error) {
	const allowed = `allowed: "10.77.0.2", "10.77.0.2:4500", "fd00::2", "[fd00::2]:4500"`
	var ap netip.AddrPort
	if a, err := netip.ParseAddr(s); err == nil {
		ap = netip.AddrPortFrom(a, defPort)
	} else if inner, ok := strings.CutPrefix(s, "["); ok && strings.HasSuffix(inner, "]") {
		a, err := netip.ParseAddr(strings.TrimSuffix(inner, "]"))
		if err != nil || !a.Is6() {
			return ap, fmt.Errorf("invalid address %q (%s)", s, allowed)
		}
		ap = netip.AddrPortFrom(a, defPort)
	} else if ap, err = netip.ParseAddrPort(s); err != nil {
		return ap, fmt.Errorf("invalid address %q (%s; hostnames are not resolved)", s, allowed)
	} else if ap.Port() == 0 {
		return ap, fmt.Errorf("port 0 in %q is not a valid destination (allowed: 1..65535)", s)
	}
	if a := ap.Addr(); a.IsUnspecified() || a.IsMulticast() {
		return ap, fmt.Errorf("%s is not a unicast address (%s)", a, allowed)
	}
	return ap, nil
}

// listensOn reports whether a socket bound to one of listen can use a as
// its local address (anyFamily: any address of a's family will do). "::"
// counts for both families, as a dual-stack socket does.
func listensOn(listen []netip.Addr, a netip.Addr, anyFamily bool) bool {
	for _, l := range listen {
		switch {
		case l == a:
			return true
		case l.Is6() && l.IsUnspecified():
			return true
		case l.Is4() == a.Is4() && (anyFamily || l.IsUnspecified()):
			return true
		}
	}
	return false
}

func addrList(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// spi parses an SPI: a TOML integer or a string in hex ("0xc0000001") or
// decimal.
func (t *table) spi(k string, required bool) (uint32, bool) {
	const allowed = `allowed: 256..4294967295, as "0xc0000001" or decimal; 1-255 are reserved by RFC 4303 2.1`
	v, present := t.m[k]
	if !present {
		if required {
			t.errorf(k, `required with mode = "tunnel" (%s)`, allowed)
		}
		return 0, false
	}
	var n uint64
	var err error
	switch v := v.(type) {
	case int64:
		if v < 0 {
			err = strconv.ErrRange
		}
		n = uint64(v)
	case string:
		if h, ok := strings.CutPrefix(strings.ToLower(v), "0x"); ok {
			n, err = strconv.ParseUint(h, 16, 64)
		} else {
			n, err = strconv.ParseUint(v, 10, 64)
		}
	default:
		t.errorf(k, "must be a string or an integer, not %s (%s)", typeName(v), allowed)
		return 0, false
	}
	switch {
	case err != nil:
		t.errorf(k, "invalid SPI %s (%s)", describe(v), allowed)
	case n > math.MaxUint32:
		t.errorf(k, "SPI %s does not fit in 32 bits (%s)", describe(v), allowed)
	case n < MinSPI:
		t.errorf(k, "SPI %d is reserved (%s)", n, allowed)
	default:
		return uint32(n), true
	}
	return 0, false
}

// keyMaterial parses a hex key with 0x prefix. When the suite is known the
// length must be exactly its KeyLen. Messages never show the key.
func (t *table) keyMaterial(k string, required bool, suite crypto.ESPSuite, suiteOK bool) []byte {
	want := ""
	if suiteOK {
		want = fmt.Sprintf("%d bytes for %s (%s)", suite.KeyLen(), suite.Name, keyLayout(suite))
	}
	v, present := t.m[k]
	if !present {
		if required {
			if want == "" {
				t.errorf(k, `required with mode = "tunnel": hex key material with 0x prefix, as long as esp requires`)
			} else {
				t.errorf(k, `required with mode = "tunnel": hex with 0x prefix, %s`, want)
			}
		}
		return nil
	}
	s, ok := v.(string)
	if !ok {
		t.errorf(k, "must be a hex string with 0x prefix, not %s", typeName(v))
		return nil
	}
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		h, ok = strings.CutPrefix(s, "0X")
	}
	if !ok {
		t.errorf(k, `must start with "0x" followed by hex digits`)
		return nil
	}
	if i := strings.IndexFunc(h, func(r rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF", r) }); i >= 0 {
		t.errorf(k, "character %d after 0x is not a hex digit", i+1)
		return nil
	}
	if len(h)%2 != 0 {
		t.errorf(k, "has an odd number of hex digits (%d); every byte takes two", len(h))
		return nil
	}
	key, _ := hex.DecodeString(h)
	if suiteOK && len(key) != suite.KeyLen() {
		t.errorf(k, "is %d bytes, must be %s: %d hex digits after 0x", len(key), want, 2*suite.KeyLen())
		return nil
	}
	return key
}

// keyLayout says what one direction's keying material is made of, in the
// order of RFC 7296 2.17: encryption key (and salt), then integrity key.
func keyLayout(s crypto.ESPSuite) string {
	var parts []string
	enc := s.KeyBits / 8
	if enc > 0 {
		parts = append(parts, fmt.Sprintf("%d-byte key", enc))
	}
	if salt := s.EncKeyLen - enc; salt > 0 {
		parts = append(parts, fmt.Sprintf("%d-byte salt", salt))
	}
	if s.IntegKeyLen > 0 {
		parts = append(parts, fmt.Sprintf("%d-byte integrity key", s.IntegKeyLen))
	}
	if len(parts) == 0 {
		return "no key"
	}
	return strings.Join(parts, " + ")
}

// espReason is the reason crypto gives for refusing a proposal, without its
// package prefix and its list of keywords (espAllowed gives the one that
// applies here).
func espReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), "crypto: ")
	if i := strings.Index(msg, " (supported "); i > 0 {
		msg = msg[:i]
	}
	return msg
}

// espAllowed lists the ESP suites a [manual] section can use.
func espAllowed() string {
	var names []string
	for _, s := range crypto.ESPSuites() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ") + `; a key exchange group suffix such as "-x25519" is accepted and ignored`
}
