//go:build interop && linux

package interop

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// peer is one IKE implementation running on one host of a lab, driven the
// way its operator would drive it (swanctl for strongSwan, the esptun CLI
// for esptun).
type peer interface {
	String() string
	endpoint() *endpoint
	// state is the peer's IKE and Child SAs as it reports them.
	state() (peerState, error)
	// alive reports whether the daemon is still running.
	alive() bool
	// kill ends the daemon with SIGKILL: it sends nothing to its peer.
	kill()
	// log is the daemon's log so far.
	log() string
	// sawNotify reports whether the log shows the error notify name
	// (NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED) sent or received.
	sawNotify(name string) bool
	initiate() error
	terminateIKE() error
	rekeyChild() error
	rekeyIKE() error
}

// peerState is the part of a daemon's SA listing the suite checks,
// normalized across implementations.
type peerState struct {
	IKE   []ikeSA
	Child []childSA // one entry per direction
}

type ikeSA struct {
	Name, State       string
	LocalID, RemoteID string
	SPIi, SPIr        string // 16 lower-case hex digits
	Proposal          string
}

type childSA struct {
	Name    string // the child's name, without the connection's
	State   string // strongSwan: INSTALLED, REKEYED...; esptun may leave it empty
	Dir     string // "in" | "out"
	SPI     string // 8 lower-case hex digits
	ESP     string
	Packets uint64
	Bytes   uint64
}

func (s peerState) String() string {
	var b strings.Builder
	for _, i := range s.IKE {
		fmt.Fprintf(&b, "IKE %s %s %s<->%s %s_i %s_r %s; ", i.Name, i.State, i.LocalID, i.RemoteID, i.SPIi, i.SPIr, i.Proposal)
	}
	for _, c := range s.Child {
		fmt.Fprintf(&b, "child %s %s %s %s %s %dp %dB; ", c.Name, c.State, c.Dir, c.SPI, c.ESP, c.Packets, c.Bytes)
	}
	if b.Len() == 0 {
		return "no SAs"
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// established returns the first IKE SA of the suite's connection in state
// ESTABLISHED.
func (s peerState) established() (ikeSA, bool) {
	for _, i := range s.IKE {
		if i.Name == connName && strings.EqualFold(i.State, "ESTABLISHED") {
			return i, true
		}
	}
	return ikeSA{}, false
}

// installed returns the Child SAs of the suite's child that carry traffic
// (strongSwan: INSTALLED; esptun: any state but a dying one).
func (s peerState) installed(dir string) []childSA {
	var out []childSA
	for _, c := range s.Child {
		if c.Name != childName || c.Dir != dir {
			continue
		}
		switch strings.ToUpper(c.State) {
		case "", "INSTALLED", "ESTABLISHED", "ACTIVE":
			out = append(out, c)
		}
	}
	return out
}

// up reports whether s has an established IKE SA and an installed Child SA
// in both directions.
func (s peerState) up() bool {
	_, ok := s.established()
	return ok && len(s.installed("in")) > 0 && len(s.installed("out")) > 0
}

// empty reports whether s has no IKE SA and no Child SA of the suite's
// connection at all.
func (s peerState) empty() bool {
	for _, i := range s.IKE {
		if i.Name == connName {
			return false
		}
	}
	for _, c := range s.Child {
		if c.Name == childName {
			return false
		}
	}
	return true
}

// waitState polls p until cond holds or d passes, and returns the last state.
func waitState(p peer, d time.Duration, cond func(peerState) bool) (peerState, error) {
	deadline := time.Now().Add(d)
	var last peerState
	var lastErr error
	for {
		st, err := p.state()
		if err == nil && cond(st) {
			return st, nil
		}
		if err == nil {
			last = st
		}
		lastErr = err
		if time.Now().After(deadline) {
			if lastErr != nil {
				return last, fmt.Errorf("%v: %v", p, lastErr)
			}
			return last, fmt.Errorf("%v: condition not met within %v; last state: %v", p, d, last)
		}
		if !p.alive() {
			return last, fmt.Errorf("%v exited", p)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUp waits until p reports the connection up.
func waitUp(t *testing.T, p peer, d time.Duration) peerState {
	t.Helper()
	st, err := waitState(p, d, peerState.up)
	if err != nil {
		fatalf(t, "waiting for the SAs to come up: %v", err)
	}
	return st
}

// checkPaired checks that the two peers agree on the IKE SA's SPIs and that
// each one's inbound Child SA SPI is the other's outbound one.
func checkPaired(t *testing.T, a, b peer) {
	t.Helper()
	sa, err := a.state()
	if err != nil {
		fatalf(t, "%v", err)
	}
	sb, err := b.state()
	if err != nil {
		fatalf(t, "%v", err)
	}
	ia, _ := sa.established()
	ib, _ := sb.established()
	if ia.SPIi != ib.SPIi || ia.SPIr != ib.SPIr {
		errorf(t, "IKE SPIs differ: %v has %s_i %s_r, %v has %s_i %s_r", a, ia.SPIi, ia.SPIr, b, ib.SPIi, ib.SPIr)
	}
	if ia.LocalID != ib.RemoteID || ia.RemoteID != ib.LocalID {
		errorf(t, "identities differ: %v is %q to %q, %v is %q to %q", a, ia.LocalID, ia.RemoteID, b, ib.LocalID, ib.RemoteID)
	}
	has := func(cs []childSA, spi string) bool {
		for _, c := range cs {
			if c.SPI == spi {
				return true
			}
		}
		return false
	}
	for _, c := range sa.installed("out") {
		if !has(sb.installed("in"), c.SPI) {
			errorf(t, "%v's outbound SPI %s is not among %v's inbound SAs: %v", a, c.SPI, b, sb)
		}
	}
	for _, c := range sb.installed("out") {
		if !has(sa.installed("in"), c.SPI) {
			errorf(t, "%v's outbound SPI %s is not among %v's inbound SAs: %v", b, c.SPI, a, sa)
		}
	}
}

// checkCounted fails t unless p's Child SAs in direction dir counted at
// least minBytes, which proves the traffic went through the tunnel.
func checkCounted(t *testing.T, p peer, dir string, minBytes uint64) {
	t.Helper()
	st, err := p.state()
	if err != nil {
		fatalf(t, "%v", err)
	}
	var n uint64
	for _, c := range st.installed(dir) {
		n += c.Bytes
	}
	if n < minBytes {
		errorf(t, "%v's %sbound Child SAs counted %d bytes; want at least %d: %v", p, dir, n, minBytes, st)
	}
}

// normSPI makes "0xC0000001", "c0000001" and "0xc0000001" the same string:
// lower-case hex without prefix, left-padded to digits.
func normSPI(s string, digits int) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "0x")
	for len(s) < digits {
		s = "0" + s
	}
	return s
}

func atou(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		fatalf(t, "%v", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		fatalf(t, "%v", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		fatalf(t, "%v", err)
	}
	if err := dst.Close(); err != nil {
		fatalf(t, "%v", err)
	}
}
