package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/spd"
)

// Defaults of [connections.NAME] and its children, swanctl's unless noted.
const (
	DefaultRemotePort     = 500
	DefaultIKERekeyTime   = 4 * time.Hour
	DefaultChildRekeyTime = time.Hour
	DefaultKeyingTries    = 1
)

var connectionKeys = []string{
	"version", "local_addrs", "remote_addrs", "local_port", "remote_port",
	"proposals", "encap", "dpd_delay", "rekey_time", "over_time", "rand_time",
	"keyingtries", "unique", "send_certreq", "send_cert", "fragmentation",
	"start_action", "children", "vips", "pools", "allow_legacy_proposals",
	// Accepted only with the value that means "off".
	"mobike", "reauth_time",
}

// unsupportedConnectionKeys are swanctl connection keys this version
// refuses, with why.
var unsupportedConnectionKeys = map[string]string{
	"dpd_timeout":    "applies to IKEv1 only in swanctl; IKEv2 declares a peer dead when a request goes unanswered (see [ike] retransmit_timeout, retransmit_base, retransmit_tries); remove it",
	"aggressive":     "Aggressive Mode belongs to IKEv1, which esptun does not speak; remove it",
	"pull":           "Mode Config push/pull belongs to IKEv1; remove it",
	"if_id_in":       "XFRM interface IDs have no meaning without kernel IPsec; remove it",
	"if_id_out":      "XFRM interface IDs have no meaning without kernel IPsec; remove it",
	"dscp":           "DSCP marking of IKE packets is not supported by this version of esptun",
	"ppk_id":         "post-quantum preshared keys (RFC 8784) are not supported by this version of esptun",
	"ppk_required":   "post-quantum preshared keys (RFC 8784) are not supported by this version of esptun",
	"childless":      "childless IKE SAs (RFC 6023) are not supported by this version of esptun",
	"mediation":      "IKE mediation is not supported by this version of esptun",
	"mediated_by":    "IKE mediation is not supported by this version of esptun",
	"mediation_peer": "IKE mediation is not supported by this version of esptun",
	"ocsp":           "OCSP is not supported by this version of esptun",
	"send_cert_req":  "the swanctl key is send_certreq",
}

var authKeys = []string{"auth", "id", "eap_id", "certs", "cacerts", "revocation", "round"}

var unsupportedAuthKeys = map[string]string{
	"pubkeys":     "raw public keys are not supported by this version of esptun; use certs",
	"aaa_id":      "AAA identities are not supported by this version of esptun",
	"xauth_id":    "XAuth belongs to IKEv1, which esptun does not speak",
	"groups":      "authorization groups are not supported by this version of esptun",
	"cert_policy": "certificate policy constraints are not supported by this version of esptun",
	"ca_id":       "CA identities are not supported by this version of esptun; use cacerts",
}

var childKeys = []string{
	"local_ts", "remote_ts", "esp_proposals", "mode",
	"rekey_time", "life_time", "rand_time",
	"rekey_bytes", "life_bytes", "rand_bytes",
	"rekey_packets", "life_packets", "rand_packets",
	"start_action", "dpd_action", "close_action", "replay_window", "priority",
}

var unsupportedChildKeys = map[string]string{
	"updown":           "esptun runs no updown scripts; remove it",
	"hostaccess":       "esptun runs no updown scripts, so hostaccess has no meaning; remove it",
	"ah_proposals":     "AH (RFC 4302) is not supported; esptun protects traffic with ESP only (esp_proposals)",
	"ipcomp":           "IPComp is not supported by this version of esptun",
	"inactivity":       "inactivity timeouts are not supported by this version of esptun",
	"reqid":            "reqids belong to kernel IPsec, which esptun does not use; remove it",
	"interface":        "policies are not bound to interfaces by this version of esptun",
	"mark_in":          "netfilter marks belong to kernel IPsec, which esptun does not use; remove it",
	"mark_out":         "netfilter marks belong to kernel IPsec, which esptun does not use; remove it",
	"mark_in_sa":       "netfilter marks belong to kernel IPsec, which esptun does not use; remove it",
	"set_mark_in":      "netfilter marks belong to kernel IPsec, which esptun does not use; remove it",
	"set_mark_out":     "netfilter marks belong to kernel IPsec, which esptun does not use; remove it",
	"if_id_in":         "XFRM interface IDs belong to kernel IPsec, which esptun does not use; remove it",
	"if_id_out":        "XFRM interface IDs belong to kernel IPsec, which esptun does not use; remove it",
	"label":            "security labels are not supported by this version of esptun",
	"label_mode":       "security labels are not supported by this version of esptun",
	"tfc_padding":      "TFC padding is not supported by this version of esptun",
	"policies":         "esptun always installs the policies of its children",
	"policies_fwd_out": "forward policies belong to kernel IPsec, which esptun does not use; remove it",
	"hw_offload":       "esptun does not use kernel IPsec offload; remove it",
	"copy_df":          "not supported by this version of esptun",
	"copy_ecn":         "not supported by this version of esptun",
	"copy_dscp":        "not supported by this version of esptun",
	"sha256_96":        "truncated HMAC-SHA-256 is not interoperable (RFC 4868 uses 128 bits) and not supported",
	"per_cpu_sas":      "per-CPU SAs belong to kernel IPsec, which esptun does not use; remove it",
}

