package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// pathSample is one round's figures for one path.
type pathSample struct {
	TCP1Gbps    float64  `json:"tcp1_gbps"`
	TCP4Gbps    float64  `json:"tcp4_gbps"`
	UDPMbps     float64  `json:"udp_mbps"`
	UDPProbes   []string `json:"udp_probes"`
	RTTIdleMed  float64  `json:"rtt_idle_median_ms"`
	RTTIdleP99  float64  `json:"rtt_idle_p99_ms"`
	RTTLoadMed  float64  `json:"rtt_load_median_ms"`
	RTTLoadP99  float64  `json:"rtt_load_p99_ms"`
	CPUSecPerGB float64  `json:"cpu_s_per_gb"`
}

type options struct {
	runs, seconds, udpSeconds int
	tunnels                   []int
	skip                      map[string]bool
	out                       string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "dbscale" {
		os.Exit(dbscaleMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "all" {
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	e := &env{}
	var o options
	var skip, tunnels string
	flag.StringVar(&e.runID, "runid", fmt.Sprint(os.Getpid()), "namespaces are named esptunbench-RUNID-*")
	flag.StringVar(&e.root, "root", ".", "repository root (for go test)")
	flag.StringVar(&e.work, "work", "", "scratch directory (required)")
	flag.StringVar(&e.esptun, "esptun", "", "esptun binary (required)")
	flag.StringVar(&e.wgGo, "wireguard-go", "", "wireguard-go binary")
	flag.StringVar(&e.ltCharon, "lt-charon", "", "charon built with the load-tester plugin")
	flag.StringVar(&e.ltWhy, "lt-why", "", "why there is no load-tester charon")
	flag.IntVar(&o.runs, "runs", 3, "rounds; every figure is the median")
	flag.IntVar(&o.seconds, "t", 10, "seconds per TCP run")
	flag.IntVar(&o.udpSeconds, "udp-t", 3, "seconds per UDP probe")
	flag.StringVar(&tunnels, "tunnels", "1000,2000", "esptun-to-esptun tunnel counts for memory per IKE+Child SA pair")
	flag.StringVar(&skip, "skip", "", "comma-separated sections to skip: paths,profile,handshake,tunnels,dbscale,micro")
	flag.StringVar(&o.out, "out", "bench/results.json", "JSON results")
	flag.Parse()
	if e.work == "" || e.esptun == "" {
		fmt.Fprintln(os.Stderr, "benchrun: -work and -esptun are required")
		os.Exit(1)
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		if s != "" {
			o.skip[s] = true
		}
	}
	for _, s := range strings.Split(tunnels, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err == nil && n > 0 {
			o.tunnels = append(o.tunnels, n)
		}
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		logf("%v: cleaning up", s)
		e.cleanup()
		os.Exit(130)
	}()
	rc := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				logf("benchrun: %v", r)
				rc = 2
			}
		}()
		res := run(e, o)
		if err := writeResults(o.out, res); err != nil {
			logf("benchrun: %v", err)
			rc = 2
		}
	}()
	e.cleanup()
	os.Exit(rc)
}

// results is everything one run measured; bench/results.json holds it.
type results struct {
	Date    string                  `json:"date"`
	Machine machine                 `json:"machine"`
	Commit  string                  `json:"commit"`
	Runs    int                     `json:"runs"`
	Seconds int                     `json:"tcp_seconds"`
	Paths   map[string][]pathSample `json:"paths,omitempty"`
	Median  map[string]pathSample   `json:"median,omitempty"`
	Labels  map[string]string       `json:"labels,omitempty"`
	Profile string                  `json:"esptun_profile,omitempty"`
	Hand    *handshakeResults       `json:"handshakes,omitempty"`
	Tunnels []tunnelScale           `json:"tunnels,omitempty"`
	DBScale []dbScale               `json:"db_scale,omitempty"`
	Micro   *microResults           `json:"micro,omitempty"`
	Errors  []string                `json:"errors,omitempty"`
	Table   string                  `json:"table"`
	Extra   map[string]any          `json:"extra,omitempty"`
}

type machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

func run(e *env, o options) *results {
	res := &results{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: machineInfo(),
		Commit:  gitCommit(e.root),
		Runs:    o.runs,
		Seconds: o.seconds,
		Labels:  map[string]string{},
	}
	fail := func(section string, err error) {
		msg := section + ": " + err.Error()
		logf("%s", msg)
		res.Errors = append(res.Errors, msg)
	}
	if !o.skip["paths"] {
		if err := runPaths(e, o, res); err != nil {
			fail("paths", err)
		}
	}
	if !o.skip["handshake"] {
		h, err := runHandshakes(e, o)
		if err != nil {
			fail("handshakes", err)
		}
		res.Hand = h
	}
	if !o.skip["tunnels"] {
		for _, n := range o.tunnels {
			t, err := runTunnelScale(e, n)
			if err != nil {
				fail(fmt.Sprintf("tunnels %d", n), err)
				break
			}
			res.Tunnels = append(res.Tunnels, t)
		}
	}
	if !o.skip["dbscale"] {
		d, err := runDBScale(e)
		if err != nil {
			fail("dbscale", err)
		}
		res.DBScale = d
	}
	if !o.skip["micro"] {
		m, err := runMicro(e)
		if err != nil {
			fail("micro", err)
		}
		res.Micro = m
	}
	res.Table = renderTable(res)
	fmt.Println()
	fmt.Print(res.Table)
	return res
}

