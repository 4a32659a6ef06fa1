package netcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
)

// Defaults for Config's zero values.
const (
	// DefaultTable is the routing table for the tunnel routes, next to
	// strongSwan's 220 so that both can run on one host. It is below 256
	// because netlink carries suppress_prefixlength only for such tables.
	DefaultTable = 221
	// DefaultPriority is the first of the three rule priorities.
	DefaultPriority = 221
	// DefaultResolvConf is the file rewritten when systemd-resolved is
	// not running.
	DefaultResolvConf = "/etc/resolv.conf"
)

// DNSMethod chooses how DNS servers reach the resolver.
type DNSMethod string

const (
	// DNSAuto uses systemd-resolved if it owns its D-Bus name, else
	// resolv.conf.
	DNSAuto DNSMethod = ""
	// DNSResolved uses systemd-resolved's D-Bus API and fails without it.
	DNSResolved DNSMethod = "resolved"
	// DNSResolvConf rewrites the resolv.conf file.
	DNSResolvConf DNSMethod = "resolv.conf"
	// DNSNone leaves DNS alone even when Config.DNS is set.
	DNSNone DNSMethod = "none"
)

var (
	// ErrUnsupported is returned by Apply on systems without an
	// implementation (other than Linux, macOS and Windows).
	ErrUnsupported = errors.New("netcfg: not supported on this OS yet")
	// ErrStateExists is returned by Apply when the state file exists: an
	// earlier run did not undo its changes, and Recover must run first.
	ErrStateExists = errors.New("netcfg: state file exists; run Recover first")
	// ErrBadState is wrapped by Recover when the state file cannot be
	// decoded; the file has been moved aside to its name plus ".corrupt".
	ErrBadState = errors.New("netcfg: bad state file")
)

// Config is the host configuration of one road-warrior IKE SA. Every list
// may be empty; an empty Config changes nothing but the state file.
type Config struct {
	// Interface is the TUN device's name. It must exist. Apply sets it up
	// if it is down (and Undo sets it down again).
	Interface string
	// Addresses are the virtual IPs (RFC 7296 3.15.1), normally /32 or
	// /128. An address already present on the interface is left alone
	// and not removed by Undo.
	Addresses []netip.Prefix
	// Routes are the remote traffic selectors routed into the TUN.
	// 0.0.0.0/0 and ::/0 mean a full tunnel for that family; see the
	// package documentation for how the host's own networks stay
	// reachable. Routes take the first Addresses entry of their family as
	// preferred source.
	Routes []netip.Prefix
	// Exclude are the outer addresses (the IKE peer's) that must never be
	// routed into the tunnel, whichever route covers them.
	Exclude []netip.Addr
	// DNS are the servers from INTERNAL_IP4_DNS / INTERNAL_IP6_DNS.
	DNS []netip.Addr
	// Domains are the RFC 8598 INTERNAL_DNS_DOMAIN names. With DNS set
	// and Domains empty, the DNS servers resolve every name; with Domains
	// set, only names at or below them (split DNS). Names that are not
	// valid DNS names (they come from the peer) are dropped with a
	// warning; "." means every name.
	Domains []string
	// StateFile is where Apply records each change before it makes it,
	// as JSON, so that Recover can undo it after a crash. Empty keeps the
	// record in memory only.
	StateFile string
	// Table is the routing table of the tunnel routes (1..252); 0 means
	// DefaultTable. Two connections up at once need different tables.
	Table int
	// Priority is the first of the three consecutive rule priorities; 0
	// means DefaultPriority. Two connections up at once need different
	// priorities.
	Priority int
	// DNSMethod chooses the resolver configuration; the zero value is
	// DNSAuto.
	//
	// With resolv.conf: the file is replaced atomically (rename) by one
	// that lists the DNS servers as its only nameservers and keeps the
	// other lines (search, options, ...) of the old file; the old bytes
	// and mode go into the state and come back on Undo. resolv.conf cannot
	// route names by domain, so with Domains set every name goes to the
	// tunnel's servers (a warning says so). If the path is a symlink (to
	// resolvconf's, NetworkManager's or resolved's file), the symlink
	// itself is replaced by a regular file and put back, pointing where it
	// pointed, on Undo: the file it points to, owned by another program,
	// is never written. If the path cannot be renamed over (a bind mount,
	// as in containers), it is rewritten in place. If another program
	// replaced the file while the tunnel was up, Undo leaves the newer
	// file alone and logs a warning.
	DNSMethod DNSMethod
	// ResolvConf is the resolv.conf path; empty means DefaultResolvConf.
	ResolvConf string
}

