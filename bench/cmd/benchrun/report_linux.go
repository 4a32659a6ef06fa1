package main

import (
	"fmt"
	"math"
	"strings"
)

func cell(v float64, format string) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

// renderTable is the one table of the run: absolute figures, and esptun's
// ratios to wireguard-go and strongSwan measured in the same run.
func renderTable(r *results) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "esptun benchmark, %s, commit %s\n%s, %d cores, Linux %s, %s; median of %d rounds, systems interleaved\n\n",
		r.Date, r.Commit, m.CPU, m.Cores, m.Kernel, m.Go, r.Runs)

	med := r.Median
	if len(med) > 0 {
		cols := []string{"veth", "esptun-aes", "esptun-chacha", "wireguard-go", "strongswan"}
		fmt.Fprintf(&b, "%-30s %9s %11s %13s %12s %10s | %7s %9s %8s\n", "path (TCP -t "+fmt.Sprint(r.Seconds)+"s)",
			"veth", "esptun AES", "esptun ChaCha", "wireguard-go", "strongSwan", "AES/wg", "ChaCha/wg", "AES/sw")
		row := func(name, format string, f func(pathSample) float64) {
			fmt.Fprintf(&b, "%-30s", name)
			widths := []int{9, 11, 13, 12, 10}
			for i, c := range cols {
				s, ok := med[c]
				v := 0.0
				if ok {
					v = f(s)
				}
				fmt.Fprintf(&b, " %*s", widths[i], cell(v, format))
			}
			aes, cha, wg, sw := f(med["esptun-aes"]), f(med["esptun-chacha"]), f(med["wireguard-go"]), f(med["strongswan"])
			fmt.Fprintf(&b, " | %7s %9s %8s\n", cell(ratio(aes, wg), "%.2f"), cell(ratio(cha, wg), "%.2f"), cell(ratio(aes, sw), "%.2f"))
		}
		row("TCP 1 stream, Gbit/s", "%.2f", func(s pathSample) float64 { return s.TCP1Gbps })
		row("TCP 4 streams, Gbit/s", "%.2f", func(s pathSample) float64 { return s.TCP4Gbps })
		row("UDP 1400 B pkts <0.1% loss, Mbit/s", "%.0f", func(s pathSample) float64 { return s.UDPMbps })
		row("ping idle median, ms", "%.3f", func(s pathSample) float64 { return s.RTTIdleMed })
		row("ping idle p99, ms", "%.3f", func(s pathSample) float64 { return s.RTTIdleP99 })
		row("ping under TCP load median, ms", "%.3f", func(s pathSample) float64 { return s.RTTLoadMed })
		row("ping under TCP load p99, ms", "%.3f", func(s pathSample) float64 { return s.RTTLoadP99 })
		row("daemon CPU s per GB (both ends)", "%.2f", func(s pathSample) float64 { return s.CPUSecPerGB })
		b.WriteString("\n")
	}

	if h := r.Hand; h != nil {
		e, s := h.Median["esptun"], h.Median["strongswan"]
		fmt.Fprintf(&b, "IKE handshakes (%s; %d IKE+Child SAs per run)\n", h.Driver, h.SAs)
		fmt.Fprintf(&b, "%-36s %12s %12s | %13s\n", "responder", "esptun", "strongSwan", "esptun/sw")
		fmt.Fprintf(&b, "%-36s %12s %12s | %13s\n", "IKE SAs set up per second", cell(e.PerSecond, "%.0f"), cell(s.PerSecond, "%.0f"), cell(ratio(e.PerSecond, s.PerSecond), "%.2f"))
		fmt.Fprintf(&b, "%-36s %12s %12s | %13s\n", "responder CPU ms per IKE SA", cell(e.CPUmsPerSA, "%.3f"), cell(s.CPUmsPerSA, "%.3f"), cell(ratio(e.CPUmsPerSA, s.CPUmsPerSA), "%.2f"))
		b.WriteString("\n")
	}

	if len(r.Tunnels) > 0 {
		fmt.Fprintf(&b, "esptun to esptun over loopback, N IKE SAs with one Child SA each (heap MB: responder's live heap at its last GC)\n")
		fmt.Fprintf(&b, "%8s %10s %10s %14s %16s %16s %10s\n", "tunnels", "setup s", "setups/s", "resp CPU ms/SA", "resp RSS B/pair", "init RSS B/pair", "heap MB")
		for _, t := range r.Tunnels {
			fmt.Fprintf(&b, "%8d %10.1f %10.0f %14.3f %16.0f %16.0f %10.0f\n", t.Tunnels, t.SetupSeconds, t.SetupsPerSecond, t.RespCPUmsPerSA, t.RespBytesPerPair, t.InitBytesPerPair, t.RespLiveHeapMB)
			if t.Note != "" {
				fmt.Fprintf(&b, "         only %d of %d came up (%s); figures are per established pair\n", t.Established, t.Tunnels, t.Note)
			}
		}
		if len(r.Tunnels) >= 2 && r.Tunnels[0].Note == "" && r.Tunnels[len(r.Tunnels)-1].Note == "" {
			a, z := r.Tunnels[0], r.Tunnels[len(r.Tunnels)-1]
			slope := float64((z.RespRSSKiB-a.RespRSSKiB)*1024) / float64(z.Tunnels-a.Tunnels)
			fmt.Fprintf(&b, "responder RSS slope %d -> %d tunnels: %.0f B per IKE+Child SA pair\n", a.Tunnels, z.Tunnels, slope)
		}
		b.WriteString("\n")
	}

	if len(r.DBScale) > 0 {
		fmt.Fprintf(&b, "SPD/SAD with N Child SAs (policy + inbound + outbound AES-GCM SA each)\n")
		fmt.Fprintf(&b, "(x10: cost over a 10-SA DB in the same process, alternating blocks)\n")
		fmt.Fprintf(&b, "%8s %12s %12s %14s %6s %10s %6s %10s %6s %7s\n", "N", "RSS KiB", "B/Child SA", "SPD lookup ns", "x10", "SAD in ns", "x10", "SAD out ns", "x10", "allocs")
		for _, d := range r.DBScale {
			fmt.Fprintf(&b, "%8d %12d %12.0f %14.1f %6.2f %10.1f %6.2f %10.1f %6.2f %7d\n", d.ChildSAs, d.RSSKiB, d.BytesPerChildSA, d.SPDLookupNs, d.SPDOver10, d.SADInboundNs, d.SADInOver10, d.SADOutboundNs, d.SADOutOver10, d.Allocs)
		}
		b.WriteString("\n")
	}

	if mi := r.Micro; mi != nil && len(mi.ESP) > 0 {
		fmt.Fprintf(&b, "ESP seal/open vs the raw AEAD (go test -bench ...VsRaw, paired blocks, median of 3), ns/op\n")
		fmt.Fprintf(&b, "%-17s %6s %9s %9s %6s %9s %9s %6s %7s\n", "suite", "bytes", "seal", "raw seal", "ratio", "open", "raw open", "ratio", "allocs")
		for _, e := range mi.ESP {
			fmt.Fprintf(&b, "%-17s %6d %9.0f %9.0f %6.2f %9.0f %9.0f %6.2f %3.0f/%-3.0f\n", e.Suite, e.Size, e.SealNs, e.RawSealNs, e.SealOverRaw, e.OpenNs, e.RawOpenNs, e.OpenOverRaw, e.SealAllocs, e.OpenAllocs)
		}
		fmt.Fprintf(&b, "SPD LookupOutbound ns (allocs): ")
		for _, k := range []string{"10", "1000", "100000"} {
			fmt.Fprintf(&b, " %s: %.1f (%.0f)", k, mi.SPDLookupNs[k], mi.SPDLookupAllocs[k])
		}
		fmt.Fprintf(&b, "\nSAD Inbound ns (allocs):        ")
		for _, k := range []string{"10", "1000", "100000"} {
			fmt.Fprintf(&b, " %s: %.1f (%.0f)", k, mi.SADInboundNs[k], mi.SADInboundAllocs[k])
		}
		fmt.Fprintf(&b, "\ntunnel pipeline (seal+open, one core, 1400 B): %.0f ns and %.2f allocations per packet\n\n", mi.PipelineNsPerPkt, mi.PipelineAllocsPkt)
	}

	b.WriteString(targets(r))
	if r.Profile != "" {
		b.WriteString("\nesptun CPU profile, single-stream TCP, AES-128-GCM\n")
		b.WriteString(r.Profile)
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nerrors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}