// unknownKeys reports every key of t that is neither allowed nor a table
// the caller handles (skip), giving the reason for known swanctl keys that
// are refused.
func (t *table) unknownKeys(allowed []string, refused map[string]string, skip func(string) bool) {
	for _, k := range t.keysInOrder() {
		if slices.Contains(allowed, k) || (skip != nil && skip(k)) {
			continue
		}
		if why, ok := refused[k]; ok {
			t.errorf(k, "not supported: %s", why)
			continue
		}
		t.errorf(k, "unknown key (allowed in [%s]: %s)", formatPath(t.path), strings.Join(allowed, ", "))
	}
}

func (c *checker) connections(t *table, ike *IKE, secrets []*Secret, pools []*Pool) []*Connection {
	names := make([]string, 0, len(t.m))
	for name := range t.m {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*Connection
	for _, name := range names {
		v := t.m[name]
		m, ok := v.(map[string]any)
		if !ok {
			t.errorf(name, "must be a table [connections.NAME], not %s", typeName(v))
			continue
		}
		if !validManualName(name) {
			t.errorf(name, "invalid connection name %q (allowed: 1-64 letters, digits, '_', '-')", name)
		}
		out = append(out, c.connection(&table{c: c, path: t.sub(name), m: m}, name, ike, secrets, pools))
	}

	// esptun initiate --child NAME finds a child by its name alone.
	first := map[string]*Connection{}
	for _, conn := range out {
		for _, ch := range conn.Children {
			if prev, dup := first[ch.Name]; dup {
				c.warnf([]string{"connections", conn.Name, "children", ch.Name},
					"child name %q is also used in connections.%s (line %d); commands that take --child act on the first", ch.Name, formatPath([]string{prev.Name}), prev.Line)
				continue
			}
			first[ch.Name] = conn
		}
	}
	return out
}

// isAuthSection reports whether k names an authentication round: swanctl
// takes every section whose name starts with local or remote (local,
// local-1, remote_eap, ...).
func isAuthSection(k string, v any) (side string, ok bool) {
	if _, isTable := v.(map[string]any); !isTable {
		return "", false
	}
	for _, side := range []string{"local", "remote"} {
		if strings.HasPrefix(k, side) {
			return side, true
		}
	}
	return "", false
}

func (c *checker) connection(t *table, name string, ike *IKE, secrets []*Secret, pools []*Pool) *Connection {
	conn := &Connection{
		Name:          name,
		Line:          c.lineOf(t.path),
		Version:       2,
		LocalAddrs:    []PeerAddr{{Any: true}},
		RemoteAddrs:   []PeerAddr{{Any: true}},
		LocalPort:     ike.Port,
		RemotePort:    DefaultRemotePort,
		RekeyTime:     DefaultIKERekeyTime,
		KeyingTries:   DefaultKeyingTries,
		Unique:        "no",
		SendCertReq:   true,
		SendCert:      "ifasked",
		Fragmentation: "yes",
		StartAction:   ActionNone,
	}
	t.unknownKeys(connectionKeys, unsupportedConnectionKeys, func(k string) bool {
		if _, ok := isAuthSection(k, t.m[k]); ok {
			return true
		}
		if k == "local" || k == "remote" {
			t.errorf(k, "must be a table [%s] (an authentication round), not %s", formatPath(t.sub(k)), typeName(t.m[k]))
			return true
		}
		return false
	})

	if n, ok := t.integer("version", 0, 2); ok {
		if n == 1 {
			t.errorf("version", "IKEv1 is not supported; esptun speaks IKEv2 only (allowed: 2, or 0 for the default)")
		}
	}
	if list, ok := t.strList("local_addrs"); ok {
		conn.LocalAddrs = t.peerAddrs("local_addrs", list)
		for _, a := range conn.LocalAddrs {
			if a.IsAddr() && len(ike.Listen) > 0 && !listensOn(ike.Listen, a.Prefix.Addr(), false) {
				t.errorf("local_addrs", "%s is not one of ike.listen (%s), where IKE is sent and received", a, addrList(ike.Listen))
			}
		}
	}
	if list, ok := t.strList("remote_addrs"); ok {
		conn.RemoteAddrs = t.peerAddrs("remote_addrs", list)
	}
	if p, ok := t.port("local_port"); ok {
		if p != ike.Port && p != ike.NATTPort {
			t.errorf("local_port", "%d is neither ike.port (%d) nor ike.natt_port (%d), the ports esptun listens on", p, ike.Port, ike.NATTPort)
		} else {
			conn.LocalPort = p
		}
	}
	if p, ok := t.port("remote_port"); ok {
		conn.RemotePort = p
	}

	conn.AllowLegacyProposals = t.boolean("allow_legacy_proposals", false)
	conn.Proposals, conn.ProposalStrings = t.proposals("proposals", "IKE", crypto.ParseIKEProposal, crypto.DefaultIKEProposals,
		`e.g. "aes128gcm16-prfsha256-x25519", "aes256-sha256-modp2048", "default"`)
	legacy := t.checkLegacy("proposals", conn.ProposalStrings, crypto.ParseIKEProposal, conn)

	if list, ok := t.strList("vips"); ok {
		conn.VIPs = t.vips(list)
	}
	if list, ok := t.strList("pools"); ok {
		conn.Pools = t.poolRefs(list, pools)
	}
	if t.has("vips") && t.has("pools") {
		t.errorf("pools", "vips (a client asks for virtual IPs) and pools (a gateway hands them out) cannot both be set on one connection: IKEv2 has no push mode")
	}

	conn.Encap = t.boolean("encap", false)
	if t.boolean("mobike", false) {
		t.errorf("mobike", "MOBIKE (RFC 4555) is not supported by this version of esptun; set mobike = false or remove it")
	}
	if d, ok := t.duration("dpd_delay"); ok {
		conn.DPDDelay = d
	}
	if d, ok := t.duration("reauth_time"); ok && d != 0 {
		t.errorf("reauth_time", "reauthentication is not supported by this version of esptun; IKE SAs are rekeyed instead (rekey_time); set reauth_time = 0 or remove it")
	}
	if d, ok := t.duration("rekey_time"); ok {
		conn.RekeyTime = d
	}
	conn.OverTime = conn.RekeyTime / 10
	if d, ok := t.duration("over_time"); ok {
		conn.OverTime = d
	}
	conn.RandTime = conn.OverTime
	if d, ok := t.duration("rand_time"); ok {
		conn.RandTime = d
	}
	if conn.RekeyTime > 0 && conn.RandTime >= conn.RekeyTime && (t.has("rand_time") || t.has("over_time")) {
		k := "rand_time"
		if !t.has(k) {
			k = "over_time"
		}
		t.errorf(k, "rand_time (%v) must be less than rekey_time (%v): it is subtracted from it", conn.RandTime, conn.RekeyTime)
	}
	if n, ok := t.integer("keyingtries", 0, math.MaxInt32); ok {
		conn.KeyingTries = int(n)
	}
	if s, ok := t.oneOf("unique", "no", "never", "keep", "replace"); ok {
		conn.Unique = s
	}
	conn.SendCertReq = t.boolean("send_certreq", true)
	if s, ok := t.oneOf("send_cert", "ifasked", "always", "never"); ok {
		conn.SendCert = s
	}
	if t.has("fragmentation") {
		if b, isBool := t.m["fragmentation"].(bool); isBool {
			// swanctl's yes and no, written as TOML booleans.
			conn.Fragmentation = map[bool]string{true: "yes", false: "no"}[b]
		} else if s, ok := t.oneOf("fragmentation", "yes", "accept", "force", "no"); ok {
			conn.Fragmentation = s
		}
	}
	if s, ok := t.oneOf("start_action", ActionNone, ActionTrap, ActionStart); ok {
		conn.StartAction = s
	}

	c.authRounds(t, conn)
	c.checkAuth(t, conn, secrets)

	if v, ok := t.m["children"]; ok {
		if m, isTable := v.(map[string]any); !isTable {
			t.errorf("children", "must be a table of [connections.%s.children.NAME] sections, not %s", formatPath([]string{name}), typeName(v))
		} else {
			ct := &table{c: c, path: t.sub("children"), m: m}
			names := make([]string, 0, len(m))
			for n := range m {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				cm, ok := m[n].(map[string]any)
				if !ok {
					ct.errorf(n, "must be a table [connections.%s.children.NAME], not %s", formatPath([]string{name}), typeName(m[n]))
					continue
				}
				if !validManualName(n) {
					ct.errorf(n, "invalid child name %q (allowed: 1-64 letters, digits, '_', '-')", n)
				}
				ch := c.child(&table{c: c, path: ct.sub(n), m: cm}, n, conn)
				conn.Children = append(conn.Children, ch)
				if (&table{c: c, path: ct.sub(n), m: cm}).checkLegacy("esp_proposals", ch.ESPProposalStrings, crypto.ParseESPProposalTransforms, conn) {
					legacy = true
				}
			}
		}
	}
	if conn.AllowLegacyProposals && !legacy {
		t.warnf("allow_legacy_proposals", "no proposal of this connection uses modp1024 or sha1, so allow_legacy_proposals = true changes nothing; remove it")
	}

	// An initiator needs somewhere to send IKE_SA_INIT.
	concrete := slices.ContainsFunc(conn.RemoteAddrs, func(a PeerAddr) bool { return a.IsAddr() || a.Host != "" })
	if !concrete {
		for _, ch := range conn.Children {
			if ch.StartAction == ActionStart || ch.StartAction == ActionTrap {
				k := t.sub("children", ch.Name, "start_action")
				if !ch.ownStartAction {
					k = t.sub("start_action")
				}
				c.errorf(k, "start_action = %q initiates, so remote_addrs needs an IP address or DNS name, not only %s (or use start_action = \"none\" to respond only)",
					ch.StartAction, peerAddrList(conn.RemoteAddrs))
			}
		}
	}
	return conn
}

func peerAddrList(as []PeerAddr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// peerAddrs parses local_addrs or remote_addrs entries.
func (t *table) peerAddrs(k string, list []string) []PeerAddr {
	if len(list) == 0 {
		t.errorf(k, `must not be empty (leave it out for "%%any")`)
		return []PeerAddr{{Any: true}}
	}
	var out []PeerAddr
	for _, s := range list {
		// swanctl takes comma separated lists; split them as a translated
		// line may still hold one.
		for _, s := range strings.Split(s, ",") {
			a, err := parsePeerAddr(strings.TrimSpace(s))
			if err != nil {
				t.errorf(k, "%v", err)
				continue
			}
			if slices.Contains(out, a) {
				t.errorf(k, "%s is listed twice", a)
				continue
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return []PeerAddr{{Any: true}}
	}
	return out
}

// parsePeerAddr parses one local_addrs or remote_addrs element.
func parsePeerAddr(s string) (PeerAddr, error) {
	const allowed = `allowed: "10.77.0.2", "fd00::2", "10.77.0.0/16", "10.77.0.10-10.77.0.20", "vpn.example.org", "%any", "%any4", "%any6"`
	switch s {
	case "%any":
		return PeerAddr{Any: true}, nil
	case "%any4":
		return PeerAddr{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}, nil
	case "%any6":
		return PeerAddr{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)}, nil
	case "":
		return PeerAddr{}, fmt.Errorf("empty address (%s)", allowed)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			return PeerAddr{}, fmt.Errorf("%s is not a unicast address without zone (%s)", s, allowed)
		}
		a = a.Unmap()
		return PeerAddr{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return PeerAddr{}, fmt.Errorf("invalid subnet %q (%s)", s, allowed)
		}
		return PeerAddr{Prefix: p.Masked()}, nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		first, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		last, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 == nil && err2 == nil {
			if first.Is4() != last.Is4() || first.Zone() != "" || last.Zone() != "" || first.Compare(last) > 0 {
				return PeerAddr{}, fmt.Errorf("invalid range %q: both ends must be of one family, first <= last (%s)", s, allowed)
			}
			return PeerAddr{First: first, Last: last}, nil
		}
	}
	if !validHostname(s) {
		return PeerAddr{}, fmt.Errorf("invalid address %q: not an IP address, subnet, range or DNS name (%s)", s, allowed)
	}
	return PeerAddr{Host: strings.TrimSuffix(s, ".")}, nil
}

// validHostname reports whether s is a DNS name (RFC 1123 2.1 labels).
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	// A name of digits and dots only is a mistyped address, not a name.
	return strings.ContainsFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
}

// proposals parses an IKE or ESP proposal list; "default" stands for def().
func (t *table) proposals(k, kind string, parse func(string) (crypto.Proposal, error), def func() []crypto.Proposal, example string) ([]crypto.Proposal, []string) {
	list, ok := t.strList(k)
	if !ok {
		return def(), nil
	}
	if len(list) == 0 {
		t.errorf(k, `must not be empty: give one or more %s proposals, %s`, kind, example)
		return def(), nil
	}
	var props []crypto.Proposal
	var strs []string
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			if slices.Contains(strs, s) {
				t.errorf(k, "proposal %q is listed twice", s)
				continue
			}
			if strings.EqualFold(s, "default") {
				props = append(props, def()...)
				strs = append(strs, s)
				continue
			}
			p, err := parse(s)
			if err != nil {
				// crypto's message names the keyword and lists the
				// accepted ones.
				t.errorf(k, "%s", strings.TrimPrefix(err.Error(), "crypto: "))
				continue
			}
			props = append(props, p)
			strs = append(strs, s)
		}
	}
	return props, strs
}