// Applied is what one Apply changed. Its methods are safe for concurrent
// use.
type Applied struct {
	stateFile string
	log       *slog.Logger
	sys       *sysHost // macOS and Windows; nil on Linux

	mu sync.Mutex
	st *state // nil once everything is undone
}

func discardIfNil(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// normalized checks c and returns a copy with defaults filled in, prefixes
// masked, and invalid domains dropped.
func (c Config) normalized(log *slog.Logger) (Config, error) {
	if c.Interface == "" {
		return c, errors.New("netcfg: no interface")
	}
	if c.Table == 0 {
		c.Table = DefaultTable
	}
	if c.Table < 1 || c.Table > 252 {
		return c, fmt.Errorf("netcfg: table %d out of range 1..252", c.Table)
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.Priority < 1 || c.Priority > 32000 {
		return c, fmt.Errorf("netcfg: rule priority %d out of range 1..32000", c.Priority)
	}
	if c.ResolvConf == "" {
		c.ResolvConf = DefaultResolvConf
	}
	switch c.DNSMethod {
	case DNSAuto, DNSResolved, DNSResolvConf, DNSNone:
	default:
		return c, fmt.Errorf("netcfg: unknown DNS method %q", c.DNSMethod)
	}
	for _, a := range c.Addresses {
		if !a.IsValid() || a.Addr().Zone() != "" || a.Addr().Is4In6() {
			return c, fmt.Errorf("netcfg: invalid address %v", a)
		}
	}
	routes := make([]netip.Prefix, 0, len(c.Routes))
	for _, r := range c.Routes {
		if !r.IsValid() || r.Addr().Zone() != "" || r.Addr().Is4In6() {
			return c, fmt.Errorf("netcfg: invalid route %v", r)
		}
		routes = append(routes, r.Masked())
	}
	c.Routes = routes
	for _, lists := range [][]netip.Addr{c.Exclude, c.DNS} {
		for _, a := range lists {
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
				return c, fmt.Errorf("netcfg: invalid address %v", a)
			}
		}
	}
	var domains []string
	for _, d := range c.Domains {
		n, ok := normalizeDomain(d)
		if !ok {
			log.Warn("netcfg: ignoring an invalid DNS domain", "domain", d)
			continue
		}
		domains = append(domains, n)
	}
	c.Domains = domains
	return c, nil
}

// normalizeDomain returns d in lower case without its trailing dot, or "."
// for the root, and reports whether it is a valid host name (RFC 1123 2.1
// letters, digits and hyphens; underscores as in service names) of at most
// 253 characters.
func normalizeDomain(d string) (string, bool) {
	d = strings.TrimPrefix(d, "~")
	if d == "." {
		return ".", true
	}
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if d == "" || len(d) > 253 {
		return "", false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !('a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_') {
				return "", false
			}
		}
	}
	return d, true
}

// splitDNS reports whether the domains restrict the servers to some names.
func splitDNS(domains []string) bool {
	for _, d := range domains {
		if d == "." {
			return false
		}
	}
	return len(domains) > 0
}

// isFullTunnel reports whether routes hold the default route of the family
// of is4.
func isFullTunnel(routes []netip.Prefix, is4 bool) bool {
	for _, r := range routes {
		if r.Bits() == 0 && r.Addr().Is4() == is4 {
			return true
		}
	}
	return false
}

// covered reports whether a is inside one of the routes.
func covered(routes []netip.Prefix, a netip.Addr) bool {
	for _, r := range routes {
		if r.Contains(a) {
			return true
		}
	}
	return false
}
