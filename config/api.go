package config

import (
	stdcrypto "crypto"
	"fmt"
	"net/netip"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/spd"
)

// Config is a whole validated configuration file.
type Config struct {
	File   string
	Daemon Daemon
	Tun    Tun
	IKE    IKE
	// Manual holds the [manual.NAME] sections in name order.
	Manual []*Manual
	// Connections holds the [connections.NAME] sections in name order.
	Connections []*Connection
	// Secrets holds the [secrets.NAME] sections in name order; a section
	// with users_file contributes one Secret per user, in file order.
	Secrets []*Secret
	// Pools holds the [pools.NAME] sections in name order.
	Pools []*Pool

	warnings []string // see Warnings
	lines    keyLines // see Line
}

// Daemon is the [daemon] section.
type Daemon struct {
	ControlSocket string // default "/run/esptun/esptun.sock"
	LogLevel      string // debug | info | warn | error; default info
	LogFormat     string // text | json; default text
	// Workers is the number of crypto workers as tunnel.Options.Workers
	// takes it: WorkersAuto (0, workers = "auto" or unset), WorkersNone
	// (-1, workers = 0: the readers do all crypto themselves), or 1..1024.
	Workers int
	// Scheduling is the Linux scheduler policy of the daemon's threads:
	// "batch" (default; tunnel.Options.NormalScheduling false) or "normal".
	Scheduling string
}

// Tun is the [tun] section.
type Tun struct {
	Name          string         // default "esptun0"
	MTU           int            // default 1400; 576..9000 (v6 inner needs >= 1280)
	Addresses     []netip.Prefix // put on the TUN at start
	InstallRoutes bool           // default true: route remote selectors into the TUN
	Offload       bool           // default true: TSO/GRO on the TUN where the kernel has it
}

// IKE is the [ike] section: sockets and daemon-wide IKEv2 behaviour, the
// part of strongswan.conf's charon section that esptun has. For the data
// plane only Listen and NATTPort matter: ESP-in-UDP is received on NATTPort.
type IKE struct {
	Listen   []netip.Addr // default: all addresses
	Port     uint16       // default 500
	NATTPort uint16       // default 4500

	// Retransmission of requests (RFC 7296 2.1), strongSwan's formula:
	// retransmission n (0-based) is sent RetransmitTimeout *
	// RetransmitBase^n after the previous one; after RetransmitTries
	// retransmissions and one more such wait the peer is declared dead.
	RetransmitTimeout time.Duration // default 4s
	RetransmitBase    float64       // default 1.8; 1..10
	RetransmitTries   int           // default 5; 0..30

	// Denial-of-service protection (RFC 7296 2.6). CookieThreshold is the
	// number of half-open IKE SAs from which a responder requires a COOKIE
	// (0 = always); HalfOpenLimit is the number beyond which new
	// IKE_SA_INIT requests are dropped (0 = no limit); a half-open SA is
	// dropped after HalfOpenTimeout.
	CookieThreshold int           // default 30
	HalfOpenLimit   int           // default 10000
	HalfOpenTimeout time.Duration // default 30s

	// FragmentSize is the largest IP datagram an IKE message is sent in
	// before RFC 7383 fragmentation splits it.
	FragmentSize int // default 1280; 576..65535

	// KeepaliveInterval is how often a NAT keepalive (RFC 3948 2.3) is sent
	// when this end is behind a NAT; 0 disables them.
	KeepaliveInterval time.Duration // default 20s
}

// Manual is one [manual.NAME] section: a statically keyed SA pair, or with
// mode "pass"/"drop" a shunt policy without keys.
type Manual struct {
	Name          string
	Line          int            // line of the section header (or the key that creates it), for later errors
	Mode          string         // tunnel (default) | pass | drop
	RemoteAddr    netip.AddrPort // port defaults to the natt_port; port ignored with encap = false
	LocalAddr     netip.Addr     // optional; invalid (zero) when unset
	LocalTS       []spd.Selector
	RemoteTS      []spd.Selector
	Priority      uint32 // 0 = automatic (spd.AutoPriority)
	ESP           crypto.ESPSuite
	AllowNull     bool // ENCR_NULL suites are refused unless set
	Encap         bool // default true; false = raw ESP (IP protocol 50, Linux only)
	ESN           bool // default false
	ReplayWindow  int  // default 1024; 0 disables; up to 65536
	SPIOut, SPIIn uint32
	KeyOut, KeyIn []byte // encryption key (with salt) then integrity key
	// Lifetimes, swanctl's names: rekey_time/life_time, rekey_bytes/life_bytes,
	// rekey_packets/life_packets.
	RekeyTime, LifeTime       time.Duration
	RekeyBytes, LifeBytes     uint64
	RekeyPackets, LifePackets uint64
}