// targets checks the figures against esptun's performance targets.
func targets(r *results) string {
	var b strings.Builder
	b.WriteString("targets\n")
	check := func(name string, ok bool, have bool, detail string) {
		v := "NOT MET"
		if !have {
			v = "NO DATA"
		} else if ok {
			v = "met"
		}
		fmt.Fprintf(&b, "  %-8s %-58s %s\n", v, name, detail)
	}
	med := r.Median
	aes, wg, sw := med["esptun-aes"], med["wireguard-go"], med["strongswan"]
	best := func(f func(pathSample) float64) float64 {
		return max(f(med["esptun-aes"]), f(med["esptun-chacha"]))
	}
	tcp1 := best(func(s pathSample) float64 { return s.TCP1Gbps })
	tcp4 := best(func(s pathSample) float64 { return s.TCP4Gbps })
	check("TCP 1 stream >= 2x wireguard-go", ratio(tcp1, wg.TCP1Gbps) >= 2, wg.TCP1Gbps > 0 && tcp1 > 0,
		fmt.Sprintf("esptun/wg %.2f (best esptun suite)", ratio(tcp1, wg.TCP1Gbps)))
	check("TCP 1 stream >= 10x strongSwan libipsec", ratio(aes.TCP1Gbps, sw.TCP1Gbps) >= 10, sw.TCP1Gbps > 0 && aes.TCP1Gbps > 0,
		fmt.Sprintf("esptun AES/sw %.2f", ratio(aes.TCP1Gbps, sw.TCP1Gbps)))
	check("TCP 4 streams >= 2x wireguard-go", ratio(tcp4, wg.TCP4Gbps) >= 2, wg.TCP4Gbps > 0 && tcp4 > 0,
		fmt.Sprintf("esptun/wg %.2f (best esptun suite)", ratio(tcp4, wg.TCP4Gbps)))
	check("TCP 4 streams >= 10x strongSwan libipsec", ratio(aes.TCP4Gbps, sw.TCP4Gbps) >= 10, sw.TCP4Gbps > 0 && aes.TCP4Gbps > 0,
		fmt.Sprintf("esptun AES/sw %.2f", ratio(aes.TCP4Gbps, sw.TCP4Gbps)))
	for _, k := range []struct {
		name string
		f    func(pathSample) float64
	}{
		{"ping idle median", func(s pathSample) float64 { return s.RTTIdleMed }},
		{"ping idle p99", func(s pathSample) float64 { return s.RTTIdleP99 }},
		{"ping under load median", func(s pathSample) float64 { return s.RTTLoadMed }},
		{"ping under load p99", func(s pathSample) float64 { return s.RTTLoadP99 }},
	} {
		e, w := k.f(aes), k.f(wg)
		check(k.name+": esptun <= wireguard-go", e <= w, e > 0 && w > 0, fmt.Sprintf("%.3f vs %.3f ms (%.2f)", e, w, ratio(e, w)))
	}
	if h := r.Hand; h != nil {
		e, s := h.Median["esptun"], h.Median["strongswan"]
		check("responder CPU per IKE SA <= 1/3 of strongSwan's", e.CPUmsPerSA <= s.CPUmsPerSA/3, e.CPUmsPerSA > 0 && s.CPUmsPerSA > 0,
			fmt.Sprintf("%.3f vs %.3f ms (%.2f)", e.CPUmsPerSA, s.CPUmsPerSA, ratio(e.CPUmsPerSA, s.CPUmsPerSA)))
		check("IKE SAs per second >= strongSwan's", e.PerSecond >= s.PerSecond, e.PerSecond > 0 && s.PerSecond > 0,
			fmt.Sprintf("%.0f vs %.0f (%.2f)", e.PerSecond, s.PerSecond, ratio(e.PerSecond, s.PerSecond)))
	} else {
		check("responder CPU per IKE SA <= 1/3 of strongSwan's", false, false, "")
		check("IKE SAs per second >= strongSwan's", false, false, "")
	}
	if len(r.DBScale) == 3 {
		s, l := r.DBScale[0], r.DBScale[2]
		rs, ri := ratio(l.SPDLookupNs, s.SPDLookupNs), ratio(l.SADInboundNs, s.SADInboundNs)
		how := "separate processes"
		if l.SPDOver10 > 0 && l.SADInOver10 > 0 {
			rs, ri, how = l.SPDOver10, l.SADInOver10, "paired in one process"
		}
		check("SPD lookup, 4096 flows over all SAs: 100 000 <= 1.5x 10", rs <= 1.5, rs > 0, fmt.Sprintf("%.1f vs %.1f ns; %.2f %s", l.SPDLookupNs, s.SPDLookupNs, rs, how))
		check("SAD inbound, 4096 SPIs over all SAs: 100 000 <= 1.5x 10", ri <= 1.5, ri > 0, fmt.Sprintf("%.1f vs %.1f ns; %.2f %s", l.SADInboundNs, s.SADInboundNs, ri, how))
	}
	if mi := r.Micro; mi != nil {
		for _, k := range []struct {
			name   string
			m      map[string]float64
			paired float64
		}{{"SPD lookup, go test BenchmarkLookup (256 flows)", mi.SPDLookupNs, mi.SPDScaleX10}, {"SAD inbound, go test BenchmarkInbound (256 SPIs)", mi.SADInboundNs, mi.SADScaleX10}} {
			rr, how := ratio(k.m["100000"], k.m["10"]), "separate benchmarks"
			if k.paired > 0 {
				rr, how = k.paired, "paired, ...Scale"
			}
			check(k.name+": 100 000 <= 1.5x 10", rr <= 1.5, rr > 0, fmt.Sprintf("%.1f vs %.1f ns; %.2f %s", k.m["100000"], k.m["10"], rr, how))
		}
	}
	if n := len(r.Tunnels); n > 0 {
		t := r.Tunnels[n-1]
		per := t.RespBytesPerPair
		// Judged on (RSS - idle RSS) / N at the largest N. The slope
		// between two counts is shown but not judged: the daemon's GC
		// policy changes with the live heap (cmd/esptun/memory.go), so
		// RSS is not linear in N and a slope can even be negative.
		detail := fmt.Sprintf("%.0f B per pair at %d tunnels (responder)", per, t.Tunnels)
		if n >= 2 && t.Note == "" && r.Tunnels[0].Note == "" {
			a := r.Tunnels[0]
			slope := float64((t.RespRSSKiB-a.RespRSSKiB)*1024) / float64(t.Tunnels-a.Tunnels)
			detail += fmt.Sprintf("; slope %d->%d: %.0f B", a.Tunnels, t.Tunnels, slope)
		}
		check("<= 4 KiB RSS per IKE+Child SA pair", per <= 4096, per > 0, detail)
	}
	if mi := r.Micro; mi != nil {
		for _, e := range mi.ESP {
			if e.Size != 1400 {
				continue
			}
			ok := e.SealOverRaw <= 1.10 && e.OpenOverRaw <= 1.10 && e.SealAllocs == 0 && e.OpenAllocs == 0
			check("ESP seal/open 1400 B within 10% of raw AEAD, 0 allocs: "+e.Suite, ok, e.SealOverRaw > 0,
				fmt.Sprintf("seal %.2f, open %.2f, allocs %.0f/%.0f", e.SealOverRaw, e.OpenOverRaw, e.SealAllocs, e.OpenAllocs))
		}
	}
	return b.String()
}
