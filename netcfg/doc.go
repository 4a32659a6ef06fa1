// Package netcfg configures the host for a road-warrior IKEv2 connection:
// the virtual IPs a gateway assigns in a configuration payload (RFC 7296
// 3.15.1, INTERNAL_IP4_ADDRESS / INTERNAL_IP6_ADDRESS) go on the TUN device,
// the remote traffic selectors are routed into it, and the DNS servers and
// split-DNS domains (INTERNAL_IP4_DNS / INTERNAL_IP6_DNS, RFC 8598
// INTERNAL_DNS_DOMAIN) are handed to the resolver. Apply makes the changes,
// Applied.Undo takes them back, and Recover takes back what a crashed
// earlier run left behind, from the state file Apply keeps.
//
// # Routing on Linux: a dedicated table, throw routes and three rules
//
// The tunnel routes live in their own routing table (Config.Table, default
// DefaultTable), never in the main table, and the Exclude addresses (the
// outer addresses of the IKE peer, whose IKE and ESP-in-UDP packets must not
// enter the tunnel they carry) get "throw" routes in that table: a throw
// route ends the lookup in the table as if it had found nothing, so the
// kernel carries on with the next rules and routes the packet exactly as it
// would without esptun. For each address family with tunnel routes, rules
// are added at Config.Priority (default DefaultPriority) and the next two
// priorities:
//
//	P    lookup TABLE suppress_prefixlength 0   remote traffic selectors, throws
//	P+1  lookup main  suppress_prefixlength 0   full tunnel only: the host's own specific routes
//	P+2  lookup TABLE                           full tunnel only: the default route into the TUN
//
// A full tunnel (0.0.0.0/0 or ::/0 in Config.Routes) therefore takes every
// destination the host would have sent over its default route, while the
// directly connected networks and other specific routes of the main table
// (the LAN, its DHCP server, link-local destinations) stay reachable, as
// with 0.0.0.0/1 + 128.0.0.0/1; the traffic selectors narrower than /0 win
// over the main table, as strongSwan's table 220 does.
//
// This was chosen over host routes "via the current gateway" for the peer
// (what the simple /1 + /1 scheme needs) because those copy a gateway that
// goes stale when the laptop roams or DHCP renews onto another router, and
// over a fwmark on the daemon's sockets because it needs nothing from the
// sockets: any process's packets to the peer, and the daemon's own, leave
// outside the tunnel. No fwmark is used.
//
// Everything Apply leaves behind is inert if the daemon dies: the routes into
// the TUN vanish with the device, and a throw route or a rule pointing at a
// table that no longer routes anything changes no lookup. The resolv.conf
// rewrite is what truly needs Recover.
//
// # DNS on Linux
//
// If systemd-resolved owns the D-Bus name org.freedesktop.resolve1, the
// servers and domains are set on the TUN's link through its D-Bus API
// (SetLinkDNS, SetLinkDomains with routing-only domains, "~." for all names,
// SetLinkDefaultRoute) and RevertLink undoes them; resolved forgets a link's
// settings by itself when the link disappears. Otherwise /etc/resolv.conf
// (Config.ResolvConf) is rewritten; see Config.DNSMethod for the details.
//
// # Namespaces and other systems
//
// On Linux every function acts on the network namespace of the calling OS
// thread.
//
// On macOS and Windows, which have one routing table, a full tunnel is two
// /1 routes per family plus a host route to each Exclude address through the
// gateway it used before Apply; addresses and routes are set with ifconfig
// and route(8), or netsh; DNS with scutil (a dynamic store service of its
// own), or the device's DNS servers and Name Resolution Policy Table rules.
// Which commands run is decided by functions without build tags (sysPlan,
// sysDo, sysUndo), so that it is tested on every system. On other systems
// Apply returns ErrUnsupported.
package netcfg