// Connection is one [connections.NAME] section: an IKEv2 SA configuration
// with swanctl's keys and defaults, except where a field says otherwise.
type Connection struct {
	Name string
	Line int // line of the section header (or the key that creates it)

	Version     int        // always 2 (IKEv2); swanctl's 0 is read as 2
	LocalAddrs  []PeerAddr // default [%any]
	RemoteAddrs []PeerAddr // default [%any]: responder only
	LocalPort   uint16     // default ike.port
	RemotePort  uint16     // default 500

	// Proposals are the IKE proposals offered and accepted, in order;
	// "default" expands to crypto.DefaultIKEProposals(). ProposalStrings
	// are the proposals as written (commas inside an element split it),
	// "default" included; nil when proposals is not set.
	Proposals       []crypto.Proposal
	ProposalStrings []string

	Encap         bool          // default false; true fakes NAT-D payloads to force ESP-in-UDP
	DPDDelay      time.Duration // default 0 = no liveness checks
	RekeyTime     time.Duration // default 4h; 0 = no IKE SA rekeying
	OverTime      time.Duration // default 10% of RekeyTime: hard lifetime beyond it
	RandTime      time.Duration // default OverTime: random jitter subtracted from RekeyTime
	KeyingTries   int           // default 1; 0 = retry forever
	Unique        string        // no (default) | never | keep | replace
	SendCertReq   bool          // default true
	SendCert      string        // ifasked (default) | always | never
	Fragmentation string        // yes (default) | accept | force | no (RFC 7383)
	// StartAction is not a swanctl connection key: it is the default of
	// each child's start_action.
	StartAction string // none (default) | trap | start

	// VIPs are the virtual IPs a client requests in a configuration
	// payload (RFC 7296 3.15): 0.0.0.0 and :: ask for any address of that
	// family, others for that address (the gateway may return another).
	// A child's dynamic local_ts then stands for the assigned address.
	VIPs []netip.Addr
	// Pools are the names of the [pools.NAME] sections a gateway hands
	// virtual IPs and attributes out of, tried in order. Every name refers
	// to an entry of Config.Pools. VIPs and Pools are never both set.
	Pools []string
	// AllowLegacyProposals admits MODP-1024 (DH group 2), HMAC-SHA1-96
	// and PRF-HMAC-SHA1 in proposals and esp_proposals, which RFC 8247
	// advises against but the built-in Windows IKEv2 client proposes.
	// esptun's own key, not swanctl's; default false.
	AllowLegacyProposals bool

	// Local and Remote are the single authentication round of each side
	// ([connections.NAME.local] and .remote, or one section named with
	// swanctl's local/remote prefix such as local-1).
	Local  AuthRound
	Remote AuthRound

	// Children holds the [connections.NAME.children.CHILD] sections in name
	// order.
	Children []*Child
}

// PeerAddr is one element of local_addrs or remote_addrs. Exactly one of
// Any, Prefix, a range (First and Last) or Host is set.
type PeerAddr struct {
	Any         bool         // "%any": any address of either family
	Prefix      netip.Prefix // an address (a /32 or /128 prefix), a CIDR subnet, or %any4/%any6 (0.0.0.0/0, ::/0)
	First, Last netip.Addr   // a range "FIRST-LAST", both of one family, First <= Last
	Host        string       // a DNS name, resolved when the connection is used
}

// IsAddr reports whether p is a single IP address, which an initiator can
// send to.
func (p PeerAddr) IsAddr() bool { return p.Prefix.IsValid() && p.Prefix.IsSingleIP() }

// Contains reports whether a falls within p. A Host never contains an
// address: it must be resolved first.
func (p PeerAddr) Contains(a netip.Addr) bool {
	a = a.Unmap()
	switch {
	case p.Any:
		return a.IsValid()
	case p.Prefix.IsValid():
		return p.Prefix.Contains(a)
	case p.First.IsValid():
		return a.Is4() == p.First.Is4() && p.First.Compare(a) <= 0 && a.Compare(p.Last) <= 0
	}
	return false
}

