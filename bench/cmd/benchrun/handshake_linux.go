package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// handshakeRun is one load test against one responder.
type handshakeRun struct {
	SAs        int     `json:"sas"`           // IKE SAs the load tester set up
	Seconds    float64 `json:"seconds"`       // wall time of the load tester, start to exit
	PerSecond  float64 `json:"per_second"`    // SAs / Seconds
	RespCPUms  float64 `json:"resp_cpu_ms"`   // responder CPU over the whole run
	CPUmsPerSA float64 `json:"cpu_ms_per_sa"` // RespCPUms / SAs
	Completed  bool    `json:"completed"`     // every IKE SA came up
}

type handshakeResults struct {
	Driver   string                    `json:"driver"` // "strongswan load-tester" or why not
	SAs      int                       `json:"sas_per_run"`
	Runs     map[string][]handshakeRun `json:"runs"`
	Median   map[string]handshakeRun   `json:"median"`
	Settings string                    `json:"settings"`
}

const (
	ltInitiators = 4
	ltPerInit    = 250 // 1000 IKE SAs per run
	// ltInitLimit is the load tester's limit of half-open IKE SAs: below
	// strongSwan's defaults of 5 half-open IKE SAs per peer address
	// (charon.block_threshold), beyond which it drops IKE_SA_INIT, and 10
	// for COOKIEs (charon.cookie_threshold), and esptun's 30.
	ltInitLimit = 4
	ltRespID    = "responder.bench"
	ltTSi       = "10.79.0.0/16" // the initiators' side of every Child SA
	ltTSr       = "10.80.0.0/16" // the responder's side
)

// ltConf is the load tester's strongswan.conf: fake kernel (no SAs are
// installed on the initiating side), PSK, Curve25519, AES-GCM.
func ltConf(dir string) string {
	return fmt.Sprintf(`charon {
	load = random nonce openssl kdf sha1 sha2 hmac kernel-netlink socket-default load-tester
	retransmit_timeout = 2.0
	retransmit_base = 1.4
	retransmit_tries = 3
	plugins {
		load-tester {
			enable = yes
			initiators = %d
			iterations = %d
			delay = 0
			init_limit = %d
			initiator = %s
			responder = %s
			version = 2
			proposal = aes128gcm16-prfsha256-x25519
			esp = aes128gcm16
			initiator_auth = psk
			responder_auth = psk
			initiator_id = lt-%%d-%%d.bench
			responder_id = %s
			preshared_key = %s
			initiator_tsi = %s
			initiator_tsr = %s
			child_rekey = 0
			fake_kernel = yes
			shutdown_when_complete = yes
		}
	}
	filelog {
		lt {
			path = %s
			default = 0
			cfg = 1
			append = no
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
`, ltInitiators, ltPerInit, ltInitLimit, outerA, outerB, ltRespID, benchPSK, ltTSi, ltTSr, filepath.Join(dir, "lt.log"))
}

func esptunResponderConf(sock string) string {
	return fmt.Sprintf(`[daemon]
control_socket = %q
log_level = "warn"

[tun]
name = "esptun0"
mtu = %d

[ike]
listen = [%q]

[connections.lt]
remote_addrs = ["%%any"]
local_addrs = [%q]
proposals = ["aes128gcm16-prfsha256-x25519"]
encap = true

[connections.lt.local]
auth = "psk"
id = %q

[connections.lt.remote]
auth = "psk"

[connections.lt.children.net]
local_ts = [%q]
remote_ts = [%q]
esp_proposals = ["aes128gcm16"]

[secrets.ike-lt]
secret = %q
`, sock, tunnelMTU, outerB, outerB, ltRespID, ltTSr, ltTSi, benchPSK)
}

func swanctlResponder() string {
	return fmt.Sprintf(`connections {
	lt {
		version = 2
		local_addrs = %s
		remote_addrs = %%any
		proposals = aes128gcm16-prfsha256-x25519
		encap = yes
		local {
			auth = psk
			id = %s
		}
		remote {
			auth = psk
		}
		children {
			net {
				local_ts = %s
				remote_ts = %s
				esp_proposals = aes128gcm16
			}
		}
	}
}
secrets {
	ike-lt {
		secret = %q
	}
}
`, outerB, ltRespID, ltTSr, ltTSi, benchPSK)
}