// authRounds finds the local and remote authentication rounds.
func (c *checker) authRounds(t *table, conn *Connection) {
	seen := map[string]string{}
	for _, k := range t.keysInOrder() {
		side, ok := isAuthSection(k, t.m[k])
		if !ok {
			continue
		}
		if prev, dup := seen[side]; dup {
			t.errorf(k, "a second %s authentication round (after [%s]): multiple authentication (RFC 4739) is not supported by this version of esptun", side, formatPath(t.sub(prev)))
			continue
		}
		seen[side] = k
		r := &conn.Local
		if side == "remote" {
			r = &conn.Remote
		}
		c.authRound(&table{c: c, path: t.sub(k), m: t.m[k].(map[string]any)}, side, r)
	}
	// A side without a round gets swanctl's defaults; one whose round is
	// broken (reported already) gets no method, so nothing is checked
	// against it.
	if _, ok := seen["local"]; !ok {
		conn.Local = AuthRound{Auth: AuthPubkey, Revocation: "relaxed"}
		if t.has("local") {
			conn.Local.Auth = ""
		}
	}
	if _, ok := seen["remote"]; !ok {
		conn.Remote = AuthRound{Auth: AuthPubkey, ID: "%any", Revocation: "relaxed"}
		if t.has("remote") {
			conn.Remote.Auth = ""
		}
	}
}

