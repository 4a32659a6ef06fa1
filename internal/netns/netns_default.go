//go:build !linux

package netns

import (
	"context"
	"net/netip"
	"os/exec"
	"time"
)

// NS is a named network namespace. On this system none can be made.
type NS struct{ Name string }

// Available reports why the harness cannot run here.
func Available() error { return ErrUnsupported }

// New always fails on this system.
func New(name string) (*NS, error) { return nil, ErrUnsupported }

// Delete does nothing on this system.
func (n *NS) Delete() error { return ErrUnsupported }

// Command returns a command that fails when started.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "false")
}

// Run always fails on this system.
func (n *NS) Run(args ...string) (string, error) { return "", ErrUnsupported }

// Do always fails on this system.
func (n *NS) Do(fn func() error) error { return ErrUnsupported }

// Veth always fails on this system.
func Veth(a *NS, aName string, b *NS, bName string) error { return ErrUnsupported }

// Ping always fails on this system.
func (n *NS) Ping(src, dst netip.Addr, count, payload int, interval, timeout time.Duration) (int, error) {
	return 0, ErrUnsupported
}

// Capture is never made on this system.
type Capture struct{}

// StartCapture always fails on this system.
func (n *NS) StartCapture(ifname string, keep func(pkt []byte) bool) (*Capture, error) {
	return nil, ErrUnsupported
}

// Packets returns nothing on this system.
func (c *Capture) Packets() [][]byte { return nil }

// Stop returns nothing on this system.
func (c *Capture) Stop() [][]byte { return nil }

// SendRawIP always fails on this system.
func (n *NS) SendRawIP(pkt []byte) error { return ErrUnsupported }
