package control

import "time"

// Status is the daemon's state as `esptun status --json` prints it.
type Status struct {
	Version string            `json:"version"`
	Uptime  string            `json:"uptime"`
	Tun     string            `json:"tun"`
	Offload Offload           `json:"offload"`
	Drops   map[string]uint64 `json:"drops"` // not attributable to one SA
	// DeletedSADrops are the drops counted on SAs deleted since (rekeyed,
	// expired, torn down): Drops, DeletedSADrops and the drops of the SAs
	// listed add up to every packet dropped since start.
	DeletedSADrops map[string]uint64 `json:"drops_deleted_sas"`
	Counters       map[string]uint64 `json:"counters"` // keepalives, non-ESP, dummy packets, I/O errors
	SAs            []SA              `json:"sas"`
	IKESAs         []IKESA           `json:"ike_sas"`
	IKE            *IKECounters      `json:"ike,omitempty"`
}

// Offload reports which kernel offloads the data path uses.
type Offload struct {
	Tun    bool `json:"tun"`
	UDPGSO bool `json:"udp_gso"`
	UDPGRO bool `json:"udp_gro"`
}

// SA is one IPsec SA.
type SA struct {
	Name      string            `json:"name"`
	Direction string            `json:"direction"` // "in" | "out"
	SPI       string            `json:"spi"`       // "0xc0000001"
	ESP       string            `json:"esp"`
	ESN       bool              `json:"esn"`
	LocalTS   []string          `json:"local_ts"`
	RemoteTS  []string          `json:"remote_ts"`
	Peer      string            `json:"peer"`
	Encap     bool              `json:"encap"`
	Packets   uint64            `json:"packets"`
	Bytes     uint64            `json:"bytes"`
	Drops     map[string]uint64 `json:"drops"`
	Created   time.Time         `json:"created"`
	Dead      bool              `json:"dead,omitempty"`
	ReplayWin int               `json:"replay_window,omitempty"`
}

// IKESA is one IKE SA with its Child SAs.
type IKESA struct {
	Name        string     `json:"name"`
	UniqueID    uint32     `json:"unique_id"`
	State       string     `json:"state"` // CONNECTING | ESTABLISHED | DELETING
	Initiator   bool       `json:"initiator"`
	LocalAddr   string     `json:"local_addr"`
	RemoteAddr  string     `json:"remote_addr"`
	LocalID     string     `json:"local_id"`
	RemoteID    string     `json:"remote_id"`
	SPIi        string     `json:"spi_i"`
	SPIr        string     `json:"spi_r"`
	Proposal    string     `json:"proposal"`
	NATT        bool       `json:"nat_t"`
	NATLocal    bool       `json:"nat_local"`
	NATRemote   bool       `json:"nat_remote"`
	Established *time.Time `json:"established,omitempty"`
	RekeyIn     string     `json:"rekey_in,omitempty"`
	VIPs        []string   `json:"vips,omitempty"` // virtual IPs got (client) or handed out (gateway)
	EAPID       string     `json:"eap_id,omitempty"`
	Children    []ChildSA  `json:"children"`
}

// ChildSA is one Child SA of an IKE SA.
type ChildSA struct {
	Name       string    `json:"name"`
	UniqueID   uint32    `json:"unique_id"`
	SPIIn      string    `json:"spi_in"`
	SPIOut     string    `json:"spi_out"`
	ESP        string    `json:"esp"`
	ESN        bool      `json:"esn"`
	DH         uint16    `json:"dh_group,omitempty"`
	LocalTS    []string  `json:"local_ts"`
	RemoteTS   []string  `json:"remote_ts"`
	Created    time.Time `json:"created"`
	RekeyIn    string    `json:"rekey_in,omitempty"`
	BytesIn    uint64    `json:"bytes_in"`
	BytesOut   uint64    `json:"bytes_out"`
	PacketsIn  uint64    `json:"packets_in"`
	PacketsOut uint64    `json:"packets_out"`
}

// IKECounters are the IKE daemon's message counters.
type IKECounters struct {
	Received    uint64 `json:"received"`
	Dropped     uint64 `json:"dropped"` // unknown SPI, out of window, workers busy
	Invalid     uint64 `json:"invalid"` // malformed or failing integrity
	AuthFailed  uint64 `json:"auth_failed"`
	CookiesSent uint64 `json:"cookies_sent"`
	InboxFull   uint64 `json:"inbox_full"`
	HalfOpen    int32  `json:"half_open"`
}