var authMethods = []string{AuthPSK, AuthPubkey, AuthRSA, AuthECDSA, AuthEAP, AuthEAPMSCHAPv2, AuthEAPTLS}

func (c *checker) authRound(t *table, side string, r *AuthRound) {
	*r = AuthRound{Line: c.lineOf(t.path), Auth: AuthPubkey, Revocation: "relaxed"}
	if side == "remote" {
		r.ID = "%any"
	}
	t.unknownKeys(authKeys, unsupportedAuthKeys, nil)
	if t.has("auth") {
		r.Auth = "" // until it is known valid: checks that depend on it are skipped
	}
	if s, ok := t.str("auth"); ok {
		lower := strings.ToLower(s)
		switch {
		case slices.Contains(authMethods, lower):
			r.Auth = lower
		case strings.HasPrefix(lower, "xauth"):
			t.errorf("auth", "%q belongs to IKEv1, which esptun does not speak (allowed: %s)", s, strings.Join(authMethods, ", "))
		case strings.HasPrefix(lower, "eap-"):
			t.errorf("auth", "EAP method %q is not supported (allowed: %s)", s, strings.Join(authMethods, ", "))
		case strings.HasPrefix(lower, "ike:") || strings.HasPrefix(lower, "pubkey-") || strings.HasPrefix(lower, "rsa-") || strings.HasPrefix(lower, "ecdsa-"):
			t.errorf("auth", "signature scheme and key strength constraints (%q) are not supported by this version of esptun; use pubkey, rsa or ecdsa", s)
		default:
			t.errorf("auth", "unknown value %q (allowed: %s)", s, strings.Join(authMethods, ", "))
		}
	}
	if s, ok := t.str("id"); ok {
		if err := checkID(s); err != nil {
			t.errorf("id", "%v", err)
		} else {
			r.ID = s
		}
	}
	if s, ok := t.str("eap_id"); ok {
		if err := checkID(s); err != nil {
			t.errorf("eap_id", "%v", err)
		} else {
			r.EAPID = s
		}
	}
	r.Certs = t.files("certs")
	r.CACerts = t.files("cacerts")
	if t.has("cacerts") && side == "local" {
		t.errorf("cacerts", "only a remote round has cacerts: they are the CAs the peer's certificate must chain to")
	}
	if s, ok := t.str("revocation"); ok {
		switch s {
		case "relaxed":
		case "strict", "ifuri":
			t.errorf("revocation", "%q needs CRL or OCSP checking, which this version of esptun does not do (allowed: relaxed)", s)
		default:
			t.errorf("revocation", "unknown value %q (allowed: relaxed)", s)
		}
	}
	// With one round per side its number orders nothing; it is only checked.
	t.integer("round", 0, math.MaxInt32)
}

