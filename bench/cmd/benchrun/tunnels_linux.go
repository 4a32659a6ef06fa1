package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// tunnelScale is N IKE SAs, each with one Child SA, between two esptun
// daemons in one namespace over loopback: the initiator has N connections,
// spread over scaleAddrs local addresses 127.0.1.X, each with its own
// identity and /32 inner selector; the responder has one connection for
// %any on 127.0.0.1. Both use the standard ports and addresses of their
// own: after the NAT-T switch an esptun initiator keeps a peer's custom IKE
// port that differs from its own (as strongSwan does), so two daemons on
// one address with different ports cannot talk, and a wildcard listen
// sends from the routed source address, not from local_addrs.
type tunnelScale struct {
	Tunnels          int     `json:"tunnels"`
	Established      int     `json:"established"`
	ChildSAs         int     `json:"child_sas"`
	SetupSeconds     float64 `json:"setup_seconds"`
	SetupsPerSecond  float64 `json:"setups_per_second"`
	RespCPUmsPerSA   float64 `json:"responder_cpu_ms_per_sa"` // without the stats polls (below)
	StatusPolls      int     `json:"status_polls"`            // esptun stats --json calls while waiting
	RespCPUmsPerPoll float64 `json:"responder_cpu_ms_per_poll"`
	RespRSSIdleKiB   int64   `json:"responder_rss_idle_kib"`
	RespRSSKiB       int64   `json:"responder_rss_kib"`
	RespLiveHeapMB   float64 `json:"responder_live_heap_mb"` // at its last GC (GODEBUG=gctrace=1)
	SteadyWait       float64 `json:"steady_wait_seconds"`    // from the last poll until no IKE SA is being set up or deleted
	ReleaseWait      float64 `json:"release_wait_seconds"`   // from then to the responder's memory release
	Connecting       int     `json:"connecting_at_sample"`   // IKE SAs being set up when RSS was read
	RespBytesPerPair float64 `json:"responder_bytes_per_pair"`
	InitRSSKiB       int64   `json:"initiator_rss_kib"`
	InitBytesPerPair float64 `json:"initiator_bytes_per_pair"` // (RSS - the responder's idle RSS) / N
	Note             string  `json:"note,omitempty"`           // set when not all N came up
}

// scaleAddrs is how many loopback addresses the initiator listens on.
const scaleAddrs = 100

func scaleLocal(i int) string { return fmt.Sprintf("127.0.1.%d", i%scaleAddrs+1) }
func scaleInner(i int) string { return fmt.Sprintf("10.200.%d.%d/32", (i+1)>>8, (i+1)&255) }

func scaleResponderConf(sock string) string {
	return fmt.Sprintf(`[daemon]
control_socket = %q
log_level = "warn"

[tun]
name = "ebscr"
mtu = %d
install_routes = false

[ike]
listen = ["127.0.0.1"]
retransmit_timeout = "2s"

[connections.scale]
remote_addrs = ["%%any"]
local_addrs = ["127.0.0.1"]
proposals = ["aes128gcm16-prfsha256-x25519"]
encap = true

[connections.scale.local]
auth = "psk"
id = "r.scale"

[connections.scale.remote]
auth = "psk"

[connections.scale.children.net]
local_ts = ["10.100.0.0/16"]
remote_ts = ["10.200.0.0/16"]
esp_proposals = ["aes128gcm16"]

[secrets.ike-scale]
secret = %q
`, sock, tunnelMTU, benchPSK)
}

