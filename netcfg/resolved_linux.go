//go:build linux

package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/vishvananda/netlink"
)

// resolvedTimeout bounds each D-Bus call.
const resolvedTimeout = 10 * time.Second

// resolvedRunning reports whether systemd-resolved owns its bus name on the
// system bus. No system bus means no resolved.
func resolvedRunning() bool {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return false
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), resolvedTimeout)
	defer cancel()
	var has bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, resolvedBusName).Store(&has); err != nil {
		return false
	}
	return has
}

// setResolved gives the link ifindex its DNS servers and domains.
// Exercised only where systemd-resolved runs; resolvedArgs is unit-tested.
func setResolved(ifindex int, servers []netip.Addr, domains []string) error {
	dns, doms, defaultRoute := resolvedArgs(servers, domains)
	return callResolved(func(ctx context.Context, obj dbus.BusObject) error {
		idx := int32(ifindex)
		if err := obj.CallWithContext(ctx, resolvedManager+".SetLinkDNS", 0, idx, dns).Err; err != nil {
			return fmt.Errorf("SetLinkDNS: %w", err)
		}
		if err := obj.CallWithContext(ctx, resolvedManager+".SetLinkDomains", 0, idx, doms).Err; err != nil {
			return fmt.Errorf("SetLinkDomains: %w", err)
		}
		if err := obj.CallWithContext(ctx, resolvedManager+".SetLinkDefaultRoute", 0, idx, defaultRoute).Err; err != nil {
			return fmt.Errorf("SetLinkDefaultRoute: %w", err)
		}
		return nil
	})
}

// revertResolved drops what setResolved set, unless the link is gone (then
// resolved has forgotten it already), its index now belongs to another
// interface, or resolved is not running (then there is nothing to revert:
// setResolved failed, or resolved stopped and dropped its link settings).
func revertResolved(r resolvedState) error {
	link, err := netlink.LinkByIndex(r.Index)
	if err != nil || link.Attrs().Name != r.Interface || !resolvedRunning() {
		return nil
	}
	err = callResolved(func(ctx context.Context, obj dbus.BusObject) error {
		return obj.CallWithContext(ctx, resolvedManager+".RevertLink", 0, int32(r.Index)).Err
	})
	if derr := (dbus.Error{}); errors.As(err, &derr) && derr.Name == resolvedBusName+".NoSuchLink" {
		return nil
	}
	return err
}

func callResolved(fn func(context.Context, dbus.BusObject) error) error {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("system bus: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), resolvedTimeout)
	defer cancel()
	return fn(ctx, conn.Object(resolvedBusName, resolvedPath))
}