func runPaths(e *env, o options, res *results) error {
	type setup struct {
		key string
		f   func() (*path, error)
	}
	setups := []setup{
		{"veth", e.setupVeth},
		{"esptun-aes", func() (*path, error) {
			return e.setupEsptun("esptun-aes", "esptun AES-128-GCM", "aes128gcm16-prfsha256-x25519", "aes128gcm16")
		}},
		{"esptun-chacha", func() (*path, error) {
			return e.setupEsptun("esptun-chacha", "esptun ChaCha20-Poly1305", "chacha20poly1305-prfsha256-x25519", "chacha20poly1305")
		}},
		{"wireguard-go", e.setupWireGuard},
		{"strongswan", e.setupStrongSwan},
	}
	var paths []*path
	for _, s := range setups {
		if s.key == "wireguard-go" && e.wgGo == "" {
			res.Errors = append(res.Errors, "wireguard-go: no binary")
			continue
		}
		logf("setting up %s", s.key)
		p, err := s.f()
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("setup %s: %v", s.key, err))
			logf("setup %s: %v", s.key, err)
			continue
		}
		paths = append(paths, p)
		res.Labels[p.key] = p.label
	}
	if len(paths) == 0 {
		return fmt.Errorf("no path could be set up")
	}
	res.Paths = map[string][]pathSample{}
	lastUDP := map[string]float64{}
	for round := 1; round <= o.runs; round++ {
		for _, p := range paths {
			s, err := measurePath(p, o, lastUDP[p.key])
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("round %d %s: %v", round, p.key, err))
				logf("round %d %s: %v", round, p.key, err)
				continue
			}
			if s.UDPMbps > 0 {
				lastUDP[p.key] = s.UDPMbps
			}
			logf("round %d %-13s tcp1 %.2f tcp4 %.2f Gbit/s, udp %.0f Mbit/s %v, rtt idle %.3f/%.3f load %.3f/%.3f ms, %.2f cpu-s/GB",
				round, p.key, s.TCP1Gbps, s.TCP4Gbps, s.UDPMbps, s.UDPProbes, s.RTTIdleMed, s.RTTIdleP99, s.RTTLoadMed, s.RTTLoadP99, s.CPUSecPerGB)
			res.Paths[p.key] = append(res.Paths[p.key], s)
		}
	}
	res.Median = map[string]pathSample{}
	for k, ss := range res.Paths {
		var m pathSample
		pick := func(f func(pathSample) float64) float64 {
			var v []float64
			for _, s := range ss {
				v = append(v, f(s))
			}
			return median(v)
		}
		m.TCP1Gbps = pick(func(s pathSample) float64 { return s.TCP1Gbps })
		m.TCP4Gbps = pick(func(s pathSample) float64 { return s.TCP4Gbps })
		m.UDPMbps = pick(func(s pathSample) float64 { return s.UDPMbps })
		m.RTTIdleMed = pick(func(s pathSample) float64 { return s.RTTIdleMed })
		m.RTTIdleP99 = pick(func(s pathSample) float64 { return s.RTTIdleP99 })
		m.RTTLoadMed = pick(func(s pathSample) float64 { return s.RTTLoadMed })
		m.RTTLoadP99 = pick(func(s pathSample) float64 { return s.RTTLoadP99 })
		m.CPUSecPerGB = pick(func(s pathSample) float64 { return s.CPUSecPerGB })
		res.Median[k] = m
	}
	if !o.skip["profile"] {
		for _, p := range paths {
			if p.key == "esptun-aes" {
				prof, err := profileEsptun(e, p, o.seconds)
				if err != nil {
					res.Errors = append(res.Errors, "profile: "+err.Error())
				}
				res.Profile = prof
			}
		}
	}
	// The paths' daemons are not needed any more: free the CPU.
	for _, p := range paths {
		for _, pr := range p.procs {
			pr.stop()
		}
	}
	return nil
}

// measurePath runs one round on p: idle ping, single-stream TCP with a ping
// alongside (latency under load), four streams, the UDP search.
func measurePath(p *path, o options, udpGuess float64) (pathSample, error) {
	var s pathSample
	if err := p.alive(); err != nil {
		return s, err
	}
	idle, err := p.ping(300, 10*time.Millisecond)
	if err != nil {
		return s, err
	}
	s.RTTIdleMed, s.RTTIdleP99 = median(idle), percentile(idle, 99)

	type pingOut struct {
		rtts []float64
		err  error
	}
	pc := make(chan pingOut, 1)
	go func() {
		time.Sleep(time.Second)
		r, err := p.ping((o.seconds-2)*50, 20*time.Millisecond)
		pc <- pingOut{r, err}
	}()
	t1, err := p.tcp(o.seconds, 1)
	po := <-pc
	if err != nil {
		return s, err
	}
	if po.err != nil {
		return s, fmt.Errorf("ping under load: %v", po.err)
	}
	s.TCP1Gbps = t1.gbps
	s.RTTLoadMed, s.RTTLoadP99 = median(po.rtts), percentile(po.rtts, 99)

	t4, err := p.tcp(o.seconds, 4)
	if err != nil {
		return s, err
	}
	s.TCP4Gbps = t4.gbps
	if len(p.procs) > 0 && t1.bytes+t4.bytes > 0 {
		s.CPUSecPerGB = (t1.cpu + t4.cpu) / ((t1.bytes + t4.bytes) / 1e9)
	}
	if udpGuess == 0 {
		udpGuess = t1.gbps * 1000 * 0.5
	}
	s.UDPMbps, s.UDPProbes, err = p.udpMax(udpGuess, o.udpSeconds, 6)
	return s, err
}

func machineInfo() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func gitCommit(root string) string {
	out, err := runOut(root, "git", "rev-parse", "--short", "HEAD")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(out)
}

func writeResults(path string, r *results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
