// Package sysnet builds the commands that configure addresses, routes and
// DNS on macOS (ifconfig, route, scutil) and Windows (netsh, PowerShell's
// DnsClient module), and looks up the route a peer takes now. The command
// builders and parsers are plain functions with no build tags, so that they
// are tested on every system; only Run and PeerRoute touch the host.
//
// Every argument that reaches a command is an address or prefix printed by
// net/netip, an interface name or DNS domain checked by the caller, or a
// number: nothing is passed through a shell.
package sysnet

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// Cmd is one command: a program, its arguments, and what goes to its
// standard input.
type Cmd struct {
	Path  string
	Args  []string
	Stdin string
}

// String is the command line, for logs and errors.
func (c Cmd) String() string {
	s := c.Path
	if len(c.Args) > 0 {
		s += " " + strings.Join(c.Args, " ")
	}
	return s
}

// RunTimeout bounds one command.
const RunTimeout = 30 * time.Second

// Run runs c and returns its combined output; a failure's error holds the
// command line and the output.
func Run(c Cmd) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(c.Stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", c, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// NextHop is how a packet to a peer leaves the host now.
type NextHop struct {
	// Gateway is the router, or the zero Addr if the peer is on a
	// directly connected network.
	Gateway netip.Addr
	// Interface is the outgoing interface's name (macOS).
	Interface string
	// Index is the outgoing interface's index (Windows).
	Index int
	// Host is set when the route found is a host route for the peer
	// itself: the peer is kept outside a tunnel already (by the tunnel's
	// own configuration, or by hand), and another host route would only
	// collide with it.
	Host bool
}

// Gone reports whether a failed removal's output says that the thing to
// remove does not exist (any more): the TUN device went and took it along,
// or the change was recorded but never made. Such a removal counts as done.
// The messages are those of macOS's ifconfig and route and of netsh on an
// English Windows; other languages' messages are reported as failures.
func Gone(out []byte) bool {
	s := strings.ToLower(string(out))
	for _, m := range []string{
		"not in table",                   // route(8): no such route
		"does not exist",                 // ifconfig: no such interface
		"can't assign requested address", // ifconfig -alias: no such address
		"element not found",              // netsh: no such route or address
		"cannot find",                    // netsh: no such interface
	} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// SplitDefault returns routes with each default route (0.0.0.0/0, ::/0)
// replaced by its two halves (0.0.0.0/1 and 128.0.0.0/1, ::/1 and 8000::/1).
// The halves are more specific than the host's own default route, so they
// win over it without replacing it, and it is back as it was when they go.
// Other routes are masked and kept in their order; duplicates are dropped.
func SplitDefault(routes []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		for _, q := range out {
			if q == p {
				return
			}
		}
		out = append(out, p)
	}
	for _, r := range routes {
		r = r.Masked()
		if r.Bits() != 0 {
			add(r)
			continue
		}
		if r.Addr().Is4() {
			add(netip.MustParsePrefix("0.0.0.0/1"))
			add(netip.MustParsePrefix("128.0.0.0/1"))
		} else {
			add(netip.MustParsePrefix("::/1"))
			add(netip.MustParsePrefix("8000::/1"))
		}
	}
	return out
}

// HostPrefix is a as a /32 or /128.
func HostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
