package control

import "time"

// Status is the daemon's state as `esptun status --json` prints it.
type Status struct {
	Version  string            `json:"version"`
	Uptime   string            `json:"uptime"`
	Tun      string            `json:"tun"`
	Offload  Offload           `json:"offload"`
	Drops    map[string]uint64 `json:"drops"`    // not attributable to one SA
	Counters map[string]uint64 `json:"counters"` // keepalives, non-ESP, dummy packets, I/O errors
	SAs      []SA              `json:"sas"`
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
