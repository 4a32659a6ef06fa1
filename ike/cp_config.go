package ike

import (
	"net/netip"

	"github.com/esptun/esptun/config"
)

// poolConfig is what the Manager needs of a [pools.NAME] section.
type poolConfig struct {
	Name        string
	First, Last netip.Addr
	DNS         []netip.Addr
	Domains     []string
}

// connVIPs, connPools and cfgPools read the remote-access keys of the
// configuration ([connections.NAME] vips and pools, [pools.NAME]).
func connVIPs(conn *config.Connection) []netip.Addr { return conn.VIPs }

func connPools(conn *config.Connection) []string {
	if conn == nil {
		return nil
	}
	return conn.Pools
}

func cfgPools(cfg *config.Config) []*poolConfig {
	var out []*poolConfig
	for _, p := range cfg.Pools {
		out = append(out, &poolConfig{Name: p.Name, First: p.First, Last: p.Last, DNS: p.DNS, Domains: p.Domains})
	}
	return out
}
