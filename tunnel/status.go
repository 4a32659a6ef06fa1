package tunnel

import (
	"fmt"
	"sort"
	"time"

	"github.com/esptun/esptun/control"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

func (t *Tunnel) tunOffload() bool { return t.tun.BatchSize() > 1 }

func (t *Tunnel) udpOffload() (gso, gro bool) {
	for _, c := range t.conns {
		g, r := c.Offload()
		gso, gro = gso || g, gro || r
	}
	return gso, gro
}

// Status reports the data path and every SA.
func (t *Tunnel) Status(version string) control.Status {
	gso, gro := t.udpOffload()
	st := control.Status{
		Version:        version,
		Uptime:         time.Since(t.started).Round(time.Second).String(),
		Tun:            t.tunName,
		Offload:        control.Offload{Tun: t.tunOffload(), UDPGSO: gso, UDPGRO: gro},
		Drops:          dropMap(t.opts.SAD.GlobalDrops()),
		DeletedSADrops: dropMap(t.opts.SAD.DeletedDrops()),
		Counters:       t.counters(),
		SAs:            []control.SA{},
	}
	sas := t.opts.SAD.All()
	sort.Slice(sas, func(i, j int) bool {
		if sas[i].Name != sas[j].Name {
			return sas[i].Name < sas[j].Name
		}
		return sas[i].Dir < sas[j].Dir
	})
	for _, sa := range sas {
		s := control.SA{
			Name:      sa.Name,
			Direction: "in",
			SPI:       fmt.Sprintf("0x%08x", sa.SPI),
			ESN:       sa.ESN,
			LocalTS:   selectorStrings(sa.Local),
			RemoteTS:  selectorStrings(sa.Remote),
			Encap:     sa.Encap,
			Packets:   sa.Packets.Load(),
			Bytes:     sa.Bytes.Load(),
			Drops:     dropMap(sa.Drops()),
			Created:   sa.Created,
			Dead:      sa.Dead(),
		}
		if sa.Cipher != nil {
			s.ESP = sa.Cipher.Suite().Name
		}
		if p := sa.Peer(); p.IsValid() {
			s.Peer = p.String()
		}
		if sa.Dir == sad.Outbound {
			s.Direction = "out"
		} else if sa.Replay != nil {
			s.ReplayWin = sa.Replay.Size()
		}
		st.SAs = append(st.SAs, s)
	}
	return st
}

func dropMap(d [sad.NumDropReasons]uint64) map[string]uint64 {
	m := make(map[string]uint64, len(d))
	for r, n := range d {
		m[sad.DropReason(r).String()] = n
	}
	return m
}

func selectorStrings(sel []spd.Selector) []string {
	out := make([]string, len(sel))
	for i, s := range sel {
		out[i] = s.String()
	}
	return out
}
