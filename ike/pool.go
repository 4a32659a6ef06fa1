package ike

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"sync"
	"time"
)

// addrPool hands out virtual IPs from one address range (a swanctl pool) and
// remembers them per identity, so that a client that reconnects gets its
// address back (as strongSwan's in-memory pools do). A lease is online while
// an IKE SA holds it and offline afterwards; offline leases are only taken
// from other identities once no address was ever used.
type addrPool struct {
	name        string
	first, last netip.Addr
	size        uint64

	mu     sync.Mutex
	cursor uint64                  // next never-used offset
	leases map[netip.Addr]*lease   // every address handed out so far
	byID   map[string][]netip.Addr // identity -> its leases
}

type lease struct {
	id     string
	online int // IKE SAs holding it
	since  time.Time
}

// errPoolExhausted is what a client gets when every address is online.
var errPoolExhausted = errors.New("address pool exhausted")

// maxPoolSize bounds how much of a huge IPv6 range is ever handed out.
const maxPoolSize = 1 << 24

func newAddrPool(name string, first, last netip.Addr) *addrPool {
	n := new(big.Int).Sub(new(big.Int).SetBytes(last.AsSlice()), new(big.Int).SetBytes(first.AsSlice()))
	n.Add(n, big.NewInt(1))
	size := uint64(maxPoolSize)
	if n.IsUint64() && n.Uint64() < size {
		size = n.Uint64()
	}
	return &addrPool{name: name, first: first, last: last, size: size,
		leases: map[netip.Addr]*lease{}, byID: map[string][]netip.Addr{}}
}

func (p *addrPool) is6() bool { return p.first.Is6() }

func (p *addrPool) addrAt(off uint64) netip.Addr {
	b := new(big.Int).SetBytes(p.first.AsSlice())
	b.Add(b, new(big.Int).SetUint64(off))
	n := 4
	if p.is6() {
		n = 16
	}
	a, _ := netip.AddrFromSlice(b.FillBytes(make([]byte, n)))
	return a
}

// acquire leases an address for identity id: its own offline lease first,
// then one never used, then the longest-offline lease of another identity.
func (p *addrPool) acquire(id string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.byID[id] {
		if l := p.leases[a]; l.online == 0 {
			l.online++
			l.since = time.Now()
			return a, nil
		}
	}
	if p.cursor < p.size {
		a := p.addrAt(p.cursor)
		p.cursor++
		p.leases[a] = &lease{id: id, online: 1, since: time.Now()}
		p.byID[id] = append(p.byID[id], a)
		return a, nil
	}
	var oldest netip.Addr
	var oldestSince time.Time
	for a, l := range p.leases {
		if l.online == 0 && (!oldest.IsValid() || l.since.Before(oldestSince)) {
			oldest, oldestSince = a, l.since
		}
	}
	if !oldest.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: %s (%d addresses online)", errPoolExhausted, p.name, len(p.leases))
	}
	l := p.leases[oldest]
	p.byID[l.id] = removeAddr(p.byID[l.id], oldest)
	if len(p.byID[l.id]) == 0 {
		delete(p.byID, l.id)
	}
	p.leases[oldest] = &lease{id: id, online: 1, since: time.Now()}
	p.byID[id] = append(p.byID[id], oldest)
	return oldest, nil
}

// release puts a lease offline; it stays reserved for its identity.
func (p *addrPool) release(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.leases[a]; l != nil && l.online > 0 {
		l.online--
		l.since = time.Now()
	}
}

// stats returns the pool's size and the leases online and offline.
func (p *addrPool) stats() (size uint64, online, offline int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.leases {
		if l.online > 0 {
			online++
		} else {
			offline++
		}
	}
	return p.size, online, offline
}

func removeAddr(list []netip.Addr, a netip.Addr) []netip.Addr {
	for i, x := range list {
		if x == a {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}