// String gives p as swanctl writes it.
func (p PeerAddr) String() string {
	switch {
	case p.Any:
		return "%any"
	case p.Prefix.IsValid() && p.Prefix.IsSingleIP():
		return p.Prefix.Addr().String()
	case p.Prefix.IsValid():
		return p.Prefix.String()
	case p.First.IsValid():
		return p.First.String() + "-" + p.Last.String()
	}
	return p.Host
}

// Authentication methods of an AuthRound (swanctl's auth key).
const (
	AuthPSK         = "psk"          // RFC 7296 2.15 shared key
	AuthPubkey      = "pubkey"       // RFC 7296 3.8 / RFC 7427 signature, any key type
	AuthRSA         = "rsa"          // as pubkey, the key must be RSA
	AuthECDSA       = "ecdsa"        // as pubkey, the key must be ECDSA
	AuthEAP         = "eap"          // EAP (RFC 7296 2.16), method left to the server
	AuthEAPMSCHAPv2 = "eap-mschapv2" // EAP-MSCHAPv2
	AuthEAPTLS      = "eap-tls"      // EAP-TLS (RFC 5216)
)

// AuthRound is the [connections.NAME.local] or [connections.NAME.remote]
// section: how this end authenticates, or what it demands of the peer.
type AuthRound struct {
	Line int    // line of the section, 0 when absent
	Auth string // one of the Auth constants; default pubkey, as in swanctl
	// ID is the IKE identity in swanctl's syntax ("moon.example",
	// "10.77.0.1", "C=CH, O=strongSwan, CN=moon", "fqdn:moon",
	// "keyid:#0a0b"), checked lightly here. Default: local "" (the own
	// outer IP address), remote "%any".
	ID string
	// EAPID is the EAP identity (swanctl's eap_id): on a local round the
	// identity sent in EAP-Identity, on a remote round the one demanded,
	// where "%any" means ask the client with EAP-Identity (RFC 3748 5.1)
	// and accept any. Default "" (= ID).
	EAPID string
	// Certs and CACerts are absolute paths of readable files (relative
	// paths are taken from the configuration file's directory).
	Certs      []string
	CACerts    []string
	Revocation string // relaxed: a certificate fails only when known revoked
}

// IsEAP reports whether the round authenticates with EAP (RFC 7296 2.16).
func (r AuthRound) IsEAP() bool {
	return r.Auth == AuthEAP || r.Auth == AuthEAPMSCHAPv2 || r.Auth == AuthEAPTLS
}

// EAPOnly reports whether conn uses EAP-only authentication (RFC 5998),
// written as in swanctl: EAP on both rounds. Then the gateway sends no
// AUTH payload of its own and a mutual EAP method (EAP-TLS, EAP-MSCHAPv2)
// authenticates both ends; a client accepts that only after its EAP method
// proved the gateway's identity.
func (c *Connection) EAPOnly() bool { return c.Local.IsEAP() && c.Remote.IsEAP() }

// Child modes.
const (
	ChildTunnel = "tunnel"
)

// Actions of start_action, close_action and dpd_action.
const (
	ActionNone    = "none"
	ActionTrap    = "trap"
	ActionStart   = "start"
	ActionClear   = "clear"
	ActionRestart = "restart"
)

// TrafficSelectors is a local_ts or remote_ts list. Dynamic stands for
// swanctl's "dynamic": the IKE SA's outer address on that side, or the
// virtual IP when one is negotiated; it is only known when the SA is set up.
type TrafficSelectors struct {
	Dynamic   bool
	Selectors []spd.Selector
}

// Child is one [connections.NAME.children.CHILD] section: a Child SA
// configuration.
type Child struct {
	Name string
	Line int

	LocalTS  TrafficSelectors // default dynamic
	RemoteTS TrafficSelectors // default dynamic

	// ESPProposals as for Connection.Proposals; "default" expands to
	// crypto.DefaultESPProposals().
	ESPProposals       []crypto.Proposal
	ESPProposalStrings []string

	Mode string // tunnel, the only mode

	// Lifetimes, swanctl's defaults: LifeTime = RekeyTime + 10%, RandTime =
	// LifeTime - RekeyTime; the same for bytes and packets. 0 = no limit.
	RekeyTime, LifeTime, RandTime          time.Duration // default 1h, 66m, 6m
	RekeyBytes, LifeBytes, RandBytes       uint64
	RekeyPackets, LifePackets, RandPackets uint64

	StartAction  string // none | trap | start; default the connection's start_action, else none
	DPDAction    string // clear (default) | trap | restart
	CloseAction  string // none (default) | trap | start
	ReplayWindow int    // default 1024; 0 disables; up to 65536
	Priority     uint32 // 0 = automatic (spd.AutoPriority)

	ownStartAction bool // start_action set in the section itself
}

