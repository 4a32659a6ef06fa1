//go:build darwin

package netcfg

import "log/slog"

// hostSys runs ifconfig, route and scutil.
var hostSys = newSysHost(osDarwin)

// Apply configures the host for c on macOS: the addresses on the utun
// device (ifconfig), the routes into it with a default route split into two
// /1 routes, a host route to each Exclude address the routes cover through
// the gateway it used before (route), and DNS as a dynamic store service
// (scutil; see the package documentation). Each change is recorded in
// c.StateFile before it is made; Apply fails with ErrStateExists if the file
// exists. If a step fails, the steps before it are undone. c.Table tells two
// connections' DNS entries apart; c.Priority is not used.
func Apply(c Config, log *slog.Logger) (*Applied, error) { return sysApply(hostSys, c, log) }
