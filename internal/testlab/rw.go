package testlab

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The road-warrior (remote-access) labs of cmd/esptun and interop run an
// esptun gateway that hands out virtual IPs from a pool and esptun clients
// that ask for one. RWGateway and RWClient write their configurations.

// RWGateway is an esptun road-warrior gateway: it authenticates itself with
// a certificate, its clients with EAP, and hands out addresses, a DNS
// server and a split-DNS domain from the pool "office".
type RWGateway struct {
	Sock   string     // control socket
	TUN    string     // TUN device name
	Office netip.Addr // on the TUN device (as a /32)
	Addr   netip.Addr // outer address: [ike] listen and local_addrs

	RetransmitBase  float64 // [ike] retransmit_base; 0 = esptun's
	RetransmitTries int     // [ike] retransmit_tries; 0 = esptun's
	HalfOpenTimeout string  // [ike] half_open_timeout; "" = esptun's

	Conn, Child   string // connection and child names
	Proposal, ESP string // IKE and ESP proposals
	Legacy        bool   // allow_legacy_proposals

	ID, Cert, Key string // own identity, certificate and key files
	ClientAuth    string // what clients use: eap-mschapv2 | eap-tls
	CACert        string // eap-tls: the clients' CA
	LocalTS       string // the child's local_ts: the office, or 0.0.0.0/0

	Pool, DNS, Domain string // [pools.office] addrs, dns, domains

	UsersFile      string // [secrets.eap-users] users_file, if set
	User, Password string // [secrets.eap-USER], if User is set
}

// Config renders g as esptun's TOML.
func (g RWGateway) Config() string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %s\nlog_level = \"debug\"\n\n", q(g.Sock))
	fmt.Fprintf(&b, "[tun]\nname = %s\naddresses = [%s]\n\n", q(g.TUN), q(g.Office.String()+"/32"))
	fmt.Fprintf(&b, "[ike]\nlisten = [%s]\n%s", q(g.Addr.String()), retransmit(g.RetransmitBase, g.RetransmitTries))
	if g.HalfOpenTimeout != "" {
		fmt.Fprintf(&b, "half_open_timeout = %s\n", q(g.HalfOpenTimeout))
	}
	fmt.Fprintf(&b, "\n[connections.%s]\nremote_addrs = [\"%%any\"]\nlocal_addrs = [%s]\nproposals = [%s]\npools = [\"office\"]\n",
		g.Conn, q(g.Addr.String()), q(g.Proposal))
	if g.Legacy {
		fmt.Fprintf(&b, "allow_legacy_proposals = true\n")
	}
	fmt.Fprintf(&b, "\n[connections.%s.local]\nauth = \"pubkey\"\nid = %s\ncerts = [%s]\n", g.Conn, q(g.ID), q(g.Cert))
	fmt.Fprintf(&b, "\n[connections.%s.remote]\nauth = %s\neap_id = \"%%any\"\n", g.Conn, q(g.ClientAuth))
	if g.CACert != "" {
		fmt.Fprintf(&b, "cacerts = [%s]\n", q(g.CACert))
	}
	fmt.Fprintf(&b, "\n[connections.%s.children.%s]\nlocal_ts = [%s]\nesp_proposals = [%s]\n", g.Conn, g.Child, q(g.LocalTS), q(g.ESP))
	fmt.Fprintf(&b, "\n[pools.office]\naddrs = %s\ndns = [%s]\ndomains = [%s]\n", q(g.Pool), q(g.DNS), q(g.Domain))
	fmt.Fprintf(&b, "\n[secrets.private-gw]\nfile = %s\n", q(g.Key))
	if g.UsersFile != "" {
		fmt.Fprintf(&b, "\n[secrets.eap-users]\nusers_file = %s\n", q(g.UsersFile))
	}
	if g.User != "" {
		fmt.Fprintf(&b, "\n[secrets.eap-%s]\nid = %s\nsecret = %s\n", g.User, q(g.User), q(g.Password))
	}
	return b.String()
}