func scaleInitiatorConf(sock string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %q\nlog_level = \"warn\"\n\n", sock)
	fmt.Fprintf(&b, "[tun]\nname = \"ebsci\"\nmtu = %d\ninstall_routes = false\n\n", tunnelMTU)
	var addrs []string
	for i := range min(n, scaleAddrs) {
		addrs = append(addrs, fmt.Sprintf("%q", scaleLocal(i)))
	}
	// All N start at once; an IKE_SA_INIT the busy responder did not
	// answer is retried soon and for as long as it takes (keyingtries 0).
	fmt.Fprintf(&b, "[ike]\nlisten = [%s]\nretransmit_timeout = \"1s\"\nretransmit_tries = 3\n\n", strings.Join(addrs, ", "))
	for i := range n {
		c := fmt.Sprintf("connections.c%05d", i)
		fmt.Fprintf(&b, "[%s]\nremote_addrs = [\"127.0.0.1\"]\nlocal_addrs = [%q]\nproposals = [\"aes128gcm16-prfsha256-x25519\"]\nencap = true\nkeyingtries = 0\n", c, scaleLocal(i))
		// Identities of their own: INITIAL_CONTACT (RFC 7296 2.4) from a
		// new IKE SA replaces the older ones of the same identity.
		fmt.Fprintf(&b, "[%s.local]\nauth = \"psk\"\nid = \"i%05d.scale\"\n[%s.remote]\nauth = \"psk\"\nid = \"r.scale\"\n", c, i, c)
		fmt.Fprintf(&b, "[%s.children.net%05d]\nlocal_ts = [%q]\nremote_ts = [\"10.100.0.0/16\"]\nesp_proposals = [\"aes128gcm16\"]\nstart_action = \"start\"\n\n", c, i, scaleInner(i))
	}
	fmt.Fprintf(&b, "[secrets.ike-scale]\nsecret = %q\n", benchPSK)
	return b.String()
}

