package config

import (
	"slices"
	"strings"

	"github.com/esptun/esptun/crypto"
)

// legacyAlgorithms names what RFC 8247 advises against in p and esptun
// accepts only with allow_legacy_proposals: MODP-1024 (2.4: SHOULD NOT) and
// SHA-1 as integrity or PRF (2.2, 2.3: MUST-).
func legacyAlgorithms(p crypto.Proposal) []string {
	var out []string
	for _, t := range p.Transforms {
		var name string
		switch {
		case t.Type == crypto.TransformDH && t.ID == crypto.DHMODP1024:
			name = "MODP-1024 (DH group 2)"
		case t.Type == crypto.TransformINTEG && t.ID == crypto.IntegHMACSHA196,
			t.Type == crypto.TransformPRF && t.ID == crypto.PRFHMACSHA1:
			name = "SHA-1"
		default:
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// checkLegacy refuses proposals with legacy algorithms unless conn allows
// them. It reports whether any proposal has one.
func (t *table) checkLegacy(k string, strs []string, parse func(string) (crypto.Proposal, error), conn *Connection) bool {
	found := false
	for _, s := range strs {
		if strings.EqualFold(s, "default") {
			continue // the defaults never hold legacy algorithms
		}
		p, err := parse(s)
		if err != nil {
			continue
		}
		names := legacyAlgorithms(p)
		if len(names) == 0 {
			continue
		}
		found = true
		if !conn.AllowLegacyProposals {
			t.errorf(k, "proposal %q uses %s, which RFC 8247 advises against (2.4: group 2 SHOULD NOT be used; 2.2, 2.3: SHA-1 is MUST-); "+
				"to accept it anyway, as the built-in Windows IKEv2 client needs MODP-1024 unless its IPsec policy is changed, add allow_legacy_proposals = true to [connections.%s]",
				s, strings.Join(names, " and "), formatPath([]string{conn.Name}))
		}
	}
	return found
}

// checkEAP checks the EAP parts of the authentication rounds. key gives
// the path of a key in a side's round.
func (c *checker) checkEAP(conn *Connection, key func(side, k string) []string) {
	l, r := &conn.Local, &conn.Remote
	for _, side := range []string{"local", "remote"} {
		round := l
		if side == "remote" {
			round = r
		}
		if round.EAPID != "" && round.Auth != "" && !round.IsEAP() {
			c.warnf(key(side, "eap_id"), "eap_id is only used with EAP; auth = %q ignores it", round.Auth)
		}
	}
	if l.EAPID == "%any" {
		c.errorf(key("local", "eap_id"), `"%%any" asks the peer for its EAP identity, so it belongs on the remote round; a local eap_id is the EAP identity this end sends`)
	}
	// RFC 5998: with EAP on both rounds the gateway sends no AUTH payload
	// and one mutual EAP method authenticates both ends.
	if conn.EAPOnly() && l.Auth != AuthEAP && r.Auth != AuthEAP && l.Auth != r.Auth {
		c.errorf(key("remote", "auth"), "local auth = %q and remote auth = %q: EAP on both rounds is EAP-only authentication (RFC 5998), where one mutual EAP method authenticates both ends, so both rounds must name the same method (or one of them \"eap\")",
			l.Auth, r.Auth)
	}
}

// checkPoolsUsed warns about pools that no connection lists.
func (c *checker) checkPoolsUsed(cfg *Config) {
	for _, p := range cfg.Pools {
		used := slices.ContainsFunc(cfg.Connections, func(conn *Connection) bool { return slices.Contains(conn.Pools, p.Name) })
		if !used {
			c.warnf([]string{"pools", p.Name}, "no connection lists this pool in its pools, so its addresses are never handed out")
		}
	}
}
