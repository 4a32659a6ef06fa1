package ike

import (
	"fmt"
	"sort"
	"time"

	"github.com/esptun/esptun/control"
	"github.com/esptun/esptun/spd"
)

// IKESAStatus, ChildStatus and Counters are the control socket's types.
type (
	IKESAStatus = control.IKESA
	ChildStatus = control.ChildSA
	Counters    = control.IKECounters
)

// Status lists every IKE SA, by name then unique ID.
func (m *Manager) Status() ([]IKESAStatus, Counters) {
	var out []IKESAStatus
	now := time.Now()
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		if sa.state == stateDead {
			sa.mu.Unlock()
			continue
		}
		st := IKESAStatus{
			Name: sa.name(), UniqueID: sa.uniqueID, State: sa.state.String(), Initiator: sa.initiator,
			LocalAddr: sa.local.String(), RemoteAddr: sa.remote.String(),
			LocalID: sa.localID.String(), RemoteID: sa.remoteID.String(),
			SPIi: fmt.Sprintf("%016x", sa.spiI), SPIr: fmt.Sprintf("%016x", sa.spiR),
			NATT: sa.natt, NATLocal: sa.natLocal, NATRemote: sa.natRemote,
			Children: []ChildStatus{},
		}
		if sa.keys != nil {
			st.Proposal = sa.suite.String()
		}
		for _, v := range sa.vips {
			st.VIPs = append(st.VIPs, v.String())
		}
		if sa.eap != nil && sa.eap.server != nil {
			st.EAPID = sa.eap.server.Identity()
		}
		if sa.state == stateEstablished {
			t := sa.established
			st.Established = &t
			if sa.conn != nil && sa.conn.RekeyTime > 0 {
				st.RekeyIn = (sa.conn.RekeyTime - now.Sub(t)).Round(time.Second).String()
			}
		}
		for _, c := range sa.children {
			cs := ChildStatus{
				Name: c.cfg.Name, UniqueID: c.uniqueID, SPIIn: hex32(c.spiIn), SPIOut: hex32(c.spiOut),
				ESN: c.esn, DH: c.dh,
			}
			if c.in != nil {
				cs.LocalTS, cs.RemoteTS = selectorStrings(c.in.Local), selectorStrings(c.in.Remote)
				cs.ESP, cs.Created = c.in.Cipher.Suite().Name, c.in.Created
				cs.BytesIn, cs.PacketsIn = c.in.Bytes.Load(), c.in.Packets.Load()
				if lt := c.in.Lifetime; lt != nil && lt.SoftTime > 0 {
					cs.RekeyIn = (lt.SoftTime - now.Sub(c.in.Created)).Round(time.Second).String()
				}
			}
			if c.out != nil {
				cs.BytesOut, cs.PacketsOut = c.out.Bytes.Load(), c.out.Packets.Load()
			}
			st.Children = append(st.Children, cs)
		}
		sa.mu.Unlock()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].UniqueID < out[j].UniqueID
	})
	return out, m.counters()
}

func selectorStrings(list []spd.Selector) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.String())
	}
	return out
}
