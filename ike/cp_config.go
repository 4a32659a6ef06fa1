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
func connVIPs(conn *config.Connection) []netip.Addr { return nil }

func connPools(conn *config.Connection) []string { return nil }

func cfgPools(cfg *config.Config) []*poolConfig { return nil }