// esptunCounts is what the harness reads of `esptun stats --json`.
type esptunCounts struct {
	IKE struct {
		Connecting  int `json:"connecting"`
		Established int `json:"established"`
		Deleting    int `json:"deleting"`
	} `json:"ike_sas"`
	Children int `json:"child_sas"`
}

// esptunStats asks an esptun daemon for its counts with `esptun stats
// --json`: counts without a line per SA, like the `swanctl --stats` asked
// of strongSwan, so that polling costs the responder little and leaves no
// garbage the size of its tables.
func (e *env) esptunStats(sock string) (esptunCounts, error) {
	var doc esptunCounts
	out, err := exec.Command(e.esptun, "stats", "--json", "-s", sock).Output()
	if err != nil {
		return doc, fmt.Errorf("esptun stats: %v", err)
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return doc, fmt.Errorf("esptun stats --json: %v", err)
	}
	return doc, nil
}

// esptunEstablished counts the established IKE SAs and the Child SAs of
// an esptun daemon.
func (e *env) esptunEstablished(sock string) (ike, child int, err error) {
	doc, err := e.esptunStats(sock)
	return doc.IKE.Established, doc.Children, err
}

var swanStatsRE = regexp.MustCompile(`IKE_SAs: (\d+) total`)

func runHandshakes(e *env, o options) (*handshakeResults, error) {
	h := &handshakeResults{
		SAs:  ltInitiators * ltPerInit,
		Runs: map[string][]handshakeRun{}, Median: map[string]handshakeRun{},
		Settings: fmt.Sprintf("load-tester: %d initiators x %d IKE SAs, init_limit %d, PSK, aes128gcm16-prfsha256-x25519, ESP aes128gcm16, fake_kernel; responder: one connection for %%any, Child SA %s <-> %s",
			ltInitiators, ltPerInit, ltInitLimit, ltTSr, ltTSi),
	}
	if e.ltCharon == "" {
		h.Driver = "none: " + e.ltWhy
		return h, fmt.Errorf("no load-tester charon: %s", e.ltWhy)
	}
	h.Driver = "strongSwan load-tester (" + e.ltCharon + ")"
	a, b, err := e.vethPair("hs")
	if err != nil {
		return h, err
	}
	for round := 1; round <= o.runs; round++ {
		for _, resp := range []string{"esptun", "strongswan"} {
			r, err := e.handshakeRound(a, b, resp, round)
			if err != nil {
				return h, fmt.Errorf("round %d, %s responder: %v", round, resp, err)
			}
			logf("round %d handshakes, %s responder: %d SAs in %.2fs = %.0f/s, responder %.2f CPU ms per SA (all up: %v)",
				round, resp, r.SAs, r.Seconds, r.PerSecond, r.CPUmsPerSA, r.Completed)
			h.Runs[resp] = append(h.Runs[resp], r)
		}
	}
	for k, rs := range h.Runs {
		var ps, cpu, secs []float64
		for _, r := range rs {
			ps, cpu, secs = append(ps, r.PerSecond), append(cpu, r.CPUmsPerSA), append(secs, r.Seconds)
		}
		h.Median[k] = handshakeRun{SAs: h.SAs, PerSecond: median(ps), CPUmsPerSA: median(cpu), Seconds: median(secs)}
	}
	return h, nil
}

