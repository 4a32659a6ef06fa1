//go:build !linux

package netcfg

import "net/netip"

// The Linux undo steps: a state file with Linux changes was copied from
// elsewhere here, and state.check refuses Linux changes in a state of
// macOS or Windows.

func delRule(ruleState) error               { return ErrUnsupported }
func delRoute(routeState) error             { return ErrUnsupported }
func revertResolved(resolvedState) error    { return ErrUnsupported }
func setLinkDown(string, int) error         { return ErrUnsupported }
func delAddress(string, netip.Prefix) error { return ErrUnsupported }
