package config

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// MaxPoolSize bounds the addresses of one pool. strongSwan caps a CIDR pool
// at 2^31 addresses (mem_pool.c POOL_LIMIT) with a log line; esptun caps it
// lower, with a warning, so that a lease table for a whole pool stays
// small, and refuses ranges that are larger.
const MaxPoolSize = 1 << 20

var poolKeys = []string{"addrs", "dns", "nbns", "subnet", "split_include", "split_exclude", "domains"}

// unsupportedPoolKeys are swanctl pool attributes this version refuses.
var unsupportedPoolKeys = map[string]string{
	"dhcp":    "INTERNAL_IP4_DHCP/INTERNAL_IP6_DHCP are not sent by this version of esptun",
	"netmask": "INTERNAL_IP4_NETMASK is not sent by this version of esptun (RFC 7296 3.15.1 lets it mean nothing more than the address itself); remove it",
	"server":  "INTERNAL_IP4_SERVER/INTERNAL_IP6_SERVER are not sent by this version of esptun",
	"address": "virtual IPs come from addrs",
}

func (c *checker) pools(t *table, tun *Tun) []*Pool {
	names := make([]string, 0, len(t.m))
	for name := range t.m {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*Pool
	for _, name := range names {
		v := t.m[name]
		m, ok := v.(map[string]any)
		if !ok {
			t.errorf(name, "must be a table [pools.NAME], not %s", typeName(v))
			continue
		}
		if !validManualName(name) {
			t.errorf(name, "invalid pool name %q (allowed: 1-64 letters, digits, '_', '-')", name)
			continue
		}
		pt := &table{c: c, path: t.sub(name), m: m}
		if p := c.pool(pt, name); p != nil {
			// Pools must not overlap (swanctl.opt: "Pools must be unique
			// and non-overlapping"): an address would have two owners.
			for _, q := range out {
				if p.First.Is4() == q.First.Is4() && p.First.Compare(q.Last) <= 0 && q.First.Compare(p.Last) <= 0 {
					pt.errorf("addrs", "%s-%s overlaps pool %s (%s-%s, line %d): pools must not share addresses",
						p.First, p.Last, q.Name, q.First, q.Last, q.Line)
				}
			}
			for _, a := range tun.Addresses {
				if p.Contains(a.Addr()) {
					pt.errorf("addrs", "hands out %s, which tun.addresses puts on this host's TUN; leave it out of the pool (e.g. a range that starts after it)", a.Addr())
				}
			}
			out = append(out, p)
		}
	}
	return out
}

// pool checks one [pools.NAME] section; it returns nil when addrs is
// missing or invalid.
func (c *checker) pool(t *table, name string) *Pool {
	p := &Pool{Name: name, Line: c.lineOf(t.path)}
	t.unknownKeys(poolKeys, unsupportedPoolKeys, func(k string) bool {
		if isDigits(k) {
			t.errorf(k, "numbered attribute types are not supported by this version of esptun (allowed: %s; for INTERNAL_DNS_DOMAIN, 25, write domains = [\"example.com\"])",
				strings.Join(poolKeys, ", "))
			return true
		}
		return false
	})

	ok := false
	switch t.m["addrs"].(type) {
	case nil: // absent
		c.errorf(t.path, `required: addrs, the virtual IPs to hand out: a CIDR such as "10.3.0.0/24" or "fd00:3::/112", or a range such as "10.3.0.10-10.3.0.200"`)
	case []any:
		t.errorf("addrs", "must be one string, not an array: swanctl takes one addrs per pool (a CIDR or a range); define another [pools.NAME] and list both in the connection's pools")
	default:
		if s, isStr := t.str("addrs"); isStr {
			ok = c.poolAddrs(t, p, strings.TrimSpace(s))
		}
	}

	p.DNS = t.attrAddrs("dns", false)
	p.NBNS = t.attrAddrs("nbns", true)
	p.Subnets = t.attrPrefixes("subnet")
	p.SplitInclude = t.attrPrefixes("split_include")
	p.SplitExclude = t.attrPrefixes("split_exclude")
	if list, isList := t.strList("domains"); isList {
		if len(list) == 0 {
			t.errorf("domains", "must not be empty (leave it out for none)")
		}
		for _, s := range list {
			for _, s := range strings.Split(s, ",") {
				d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
				// RFC 8598 4: a fully qualified domain name in presentation
				// format, IDNA A-labels only.
				if !validHostname(d) || strings.Contains(d, "_") {
					t.errorf("domains", "invalid domain %q (allowed: DNS names such as \"example.com\", \"corp.example.org\"; internationalized names as xn-- A-labels)", strings.TrimSpace(s))
					continue
				}
				if slices.Contains(p.Domains, d) {
					t.errorf("domains", "%s is listed twice", d)
					continue
				}
				p.Domains = append(p.Domains, d)
			}
		}
	}
	if !ok {
		return nil
	}
	return p
}

// poolAddrs parses addrs: a CIDR, a range or a single address.
func (c *checker) poolAddrs(t *table, p *Pool, s string) bool {
	const allowed = `allowed: a CIDR such as "10.3.0.0/24" or "fd00:3::/112", a range such as "10.3.0.10-10.3.0.200", or one address`
	switch {
	case strings.Contains(s, "/"):
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			t.errorf("addrs", "invalid CIDR %q (%s)", s, allowed)
			return false
		}
		masked := pfx.Masked()
		first, last := pfx.Addr(), lastAddr(masked)
		if masked.Addr().BitLen()-masked.Bits() >= 2 {
			// strongSwan (mem_pool_create) leaves out the network address
			// and the last (broadcast) address of a subnet of more than
			// two addresses, for IPv6 too.
			if first == masked.Addr() {
				first = first.Next()
			}
			last = last.Prev()
			if first.Compare(last) > 0 {
				t.errorf("addrs", "%s leaves no address to hand out once the last address of the subnet is left out (%s)", s, allowed)
				return false
			}
		}
		p.Prefix, p.First, p.Last = masked, first, last
		if n := addrDiff(last, first); n >= MaxPoolSize {
			p.Last = addrAdd(first, MaxPoolSize-1)
			t.warnf("addrs", "%s holds more than %d addresses; esptun hands out the first %d (%s-%s)", s, MaxPoolSize, MaxPoolSize, p.First, p.Last)
		}
	case strings.Contains(s, "-"):
		lo, hi, _ := strings.Cut(s, "-")
		first, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		last, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || first.Zone() != "" || last.Zone() != "" {
			t.errorf("addrs", "invalid range %q (%s)", s, allowed)
			return false
		}
		first, last = first.Unmap(), last.Unmap()
		if first.Is4() != last.Is4() || first.Compare(last) > 0 {
			t.errorf("addrs", "invalid range %q: both ends must be of one family, first <= last (%s)", s, allowed)
			return false
		}
		if n := addrDiff(last, first); n >= MaxPoolSize {
			t.errorf("addrs", "range %q holds more than %d addresses (at most %d per pool)", s, MaxPoolSize, MaxPoolSize)
			return false
		}
		p.Range, p.First, p.Last = true, first, last
		p.Prefix = coverPrefix(first, last)
	default:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			t.errorf("addrs", "invalid address %q (%s)", s, allowed)
			return false
		}
		a = a.Unmap()
		p.First, p.Last, p.Prefix = a, a, netip.PrefixFrom(a, a.BitLen())
	}
	for _, a := range []netip.Addr{p.First, p.Last} {
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast() {
			t.errorf("addrs", "%s includes %s, which cannot be a client's virtual IP (unspecified, loopback, link-local or multicast)", s, a)
			return false
		}
	}
	if p.First.Is4() && p.Last == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		t.errorf("addrs", "%s includes the broadcast address 255.255.255.255", s)
		return false
	}
	return true
}

