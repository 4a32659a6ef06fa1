package control

// Stats is the daemon's summary as `esptun stats --json` prints it: counts
// and counters without a line per SA, so that it costs the same at ten SAs
// and at a hundred thousand (like swanctl --stats).
type Stats struct {
	Version  string            `json:"version"`
	Uptime   string            `json:"uptime"`
	IKESAs   IKESACounts       `json:"ike_sas"`
	ChildSAs int               `json:"child_sas"` // Child SAs of IKE SAs with their SAs installed
	SAs      SACounts          `json:"sas"`       // SAD records, manual SAs included
	Drops    map[string]uint64 `json:"drops"`     // not attributable to one SA
	Counters map[string]uint64 `json:"counters"`
	IKE      *IKECounters      `json:"ike,omitempty"`
	Memory   Memory            `json:"memory"`
}

// IKESACounts counts IKE SAs by state.
type IKESACounts struct {
	Total       int `json:"total"`
	Connecting  int `json:"connecting"`
	Established int `json:"established"`
	Deleting    int `json:"deleting"`
}

// SACounts counts the SAD's records by direction.
type SACounts struct {
	In  int `json:"in"`
	Out int `json:"out"`
}

// Memory is what the daemon's process holds.
type Memory struct {
	HeapLive uint64 `json:"heap_live_bytes"` // reachable heap at the last collection
	Runtime  uint64 `json:"runtime_bytes"`   // mapped by the Go runtime, released pages included
	Resident uint64 `json:"resident_bytes"`  // RSS; 0 where the system does not say
}
