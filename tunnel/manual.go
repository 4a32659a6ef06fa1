package tunnel

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// Manual holds the policies and SAs built from the [manual.NAME] sections
// of a configuration: statically keyed SA pairs and shunt policies.
type Manual struct {
	Policies []*spd.Policy
	SAs      []*sad.SA
	Peers    []netip.Addr   // outer addresses of tunnel-mode peers
	Routes   []netip.Prefix // remote selectors of tunnel-mode sections
	RawESP   bool           // some section asks for raw ESP (encap = false)
}

// BuildManual turns the manual sections of cfg into policies and SAs. The
// keys are copied into the ciphers; nothing is installed yet.
func BuildManual(cfg *config.Config) (*Manual, error) {
	m := &Manual{}
	now := time.Now()
	for i, sec := range cfg.Manual {
		name := "manual/" + sec.Name
		pol := &spd.Policy{
			ID:     uint32(i + 1),
			Name:   name,
			Local:  sec.LocalTS,
			Remote: sec.RemoteTS,
		}
		switch sec.Mode {
		case "pass":
			pol.Action = spd.Bypass
		case "drop":
			pol.Action = spd.Discard
		default:
			pol.Action = spd.Protect
		}
		pol.Priority = sec.Priority
		if pol.Priority == 0 {
			pol.Priority = spd.AutoPriority(pol)
		}
		m.Policies = append(m.Policies, pol)
		if pol.Action != spd.Protect {
			continue
		}
		life := &sad.Lifetime{ // shared by the pair
			SoftTime: sec.RekeyTime, HardTime: sec.LifeTime,
			SoftBytes: sec.RekeyBytes, HardBytes: sec.LifeBytes,
			SoftPackets: sec.RekeyPackets, HardPackets: sec.LifePackets,
		}
		out, err := crypto.NewESPCipher(sec.ESP, sec.KeyOut)
		if err != nil {
			return nil, fmt.Errorf("%s: key_out: %w", name, err)
		}
		in, err := crypto.NewESPCipher(sec.ESP, sec.KeyIn)
		if err != nil {
			return nil, fmt.Errorf("%s: key_in: %w", name, err)
		}
		peer := sec.RemoteAddr
		if peer.Port() == 0 && sec.Encap {
			peer = netip.AddrPortFrom(peer.Addr(), cfg.IKE.NATTPort)
		}
		osa := &sad.SA{
			Name: name, Dir: sad.Outbound, SPI: sec.SPIOut, PolicyID: pol.ID,
			Cipher: out, ESN: sec.ESN, Local: sec.LocalTS, Remote: sec.RemoteTS,
			LocalAddr: sec.LocalAddr, Encap: sec.Encap, Lifetime: life, Created: now,
		}
		osa.SetPeer(peer)
		isa := &sad.SA{
			Name: name, Dir: sad.Inbound, SPI: sec.SPIIn, PolicyID: pol.ID,
			Cipher: in, ESN: sec.ESN, Local: sec.LocalTS, Remote: sec.RemoteTS,
			LocalAddr: sec.LocalAddr, Encap: sec.Encap, Lifetime: life, Created: now,
			Replay: esp.NewReplayWindow(sec.ReplayWindow),
		}
		isa.SetPeer(peer)
		m.SAs = append(m.SAs, osa, isa)
		m.Peers = append(m.Peers, peer.Addr())
		m.Routes = append(m.Routes, selectorPrefixes(sec.RemoteTS)...)
		if !sec.Encap {
			m.RawESP = true
		}
	}
	return m, nil
}

func selectorPrefixes(sel []spd.Selector) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range sel {
		out = append(out, s.Prefix.Masked())
	}
	return out
}

// Install puts m's policies and SAs into the databases.
func (m *Manual) Install(policies *spd.DB, sas *sad.DB) error {
	if err := policies.Replace(m.Policies); err != nil {
		return err
	}
	for _, sa := range m.SAs {
		if err := sas.Add(sa); err != nil {
			return fmt.Errorf("%s: %w", sa.Name, err)
		}
	}
	return nil
}