// attrAddrs parses a list of attribute addresses (dns, nbns).
func (t *table) attrAddrs(k string, v4Only bool) []netip.Addr {
	list, ok := t.strList(k)
	if !ok {
		return nil
	}
	if len(list) == 0 {
		t.errorf(k, "must not be empty (leave it out for none)")
		return nil
	}
	var out []netip.Addr
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				t.errorf(k, "invalid IP address %q (host names are not resolved; give an IPv4 or IPv6 address)", s)
				continue
			}
			a = a.Unmap()
			switch {
			case a.IsUnspecified() || a.IsMulticast():
				t.errorf(k, "%s is not a unicast address", a)
				continue
			case v4Only && !a.Is4():
				t.errorf(k, "%s is IPv6, but there is only INTERNAL_IP4_NBNS (allowed: IPv4 addresses)", a)
				continue
			case slices.Contains(out, a):
				t.errorf(k, "%s is listed twice", a)
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

// attrPrefixes parses a list of attribute subnets (subnet, split_*): CIDRs,
// masked, or bare addresses as host prefixes.
func (t *table) attrPrefixes(k string) []netip.Prefix {
	list, ok := t.strList(k)
	if !ok {
		return nil
	}
	if len(list) == 0 {
		t.errorf(k, "must not be empty (leave it out for none)")
		return nil
	}
	var out []netip.Prefix
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			var p netip.Prefix
			var err error
			if strings.Contains(s, "/") {
				p, err = netip.ParsePrefix(s)
				p = p.Masked()
			} else {
				var a netip.Addr
				if a, err = netip.ParseAddr(s); err == nil {
					a = a.Unmap()
					p = netip.PrefixFrom(a, a.BitLen())
				}
			}
			if err != nil || p.Addr().Zone() != "" {
				t.errorf(k, `invalid subnet %q (allowed: "10.1.0.0/16", "fd00:1::/64", or an address)`, s)
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

// u128 gives a as a 128-bit number (IPv4 as ::ffff:a.b.c.d).
func u128(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func addrFromU128(hi, lo uint64, v4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	a := netip.AddrFrom16(b)
	if v4 {
		a = a.Unmap()
	}
	return a
}

// addrDiff is last - first for last >= first of one family, saturated at
// math.MaxUint64.
func addrDiff(last, first netip.Addr) uint64 {
	lh, ll := u128(last)
	fh, fl := u128(first)
	if ll < fl {
		lh--
	}
	if lh != fh {
		return math.MaxUint64
	}
	return ll - fl
}

// addrAdd is a + n; the caller keeps the result within a's prefix.
func addrAdd(a netip.Addr, n uint64) netip.Addr {
	hi, lo := u128(a)
	lo2 := lo + n
	if lo2 < lo {
		hi++
	}
	return addrFromU128(hi, lo2, a.Is4())
}

// lastAddr is the last address of p (host bits all ones).
func lastAddr(p netip.Prefix) netip.Addr {
	host := p.Addr().BitLen() - p.Bits()
	hi, lo := u128(p.Masked().Addr())
	switch {
	case host >= 64:
		lo = math.MaxUint64
		if host == 128 {
			hi = math.MaxUint64
		} else {
			hi |= 1<<(host-64) - 1
		}
	default:
		lo |= 1<<host - 1
	}
	return addrFromU128(hi, lo, p.Addr().Is4())
}

// coverPrefix is the longest prefix that holds both first and last.
func coverPrefix(first, last netip.Addr) netip.Prefix {
	for bits := first.BitLen(); bits > 0; bits-- {
		if p := netip.PrefixFrom(first, bits).Masked(); p.Contains(last) {
			return p
		}
	}
	return netip.PrefixFrom(first, 0).Masked()
}

// vips parses a connection's vips.
func (t *table) vips(list []string) []netip.Addr {
	const allowed = `allowed: "0.0.0.0" and "::" for any address of that family, or a specific address to ask for`
	if len(list) == 0 {
		t.errorf("vips", "must not be empty (leave it out to ask for no virtual IP; %s)", allowed)
		return nil
	}
	var out []netip.Addr
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				t.errorf("vips", "invalid address %q (%s)", s, allowed)
				continue
			}
			a = a.Unmap()
			if a.IsMulticast() || a.IsLoopback() {
				t.errorf("vips", "%s cannot be a virtual IP (%s)", a, allowed)
				continue
			}
			if slices.Contains(out, a) {
				t.errorf("vips", "%s is listed twice", a)
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

// externalPools are pool names strongSwan resolves through plugins.
var externalPools = map[string]string{
	"radius": "strongSwan's eap-radius plugin (addresses a RADIUS server assigns)",
	"dhcp":   "strongSwan's dhcp plugin (addresses leased from a DHCP server)",
}

// poolRefs parses a connection's pools: names of [pools.NAME] sections.
func (t *table) poolRefs(list []string, pools []*Pool) []string {
	if len(list) == 0 {
		t.errorf("pools", "must not be empty (leave it out to hand out no virtual IPs)")
		return nil
	}
	var out []string
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			if slices.Contains(out, s) {
				t.errorf("pools", "pool %q is listed twice", s)
				continue
			}
			if slices.ContainsFunc(pools, func(p *Pool) bool { return p.Name == s }) {
				out = append(out, s)
				continue
			}
			if what, ok := externalPools[s]; ok {
				t.errorf("pools", "%q names %s, which esptun does not have; define the addresses in a [pools.NAME] section and list NAME", s, what)
				continue
			}
			if _, defined := t.c.lines[pathID([]string{"pools", s})]; defined {
				continue // the section exists but is broken: reported there
			}
			t.errorf("pools", "no [pools.%s] section (pools: %s)", formatPath([]string{s}), poolNames(pools))
		}
	}
	return out
}

func poolNames(pools []*Pool) string {
	if len(pools) == 0 {
		return "none defined"
	}
	s := make([]string, len(pools))
	for i, p := range pools {
		s[i] = p.Name
	}
	return strings.Join(s, ", ")
}