func (e *env) handshakeRound(a, b netns, resp string, round int) (handshakeRun, error) {
	var r handshakeRun
	name := fmt.Sprintf("hs-%s-%d", resp, round)
	var respProc *proc
	var count func() (int, error)
	switch resp {
	case "esptun":
		sock := filepath.Join(e.work, name+".sock")
		p, err := e.startEsptun(name, b, esptunResponderConf(sock))
		if err != nil {
			return r, err
		}
		respProc = p
		count = func() (int, error) { n, _, err := e.esptunEstablished(sock); return n, err }
	case "strongswan":
		c, err := e.startCharon(name, b, "")
		if err != nil {
			return r, err
		}
		if err := c.load(swanctlResponder()); err != nil {
			return r, err
		}
		respProc = c.proc
		count = func() (int, error) {
			out, err := c.swanctl("--stats")
			if err != nil {
				return 0, err
			}
			m := swanStatsRE.FindStringSubmatch(out)
			if m == nil {
				return 0, fmt.Errorf("swanctl --stats: no IKE_SAs line")
			}
			return strconv.Atoi(m[1])
		}
	}
	defer respProc.stop()
	if err := waitFor(15*time.Second, func() error { _, err := count(); return err }); err != nil {
		return r, err
	}
	time.Sleep(300 * time.Millisecond)
	c0 := cpuSeconds([]int{respProc.pid()})

	dir := filepath.Join(e.work, name+"-lt")
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o700); err != nil {
		return r, err
	}
	os.Remove(filepath.Join(dir, "lt.log"))
	cf := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(cf, []byte(ltConf(dir)), 0o600); err != nil {
		return r, err
	}
	cmd := a.command(bgCtx, "sh", "-c", `mount --bind "$1" /run && exec "$2"`, "sh", filepath.Join(dir, "run"), e.ltCharon)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+cf)
	t0 := time.Now()
	lt, err := e.start(name+"-lt", cmd)
	if err != nil {
		return r, err
	}
	// Every IKE SA that comes up is logged as "IKE_SA load-test[N]
	// established"; after the last one the load tester logs "load-test
	// complete" and shuts down (deleting its SAs). Time and responder CPU
	// are taken at the last IKE SA up, so the teardown is not counted; if
	// some never come up (retransmissions exhausted), the run ends 15s
	// after the last progress and counts what did.
	ltLog := filepath.Join(dir, "lt.log")
	var lw logWatch
	var c1 float64
	lastUp := 0
	lastProgress := time.Now()
	err = waitEvery(180*time.Second, 10*time.Millisecond, func() error {
		up, done := lw.poll(ltLog)
		if up > lastUp {
			lastUp, lastProgress = up, time.Now()
			c1 = cpuSeconds([]int{respProc.pid()})
			r.Seconds = time.Since(t0).Seconds()
		}
		if done || up >= ltInitiators*ltPerInit {
			r.Completed = up >= ltInitiators*ltPerInit
			return nil
		}
		if !lt.alive() || time.Since(lastProgress) > 15*time.Second {
			return nil
		}
		return fmt.Errorf("load tester did not finish within 180s:\n%s", tailFile(ltLog, 15))
	})
	lt.stop()
	if err != nil {
		return r, err
	}
	if lastUp == 0 {
		return r, fmt.Errorf("no IKE SA came up:\n%s\n%s", tailFile(ltLog, 15), respProc.tail(15))
	}
	r.SAs = lastUp
	r.PerSecond = float64(r.SAs) / r.Seconds
	r.RespCPUms = (c1 - c0) * 1000
	r.CPUmsPerSA = r.RespCPUms / float64(r.SAs)
	return r, nil
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tailText(string(b), n)
}

// logWatch follows the load tester's log, reading only what is new at
// each poll.
type logWatch struct {
	off  int64
	up   int
	done bool
}

// poll returns how many IKE SAs the log reports up so far, and whether it
// says the load test is complete.
func (w *logWatch) poll(path string) (up int, done bool) {
	f, err := os.Open(path)
	if err != nil {
		return w.up, w.done
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, w.off, 1<<30))
	if err != nil {
		return w.up, w.done
	}
	i := strings.LastIndexByte(string(b), '\n')
	if i < 0 {
		return w.up, w.done
	}
	chunk := string(b[:i+1])
	w.off += int64(i + 1)
	w.up += strings.Count(chunk, "] established between")
	if strings.Contains(chunk, "load-test complete") {
		w.done = true
	}
	return w.up, w.done
}
