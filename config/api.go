package config

import (
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

	warnings []string // see Warnings
	lines    keyLines // see Line
}

// Daemon is the [daemon] section.
type Daemon struct {
	ControlSocket string // default "/run/esptun/esptun.sock"
	LogLevel      string // debug | info | warn | error; default info
	LogFormat     string // text | json; default text
	Workers       int    // crypto workers; 0 = GOMAXPROCS
}

// Tun is the [tun] section.
type Tun struct {
	Name          string         // default "esptun0"
	MTU           int            // default 1400; 576..9000 (v6 inner needs >= 1280)
	Addresses     []netip.Prefix // put on the TUN at start
	InstallRoutes bool           // default true: route remote selectors into the TUN
	Offload       bool           // default true: TSO/GRO on the TUN where the kernel has it
}

// IKE is the [ike] section. For the data plane only Listen and NATTPort
// matter: ESP-in-UDP is received on NATTPort.
type IKE struct {
	Listen   []netip.Addr // default: all addresses
	Port     uint16       // default 500
	NATTPort uint16       // default 4500
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