func runTunnelScale(e *env, n int) (tunnelScale, error) {
	t := tunnelScale{Tunnels: n}
	logf("%d esptun-to-esptun tunnels", n)
	ns, err := e.newNS(fmt.Sprintf("scale%d", n))
	if err != nil {
		return t, err
	}
	rsock := filepath.Join(e.work, fmt.Sprintf("scale%d-r.sock", n))
	isock := filepath.Join(e.work, fmt.Sprintf("scale%d-i.sock", n))
	gctrace := []string{"GODEBUG=gctrace=1"}
	resp, err := e.startEsptunEnv(fmt.Sprintf("scale%d-r", n), ns, scaleResponderConf(rsock), gctrace)
	if err != nil {
		return t, err
	}
	defer resp.stop()
	if err := waitFor(15*time.Second, func() error { _, _, err := e.esptunEstablished(rsock); return err }); err != nil {
		return t, err
	}
	time.Sleep(time.Second)
	t.RespRSSIdleKiB, _ = rssKiB(resp.pid())
	c0 := cpuSeconds([]int{resp.pid()})
	t0 := time.Now()
	init, err := e.startEsptunEnv(fmt.Sprintf("scale%d-i", n), ns, scaleInitiatorConf(isock, n), gctrace)
	if err != nil {
		return t, err
	}
	defer init.stop()
	timeout := max(60*time.Second, time.Duration(n)*30*time.Millisecond)
	last := -1
	listed := 0 // IKE SAs the polls listed, summed over the polls
	stuckSince := time.Now()
	err = waitEvery(timeout, time.Second, func() error {
		t.StatusPolls++
		if !init.alive() || !resp.alive() {
			return fmt.Errorf("a daemon exited:\n%s\n%s", init.tail(10), resp.tail(10))
		}
		ike, child, err := e.esptunEstablished(rsock)
		if err != nil {
			return err
		}
		listed += ike
		t.Established, t.ChildSAs = ike, child
		if ike >= n && child >= n {
			t.SetupSeconds = time.Since(t0).Seconds()
			return nil
		}
		if ike != last {
			last, stuckSince = ike, time.Now()
		} else if time.Since(stuckSince) > 60*time.Second {
			return fmt.Errorf("stuck at %d of %d IKE SAs (%d Child SAs) for 60s", ike, n, child)
		}
		return fmt.Errorf("%d of %d IKE SAs, %d Child SAs after %v", ike, n, child, time.Since(t0).Round(time.Second))
	})
	c1 := cpuSeconds([]int{resp.pid()})
	up := n
	if err != nil {
		// Report what did come up, per established pair, and say so.
		if t.Established == 0 || !init.alive() || !resp.alive() {
			return t, err
		}
		t.Note = err.Error()
		t.SetupSeconds = time.Since(t0).Seconds()
		up = t.Established
	}
	t.SetupsPerSecond = float64(up) / t.SetupSeconds
	// Every poll makes the responder count all its SAs, which costs more
	// the more it holds (far less than listing them): measure a few polls
	// of all of them now and leave the polls out of the CPU per SA, which
	// is about setting SAs up, in proportion to the SAs each counted.
	const probes = 3
	p0 := cpuSeconds([]int{resp.pid()})
	for range probes {
		_, _, _ = e.esptunEstablished(rsock)
	}
	t.RespCPUmsPerPoll = (cpuSeconds([]int{resp.pid()}) - p0) * 1000 / probes
	pollCPU := float64(listed) / float64(max(t.Established, 1)) * t.RespCPUmsPerPoll
	t.RespCPUmsPerSA = max(0, (c1-c0)*1000-pollCPU) / float64(up)
	// RSS is what the daemon keeps for N established pairs, so it is read
	// in the steady state: once no IKE SA is being set up or deleted (the
	// storm of all N starting at once leaves some hundreds of half-open
	// SAs at the responder, tries the initiators gave up on, until the
	// half-open timeout of 30 s) and the daemon has collected the garbage
	// and returned it. esptun up does that when it has been quiet for a
	// tick of its memory policy, after a burst at most every 5 s, else
	// every 30 s (cmd/esptun/memory.go), with two forced collections that
	// GODEBUG=gctrace=1 shows: the harness waits for those after the
	// steady state (at most 40 s), then a second more. (A fixed 8 s after
	// the last poll left the sample to chance: 4.8 to 11.3 KB per pair at
	// 10 000 in runs of the same build, by whether the release had come
	// and how many half-open SAs were left.)
	w0 := time.Now()
	for time.Since(w0) < 45*time.Second {
		c, err := e.esptunStats(rsock)
		if err == nil && c.IKE.Connecting == 0 && c.IKE.Deleting == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.SteadyWait = time.Since(w0).Seconds()
	forced := forcedGCs(resp.log)
	w1 := time.Now()
	for time.Since(w1) < 40*time.Second && forcedGCs(resp.log) < forced+2 {
		time.Sleep(250 * time.Millisecond)
	}
	t.ReleaseWait = time.Since(w1).Seconds()
	if c, err := e.esptunStats(rsock); err == nil {
		t.Connecting = c.IKE.Connecting
	}
	time.Sleep(time.Second)
	t.RespRSSKiB, _ = rssKiB(resp.pid())
	t.InitRSSKiB, _ = rssKiB(init.pid())
	t.RespLiveHeapMB = lastLiveHeap(resp.log)
	t.RespBytesPerPair = float64((t.RespRSSKiB-t.RespRSSIdleKiB)*1024) / float64(up)
	t.InitBytesPerPair = float64((t.InitRSSKiB-t.RespRSSIdleKiB)*1024) / float64(up)
	logf("%d tunnels: %d stats polls, %.1f responder CPU ms for one; %.0f ms left out", n, t.StatusPolls, t.RespCPUmsPerPoll, pollCPU)
	logf("%d tunnels: %.1fs to set up (%.0f/s), responder %.2f CPU ms/SA, RSS responder %d KiB (idle %d) = %.0f B/pair (steady after %.1fs, released %.1fs later, %d connecting), live heap at last GC %.0f MB, initiator %d KiB = %.0f B/pair",
		n, t.SetupSeconds, t.SetupsPerSecond, t.RespCPUmsPerSA, t.RespRSSKiB, t.RespRSSIdleKiB, t.RespBytesPerPair, t.SteadyWait, t.ReleaseWait, t.Connecting, t.RespLiveHeapMB, t.InitRSSKiB, t.InitBytesPerPair)
	return t, nil
}

// gcLineRE matches the heap sizes of a GODEBUG=gctrace=1 line: heap at the
// start of the GC, at its end, and live heap, in MB.
var gcLineRE = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

// forcedGCs counts the forced collections (runtime.GC, debug.FreeOSMemory)
// in a gctrace log.
func forcedGCs(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("(forced)"))
}

// lastLiveHeap returns the live heap of the last GC in a gctrace log.
func lastLiveHeap(path string) float64 {
	b, _ := os.ReadFile(path)
	m := gcLineRE.FindAllStringSubmatch(string(b), -1)
	if len(m) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][3], 64)
	return v
}
