package ike

import "github.com/esptun/esptun/control"

// Stats counts the IKE SAs by state and the Child SAs whose SAs are
// installed, holding each IKE SA's lock only to read its state: unlike
// Status it builds nothing per SA.
func (m *Manager) Stats() (control.IKESACounts, int, Counters) {
	var n control.IKESACounts
	children := 0
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		switch {
		case sa.state == stateDead:
		case sa.state < stateEstablished:
			n.Connecting++
		case sa.state == stateEstablished:
			n.Established++
		default:
			n.Deleting++
		}
		if sa.state != stateDead {
			for _, c := range sa.children {
				if c.in != nil {
					children++
				}
			}
		}
		sa.mu.Unlock()
	}
	n.Total = n.Connecting + n.Established + n.Deleting
	return n, children, m.counters()
}

// counters reads the message counters.
func (m *Manager) counters() Counters {
	return Counters{
		Received: m.stats.received.Load(), Dropped: m.stats.dropped.Load(), Invalid: m.stats.invalid.Load(),
		AuthFailed: m.stats.authFailed.Load(), CookiesSent: m.stats.cookiesSent.Load(),
		InboxFull: m.stats.inboxFull.Load(), HalfOpen: m.halfOpenCount.Load(),
	}
}
