//go:build !linux

package netcfg

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
)

// Apply is not implemented on this system yet: it checks c and returns
// ErrUnsupported. (macOS needs the routing socket and SIOCAIFADDR on the
// utun device plus SystemConfiguration for DNS; Windows needs the IP
// Helper API. Neither is done yet.)
func Apply(c Config, log *slog.Logger) (*Applied, error) {
	if _, err := c.normalized(discardIfNil(log)); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}

// The undo steps: no Apply ever recorded anything on this system, so a
// state file here was copied from elsewhere and cannot be acted on.

func delRule(ruleState) error               { return ErrUnsupported }
func delRoute(routeState) error             { return ErrUnsupported }
func revertResolved(resolvedState) error    { return ErrUnsupported }
func setLinkDown(string, int) error         { return ErrUnsupported }
func delAddress(string, netip.Prefix) error { return ErrUnsupported }
