//go:build windows

package netcfg

import "log/slog"

// hostSys runs netsh and PowerShell and reads the routing table through the
// IP Helper API.
var hostSys = newSysHost(osWindows)

// Apply configures the host for c on Windows: the addresses on the wintun
// device and the routes into it with a default route split into two /1
// routes (netsh, store=active: nothing outlives a reboot), a host route to
// each Exclude address the routes cover through the gateway it used before,
// and DNS: for every name the device's DNS servers plus a Name Resolution
// Policy Table rule for ".", for split DNS a rule for the domains only
// (Add-DnsClientNrptRule). Each change is recorded in c.StateFile before it
// is made; Apply fails with ErrStateExists if the file exists. If a step
// fails, the steps before it are undone. c.Table tells two connections' NRPT
// rules apart; c.Priority is not used.
func Apply(c Config, log *slog.Logger) (*Applied, error) { return sysApply(hostSys, c, log) }
