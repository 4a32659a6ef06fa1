package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/esptun/esptun/control"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the SAs and counters of the running daemon",
		Flags: []cli.Flag{
			socketFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			var st control.Status
			if err := control.Call(c.String("socket"), control.Request{Cmd: "status"}, &st); err != nil {
				return cli.Exit("esptun: "+err.Error(), exitRuntime)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(c.App.Writer, &st)
			return nil
		},
	}
}

func printStatus(w io.Writer, st *control.Status) {
	fmt.Fprintf(w, "esptun %s, up %s, tun %s (offload tun=%v udp_gso=%v udp_gro=%v)\n",
		st.Version, st.Uptime, st.Tun, st.Offload.Tun, st.Offload.UDPGSO, st.Offload.UDPGRO)
	fmt.Fprintf(w, "drops without an SA: %s\n", counters(st.Drops))
	fmt.Fprintf(w, "drops on SAs deleted since: %s\n", counters(st.DeletedSADrops))
	fmt.Fprintf(w, "counters: %s\n", counters(st.Counters))
	if st.IKE != nil {
		c := st.IKE
		fmt.Fprintf(w, "ike: received=%d dropped=%d invalid=%d auth_failed=%d cookies_sent=%d half_open=%d\n",
			c.Received, c.Dropped, c.Invalid, c.AuthFailed, c.CookiesSent, c.HalfOpen)
	}
	for _, ike := range st.IKESAs {
		role := "responder"
		if ike.Initiator {
			role = "initiator"
		}
		fmt.Fprintf(w, "%s[%d]: %s, %s %s === %s %s (%s)\n", ike.Name, ike.UniqueID, ike.State,
			ike.LocalAddr, ike.LocalID, ike.RemoteAddr, ike.RemoteID, role)
		if len(ike.VIPs) > 0 || ike.EAPID != "" {
			fmt.Fprintf(w, "  virtual IPs %s", strings.Join(ike.VIPs, ","))
			if ike.EAPID != "" {
				fmt.Fprintf(w, ", EAP identity %s", ike.EAPID)
			}
			if ike.Established != nil {
				fmt.Fprintf(w, ", connected since %s", ike.Established.Format(time.RFC3339))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  %s, SPIs %s_i %s_r", ike.Proposal, ike.SPIi, ike.SPIr)
		if ike.RekeyIn != "" {
			fmt.Fprintf(w, ", rekey in %s", ike.RekeyIn)
		}
		fmt.Fprintln(w)
		for _, c := range ike.Children {
			fmt.Fprintf(w, "  %s{%d}: %s, SPIs %s_i %s_o", c.Name, c.UniqueID, c.ESP, c.SPIIn, c.SPIOut)
			if c.RekeyIn != "" {
				fmt.Fprintf(w, ", rekey in %s", c.RekeyIn)
			}
			fmt.Fprintf(w, "\n    in %d bytes %d packets, out %d bytes %d packets\n", c.BytesIn, c.PacketsIn, c.BytesOut, c.PacketsOut)
			fmt.Fprintf(w, "    %s === %s\n", strings.Join(c.LocalTS, ","), strings.Join(c.RemoteTS, ","))
		}
	}
	for _, sa := range st.SAs {
		state := ""
		if sa.Dead {
			state = " DEAD"
		}
		fmt.Fprintf(w, "%s %-3s spi %s %s%s peer %s encap=%v esn=%v%s\n", sa.Name, sa.Direction, sa.SPI, sa.ESP, "", sa.Peer, sa.Encap, sa.ESN, state)
		fmt.Fprintf(w, "  %s === %s\n", strings.Join(sa.LocalTS, ","), strings.Join(sa.RemoteTS, ","))
		fmt.Fprintf(w, "  %d packets, %d bytes, drops: %s\n", sa.Packets, sa.Bytes, counters(sa.Drops))
	}
}

func counters(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
