package tunnel

import (
	"time"

	"github.com/esptun/esptun/control"
)

// Stats reports the data path's counters and how many SAs it holds,
// without a line per SA (Status lists them).
func (t *Tunnel) Stats(version string) control.Stats {
	in, out := t.opts.SAD.Count()
	return control.Stats{
		Version:  version,
		Uptime:   time.Since(t.started).Round(time.Second).String(),
		SAs:      control.SACounts{In: in, Out: out},
		Drops:    dropMap(t.opts.SAD.GlobalDrops()),
		Counters: t.counters(),
	}
}

// counters are the data path's counters that belong to no SA.
func (t *Tunnel) counters() map[string]uint64 {
	return map[string]uint64{
		"nat_keepalives": t.keepalives.Load(),
		"non_esp":        t.nonESP.Load(),
		"dummy":          t.dummies.Load(),
		"tun_errors":     t.tunErrors.Load(),
		"send_errors":    t.sendErrors.Load(),
	}
}