// Secret types, from the prefix of the section name as in swanctl.
const (
	SecretIKE     = "ike"     // IKE pre-shared key
	SecretEAP     = "eap"     // EAP password
	SecretPrivate = "private" // private key of any type
	SecretRSA     = "rsa"     // RSA private key
	SecretECDSA   = "ecdsa"   // ECDSA private key
	SecretPKCS8   = "pkcs8"   // PKCS#8 private key
)

// Secret is one [secrets.NAME] section.
type Secret struct {
	Name string // section name, e.g. "ike-site"
	Line int
	Type string // one of the Secret constants
	// IDs are the identities the secret belongs to (ike and eap), from id
	// and id<suffix> keys in source order; none means any identity.
	IDs []string
	// Data is the pre-shared key or EAP password (ike, eap), decoded from
	// 0x hex or 0s base64, or read from secret_file.
	Data SecretBytes
	// File is the absolute path of the key file (private, rsa, ecdsa,
	// pkcs8), of secret_file or of users_file; Key is the parsed private
	// key.
	File string
	Key  PrivateKey
	// FileLine is the line of File a users_file entry came from, else 0.
	FileLine int

	fromFile bool // Data came from secret_file
}

// Pool is one [pools.NAME] section: the virtual IPs and configuration
// attributes (RFC 7296 3.15.1) a gateway hands to clients.
type Pool struct {
	Name string
	Line int
	// Prefix is addrs written as a CIDR, masked ("10.3.0.0/24"); for a
	// range "FIRST-LAST" it is the smallest prefix that covers the range.
	Prefix netip.Prefix
	Range  bool // addrs was a range
	// First and Last are the addresses handed out, inclusive, of one
	// family; Size() of them, at most MaxPoolSize. For a CIDR of more than
	// two addresses the network address and the last address are left
	// out, as strongSwan does; a CIDR with host bits set starts at that
	// address ("10.3.0.10/24" is 10.3.0.10-10.3.0.254). A range is used
	// as written.
	First, Last netip.Addr
	// Attributes sent with an assigned address.
	DNS          []netip.Addr   // INTERNAL_IP4_DNS / INTERNAL_IP6_DNS
	NBNS         []netip.Addr   // INTERNAL_IP4_NBNS (IPv4 only)
	Domains      []string       // INTERNAL_DNS_DOMAIN (RFC 8598 4); lower case, no trailing dot
	Subnets      []netip.Prefix // INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET
	SplitInclude []netip.Prefix // UNITY_SPLIT_INCLUDE (Cisco Unity, 28676)
	SplitExclude []netip.Prefix // UNITY_LOCAL_LAN (Cisco Unity, 28678)
}

// Size is the number of addresses the pool hands out.
func (p *Pool) Size() uint64 { return addrDiff(p.Last, p.First) + 1 }

// Contains reports whether a is one of the addresses the pool hands out.
func (p *Pool) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() == p.First.Is4() && p.First.Compare(a) <= 0 && a.Compare(p.Last) <= 0
}

// PrivateKey is a parsed private key: *rsa.PrivateKey, *ecdsa.PrivateKey
// or ed25519.PrivateKey. Like SecretBytes it formats as "[redacted]".
type PrivateKey struct {
	Signer stdcrypto.Signer
}

// Format implements fmt.Formatter.
func (PrivateKey) Format(f fmt.State, _ rune) { f.Write([]byte("[redacted]")) }

// SecretBytes holds key material. It formats as "[redacted]" with every
// fmt verb, so a secret printed by mistake does not reach a log.
type SecretBytes []byte

// Format implements fmt.Formatter.
func (SecretBytes) Format(f fmt.State, _ rune) { f.Write([]byte("[redacted]")) }
