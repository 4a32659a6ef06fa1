package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/esptun/esptun/control"
	"github.com/esptun/esptun/ike"
	"github.com/esptun/esptun/tunnel"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "show how many SAs the running daemon holds, its counters and memory",
		Flags: []cli.Flag{
			socketFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			var st control.Stats
			if err := control.Call(c.String("socket"), control.Request{Cmd: "stats"}, &st); err != nil {
				return cli.Exit("esptun: "+err.Error(), exitRuntime)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStats(c.App.Writer, &st)
			return nil
		},
	}
}

func printStats(w io.Writer, st *control.Stats) {
	fmt.Fprintf(w, "esptun %s, up %s\n", st.Version, st.Uptime)
	n := st.IKESAs
	fmt.Fprintf(w, "IKE SAs: %d total, %d established, %d connecting, %d deleting\n", n.Total, n.Established, n.Connecting, n.Deleting)
	fmt.Fprintf(w, "Child SAs: %d; SAD: %d in, %d out\n", st.ChildSAs, st.SAs.In, st.SAs.Out)
	if c := st.IKE; c != nil {
		fmt.Fprintf(w, "ike: received=%d dropped=%d invalid=%d auth_failed=%d cookies_sent=%d half_open=%d\n",
			c.Received, c.Dropped, c.Invalid, c.AuthFailed, c.CookiesSent, c.HalfOpen)
	}
	fmt.Fprintf(w, "drops without an SA: %s\n", counters(st.Drops))
	fmt.Fprintf(w, "counters: %s\n", counters(st.Counters))
	m := st.Memory
	fmt.Fprintf(w, "memory: heap %s live, runtime %s", mib(m.HeapLive), mib(m.Runtime))
	if m.Resident > 0 {
		fmt.Fprintf(w, ", resident %s", mib(m.Resident))
	}
	fmt.Fprintln(w)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// handleStats answers the stats request: counts rather than lists, so a
// monitor may ask every second of a gateway with 100 000 SAs.
func handleStats(t *tunnel.Tunnel, m *ike.Manager) control.Stats {
	st := t.Stats(version)
	if m != nil {
		var c control.IKECounters
		st.IKESAs, st.ChildSAs, c = m.Stats()
		st.IKE = &c
	}
	st.Memory = processMemory()
	return st
}

// processMemory reads the runtime's figures and, where /proc has it, the
// resident set.
func processMemory() control.Memory {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	var m control.Memory
	if s[0].Value.Kind() == metrics.KindUint64 {
		m.HeapLive = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		m.Runtime = s[1].Value.Uint64()
	}
	// /proc/self/statm: size resident shared ... in pages.
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m.Resident = pages * uint64(os.Getpagesize())
			}
		}
	}
	return m
}