// files parses a list of file names, resolved against the configuration's
// directory, each of which must be readable.
func (t *table) files(k string) []string {
	list, ok := t.strList(k)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				t.errorf(k, "empty file name")
				continue
			}
			p, err := t.c.resolve(s)
			if err != nil {
				t.errorf(k, "invalid path %q: %v", s, err)
				continue
			}
			if err := checkReadable(p); err != nil {
				t.errorf(k, "%s %v", p, err)
				continue
			}
			if slices.Contains(out, p) {
				t.errorf(k, "%s is listed twice", p)
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

// checkAuth checks what each round needs.
func (c *checker) checkAuth(t *table, conn *Connection, secrets []*Secret) {
	key := func(side, k string) []string {
		for _, s := range t.keysInOrder() {
			if sd, ok := isAuthSection(s, t.m[s]); ok && sd == side {
				return t.sub(s, k)
			}
		}
		return t.sub(side, k)
	}
	has := func(typ string) bool {
		return slices.ContainsFunc(secrets, func(s *Secret) bool { return s.Type == typ })
	}
	isPubkey := func(a string) bool { return a == AuthPubkey || a == AuthRSA || a == AuthECDSA }

	l, r := &conn.Local, &conn.Remote
	if (isPubkey(l.Auth) || l.Auth == AuthEAPTLS) && len(l.Certs) == 0 && !t.hasErrorAt(key("local", "certs")) {
		c.errorf(key("local", "auth"), "auth = %q needs certs: the certificate this end authenticates with (its private key in a [secrets.private-NAME] section)", l.Auth)
	}
	if isPubkey(l.Auth) || l.Auth == AuthEAPTLS {
		if !slices.ContainsFunc(secrets, func(s *Secret) bool { return s.Key.Signer != nil }) && !has(SecretPrivate) && !has(SecretRSA) && !has(SecretECDSA) && !has(SecretPKCS8) {
			c.warnf(key("local", "auth"), "auth = %q, but no [secrets.private-NAME] (or rsa-, ecdsa-, pkcs8-) section gives a private key", l.Auth)
		}
	}
	if (isPubkey(r.Auth) || r.Auth == AuthEAPTLS) && len(r.Certs) == 0 && len(r.CACerts) == 0 &&
		!t.hasErrorAt(key("remote", "certs")) && !t.hasErrorAt(key("remote", "cacerts")) {
		c.errorf(key("remote", "auth"), "auth = %q needs cacerts (the CA certificates the peer's certificate must chain to) or certs (the peer's own certificates): esptun has no other trust store", r.Auth)
	}
	if l.Auth == AuthPSK || r.Auth == AuthPSK {
		side := "local"
		if l.Auth != AuthPSK {
			side = "remote"
		}
		if !pskMatches(conn, secrets) {
			c.warnf(key(side, "auth"), "auth = \"psk\", but no [secrets.ike-NAME] section has an id of this connection (%s, %s) or no id at all",
				idOrAddr(l.ID), r.ID)
		}
	}
	for _, side := range []string{"local", "remote"} {
		a := l.Auth
		if side == "remote" {
			a = r.Auth
		}
		if a == AuthEAPMSCHAPv2 && !has(SecretEAP) {
			c.warnf(key(side, "auth"), "auth = %q, but there is no [secrets.eap-NAME] section with a password", a)
		}
	}
	c.checkEAP(conn, key)
}

func idOrAddr(id string) string {
	if id == "" {
		return "the local address"
	}
	return id
}

// pskMatches reports whether some ike secret may serve conn: one without
// ids, or one listing either side's identity (or address, for an unset
// local id). Identities with wildcards are given the benefit of the doubt.
func pskMatches(conn *Connection, secrets []*Secret) bool {
	candidates := []string{conn.Local.ID, conn.Remote.ID}
	for _, as := range [][]PeerAddr{conn.LocalAddrs, conn.RemoteAddrs} {
		for _, a := range as {
			if a.IsAddr() {
				candidates = append(candidates, a.Prefix.Addr().String())
			} else if a.Host != "" {
				candidates = append(candidates, a.Host)
			}
		}
	}
	// A remote id of %any or with wildcards is matched against whatever
	// identity the peer sends, so any secret may turn out to be the one.
	wild := conn.Remote.ID == "%any" || strings.Contains(conn.Remote.ID, "*")
	for _, s := range secrets {
		if s.Type != SecretIKE {
			continue
		}
		if len(s.IDs) == 0 || wild {
			return true
		}
		for _, id := range s.IDs {
			if id == "%any" || strings.Contains(id, "*") || slices.Contains(candidates, id) {
				return true
			}
		}
	}
	return false
}

// hasErrorAt reports whether an error was already reported for path.
func (t *table) hasErrorAt(path []string) bool {
	key := formatPath(path)
	return slices.ContainsFunc(t.c.errs, func(e *Error) bool { return e.Key == key })
}

func (c *checker) child(t *table, name string, conn *Connection) *Child {
	ch := &Child{
		Name:         name,
		Line:         c.lineOf(t.path),
		Mode:         ChildTunnel,
		RekeyTime:    DefaultChildRekeyTime,
		StartAction:  conn.StartAction,
		DPDAction:    ActionClear,
		CloseAction:  ActionNone,
		ReplayWindow: DefaultReplayWindow,
	}
	t.unknownKeys(childKeys, unsupportedChildKeys, nil)
	ch.LocalTS = t.trafficSelectors("local_ts")
	ch.RemoteTS = t.trafficSelectors("remote_ts")
	if !ch.LocalTS.Dynamic && !ch.RemoteTS.Dynamic {
		checkFamilies(t, ch.LocalTS.Selectors, ch.RemoteTS.Selectors)
	}
	ch.ESPProposals, ch.ESPProposalStrings = t.proposals("esp_proposals", "ESP", crypto.ParseESPProposalTransforms, crypto.DefaultESPProposals,
		`e.g. "aes128gcm16", "aes256gcm16-x25519", "aes128-sha256", "default"`)

	if s, ok := t.str("mode"); ok {
		switch s {
		case ChildTunnel:
		case "transport", "transport_proxy", "beet":
			t.errorf("mode", "%q is not supported: esptun works in tunnel mode only (allowed: tunnel)", s)
		case "pass", "drop":
			t.errorf("mode", "%q shunts are not children here: write a [manual.NAME] section with mode = %q (allowed: tunnel)", s, s)
		default:
			t.errorf("mode", "unknown value %q (allowed: tunnel)", s)
		}
	}

	rekeySet, lifeSet := t.has("rekey_time"), t.has("life_time")
	if d, ok := t.duration("rekey_time"); ok {
		ch.RekeyTime = d
	}
	ch.LifeTime = ch.RekeyTime + ch.RekeyTime/10
	if d, ok := t.duration("life_time"); ok {
		ch.LifeTime = d
	}
	ch.RandTime = max(ch.LifeTime-ch.RekeyTime, 0)
	if d, ok := t.duration("rand_time"); ok {
		ch.RandTime = d
	}
	if ch.RekeyTime > 0 && ch.LifeTime > 0 && ch.RekeyTime >= ch.LifeTime && (rekeySet || lifeSet) {
		t.errorf("rekey_time", "%v must be less than life_time (%v)", ch.RekeyTime, ch.LifeTime)
	} else if ch.RekeyTime > 0 && ch.RandTime >= ch.RekeyTime && t.has("rand_time") {
		t.errorf("rand_time", "%v must be less than rekey_time (%v): it is subtracted from it", ch.RandTime, ch.RekeyTime)
	}

	var ok bool
	if ch.RekeyBytes, ok = t.byteCount("rekey_bytes"); ok {
		ch.LifeBytes = addTenth(ch.RekeyBytes)
	}
	if n, ok := t.byteCount("life_bytes"); ok {
		ch.LifeBytes = n
	}
	ch.RandBytes = sat(ch.LifeBytes, ch.RekeyBytes)
	if n, ok := t.byteCount("rand_bytes"); ok {
		ch.RandBytes = n
	}
	checkVolume(t, "bytes", ch.RekeyBytes, ch.LifeBytes, ch.RandBytes)
	if ch.RekeyPackets, ok = t.count("rekey_packets"); ok {
		ch.LifePackets = addTenth(ch.RekeyPackets)
	}
	if n, ok := t.count("life_packets"); ok {
		ch.LifePackets = n
	}
	ch.RandPackets = sat(ch.LifePackets, ch.RekeyPackets)
	if n, ok := t.count("rand_packets"); ok {
		ch.RandPackets = n
	}
	checkVolume(t, "packets", ch.RekeyPackets, ch.LifePackets, ch.RandPackets)

	if s, ok := t.oneOf("start_action", ActionNone, ActionTrap, ActionStart); ok {
		ch.StartAction, ch.ownStartAction = s, true
	}
	if s, ok := t.oneOf("dpd_action", ActionClear, ActionTrap, ActionRestart); ok {
		ch.DPDAction = s
	}
	if s, ok := t.oneOf("close_action", ActionNone, ActionTrap, ActionStart); ok {
		ch.CloseAction = s
	}
	if n, ok := t.integer("replay_window", 0, MaxReplayWindow); ok {
		ch.ReplayWindow = int(n)
	}
	if n, ok := t.integer("priority", 0, math.MaxUint32); ok {
		ch.Priority = uint32(n)
	}
	return ch
}

// addTenth is n + 10%, saturating.
func addTenth(n uint64) uint64 {
	if n > math.MaxUint64-n/10 {
		return math.MaxUint64
	}
	return n + n/10
}

// sat is a - b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// checkVolume checks rekey_X < life_X and rand_X < rekey_X when they are set.
func checkVolume(t *table, unit string, rekey, life, rand uint64) {
	rk, lk, dk := "rekey_"+unit, "life_"+unit, "rand_"+unit
	if rekey > 0 && life > 0 && rekey >= life && (t.has(rk) || t.has(lk)) {
		t.errorf(rk, "%d must be less than %s (%d)", rekey, lk, life)
	} else if rekey > 0 && rand >= rekey && t.has(dk) {
		t.errorf(dk, "%d must be less than %s (%d): it is subtracted from it", rand, rk, rekey)
	}
}

// trafficSelectors parses a child's local_ts or remote_ts, where
// "dynamic" (also the default) stands for the outer or virtual address.
func (t *table) trafficSelectors(k string) TrafficSelectors {
	const allowed = `e.g. "dynamic", "10.78.1.0/24", "10.0.0.1/32[tcp/443]", "::/0"`
	list, ok := t.strList(k)
	if !ok {
		return TrafficSelectors{Dynamic: true}
	}
	if len(list) == 0 {
		t.errorf(k, `must not be empty: leave it out for "dynamic", or give traffic selectors, %s`, allowed)
		return TrafficSelectors{Dynamic: true}
	}
	var ts TrafficSelectors
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			if s == "dynamic" {
				if ts.Dynamic {
					t.errorf(k, `"dynamic" is listed twice`)
				}
				ts.Dynamic = true
				continue
			}
			if strings.HasPrefix(s, "dynamic[") {
				t.errorf(k, "%q: a protocol or port on dynamic is not supported by this version of esptun; give the address", s)
				continue
			}
			sel, err := spd.ParseSelector(s)
			if err != nil {
				t.errorf(k, "%s", strings.TrimPrefix(err.Error(), "spd: "))
				continue
			}
			if slices.Contains(ts.Selectors, sel) {
				t.errorf(k, "%s is listed twice", sel)
				continue
			}
			ts.Selectors = append(ts.Selectors, sel)
		}
	}
	return ts
}