// RWClient is an esptun road-warrior client: it asks Gateway for a virtual
// IPv4 address, authenticates with EAP and routes RemoteTS into its TUN.
type RWClient struct {
	Sock string     // control socket
	TUN  string     // TUN device name
	Addr netip.Addr // outer address: [ike] listen and local_addrs

	RetransmitBase  float64 // [ike] retransmit_base; 0 = esptun's
	RetransmitTries int     // [ike] retransmit_tries; 0 = esptun's

	Conn, Child   string // connection and child names
	Proposal, ESP string // IKE and ESP proposals

	Gateway           netip.Addr // remote_addrs
	GatewayID, CACert string     // the gateway's identity and its CA

	Auth     string // eap-mschapv2 | eap-tls
	ID       string // eap-mschapv2: the user (id and eap_id); eap-tls: the identity
	Password string // eap-mschapv2
	Key      string // eap-tls: the private key file
	Cert     string // eap-tls: the certificate file
	RemoteTS string // the child's remote_ts: the office, or 0.0.0.0/0
}

// Config renders c as esptun's TOML.
func (c RWClient) Config() string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %s\nlog_level = \"debug\"\n\n", q(c.Sock))
	fmt.Fprintf(&b, "[tun]\nname = %s\n\n", q(c.TUN))
	fmt.Fprintf(&b, "[ike]\nlisten = [%s]\n%s\n", q(c.Addr.String()), retransmit(c.RetransmitBase, c.RetransmitTries))
	fmt.Fprintf(&b, "[connections.%s]\nremote_addrs = [%s]\nlocal_addrs = [%s]\nvips = [\"0.0.0.0\"]\nencap = true\nproposals = [%s]\n",
		c.Conn, q(c.Gateway.String()), q(c.Addr.String()), q(c.Proposal))
	if c.Auth == "eap-tls" {
		fmt.Fprintf(&b, "\n[connections.%s.local]\nauth = \"eap-tls\"\nid = %s\ncerts = [%s]\n", c.Conn, q(c.ID), q(c.Cert))
	} else {
		fmt.Fprintf(&b, "\n[connections.%s.local]\nauth = %s\nid = %s\neap_id = %s\n", c.Conn, q(c.Auth), q(c.ID), q(c.ID))
	}
	fmt.Fprintf(&b, "\n[connections.%s.remote]\nauth = \"pubkey\"\nid = %s\ncacerts = [%s]\n", c.Conn, q(c.GatewayID), q(c.CACert))
	fmt.Fprintf(&b, "\n[connections.%s.children.%s]\nremote_ts = [%s]\nesp_proposals = [%s]\nstart_action = \"start\"\n", c.Conn, c.Child, q(c.RemoteTS), q(c.ESP))
	if c.Auth == "eap-tls" {
		fmt.Fprintf(&b, "\n[secrets.private-client]\nfile = %s\n", q(c.Key))
	} else {
		fmt.Fprintf(&b, "\n[secrets.eap-%s]\nid = %s\nsecret = %s\n", c.ID, q(c.ID), q(c.Password))
	}
	return b.String()
}

// retransmit is the [ike] retransmission lines: retransmit_timeout is
// always 1s, so that lost messages cost the labs little.
func retransmit(base float64, tries int) string {
	s := "retransmit_timeout = \"1s\"\n"
	if base > 0 {
		s += fmt.Sprintf("retransmit_base = %v\n", base)
	}
	if tries > 0 {
		s += fmt.Sprintf("retransmit_tries = %d\n", tries)
	}
	return s
}

// WriteUsers writes an EAP users file (esptun's users_file) with users'
// passwords, mode 0600, in user order.
func WriteUsers(path string, users map[string]string) error {
	var b strings.Builder
	b.WriteString("# EAP users of the road-warrior lab\n")
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	slices.Sort(names)
	for _, u := range names {
		fmt.Fprintf(&b, "%s: %s\n", u, users[u])
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}
