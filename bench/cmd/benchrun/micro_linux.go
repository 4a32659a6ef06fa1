package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runOut runs a command in dir and returns its combined output.
func runOut(dir string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, tailText(string(out), 20))
	}
	return string(out), nil
}

func tailText(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// benchStat is the median of -count runs of one Go benchmark.
type benchStat struct {
	NsOp     float64 `json:"ns_op"`
	AllocsOp float64 `json:"allocs_op"`
	BytesOp  float64 `json:"bytes_op"`
	// Metrics holds the medians of the benchmark's own metrics
	// (b.ReportMetric), by unit, e.g. "esp/raw".
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

var benchLineRE = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+([0-9.]+) ns/op(.*)$`)

// parseBench reads go test -bench output into medians by benchmark name
// (without the -GOMAXPROCS suffix).
func parseBench(out string) map[string]benchStat {
	ns, allocs, bytes := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	metrics := map[string]map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		ns[m[1]] = append(ns[m[1]], v)
		f := strings.Fields(m[4])
		for i := 1; i < len(f); i++ {
			x, err := strconv.ParseFloat(f[i-1], 64)
			if err != nil {
				continue
			}
			switch f[i] {
			case "allocs/op":
				allocs[m[1]] = append(allocs[m[1]], x)
			case "B/op":
				bytes[m[1]] = append(bytes[m[1]], x)
			case "ns/op", "MB/s":
			default:
				if metrics[m[1]] == nil {
					metrics[m[1]] = map[string][]float64{}
				}
				metrics[m[1]][f[i]] = append(metrics[m[1]][f[i]], x)
			}
		}
	}
	res := map[string]benchStat{}
	for k, v := range ns {
		st := benchStat{NsOp: median(v), AllocsOp: median(allocs[k]), BytesOp: median(bytes[k])}
		for unit, xs := range metrics[k] {
			if st.Metrics == nil {
				st.Metrics = map[string]float64{}
			}
			st.Metrics[unit] = median(xs)
		}
		res[k] = st
	}
	return res
}

// espRow compares ESP with the bare AEAD for one suite and size.
type espRow struct {
	Suite       string  `json:"suite"`
	Size        int     `json:"size"`
	SealNs      float64 `json:"seal_ns"`
	RawSealNs   float64 `json:"raw_seal_ns"`
	SealOverRaw float64 `json:"seal_over_raw"`
	OpenNs      float64 `json:"open_ns"`
	RawOpenNs   float64 `json:"raw_open_ns"`
	OpenOverRaw float64 `json:"open_over_raw"`
	SealAllocs  float64 `json:"seal_allocs"`
	OpenAllocs  float64 `json:"open_allocs"`
}

type microResults struct {
	ESP              []espRow           `json:"esp"`
	SPDLookupNs      map[string]float64 `json:"spd_lookup_ns"`
	SPDLookupAllocs  map[string]float64 `json:"spd_lookup_allocs"`
	SADInboundNs     map[string]float64 `json:"sad_inbound_ns"`
	SADInboundAllocs map[string]float64 `json:"sad_inbound_allocs"`
	// SPDScaleX10 and SADScaleX10: BenchmarkLookupScale and
	// BenchmarkInboundScale, 100 000 against 10 timed in alternating
	// blocks (0 when not measured).
	SPDScaleX10       float64              `json:"spd_scale_x10"`
	SADScaleX10       float64              `json:"sad_scale_x10"`
	PipelineNsPerPkt  float64              `json:"pipeline_ns_per_packet"`
	PipelineAllocsPkt float64              `json:"pipeline_allocs_per_packet"`
	Raw               map[string]benchStat `json:"raw"`
	Commands          []string             `json:"commands"`
}

var microSuites = []string{"aes128gcm16", "chacha20poly1305"}
var microSizes = []int{64, 512, 1400, 8192}

// runMicro runs the esp, spd, sad and tunnel benchmarks (-count 3, the
// median of each). ESP seal/open and the raw AEAD come from the paired
// benchmarks (BenchmarkSealVsRaw, BenchmarkOpenVsRaw), which time both in
// alternating blocks of 16 packets: on a shared machine, separate
// benchmarks seconds apart differ by more than the overhead measured.
func runMicro(e *env) (*microResults, error) {
	m := &microResults{
		SPDLookupNs: map[string]float64{}, SPDLookupAllocs: map[string]float64{},
		SADInboundNs: map[string]float64{}, SADInboundAllocs: map[string]float64{},
		Raw: map[string]benchStat{},
	}
	runs := [][]string{
		{"test", "-run", "^$", "-bench", "^Benchmark(Seal|Open)VsRaw$/^(" + strings.Join(microSuites, "|") + ")$", "-benchmem", "-count", "3", "-benchtime", "300ms", "./esp/"},
		{"test", "-run", "^$", "-bench", "^BenchmarkLookup(Scale)?$", "-benchmem", "-count", "3", "-benchtime", "300ms", "./spd/"},
		{"test", "-run", "^$", "-bench", "^BenchmarkInbound(Scale)?$", "-benchmem", "-count", "3", "-benchtime", "300ms", "./sad/"},
		{"test", "-run", "^$", "-bench", "^BenchmarkPipeline$", "-benchmem", "-count", "3", "-benchtime", "300ms", "./tunnel/"},
	}
	for _, args := range runs {
		m.Commands = append(m.Commands, "go "+strings.Join(args, " "))
		logf("go %s", strings.Join(args, " "))
		out, err := runOut(e.root, "go", args...)
		if err != nil {
			return m, err
		}
		for k, v := range parseBench(out) {
			m.Raw[k] = v
		}
	}
	for _, s := range microSuites {
		for _, n := range microSizes {
			r := espRow{Suite: s, Size: n}
			seal := m.Raw[fmt.Sprintf("BenchmarkSealVsRaw/%s/%d", s, n)]
			open := m.Raw[fmt.Sprintf("BenchmarkOpenVsRaw/%s/%d", s, n)]
			r.SealNs, r.RawSealNs, r.SealOverRaw = seal.Metrics["esp-ns/op"], seal.Metrics["raw-ns/op"], seal.Metrics["esp/raw"]
			r.OpenNs, r.RawOpenNs, r.OpenOverRaw = open.Metrics["esp-ns/op"], open.Metrics["raw-ns/op"], open.Metrics["esp/raw"]
			r.SealAllocs, r.OpenAllocs = seal.AllocsOp, open.AllocsOp
			m.ESP = append(m.ESP, r)
		}
	}
	for k, v := range m.Raw {
		if n, ok := strings.CutPrefix(k, "BenchmarkLookup/policies="); ok {
			m.SPDLookupNs[n], m.SPDLookupAllocs[n] = v.NsOp, v.AllocsOp
		}
		if n, ok := strings.CutPrefix(k, "BenchmarkInbound/sas="); ok {
			m.SADInboundNs[n], m.SADInboundAllocs[n] = v.NsOp, v.AllocsOp
		}
	}
	m.SPDScaleX10 = m.Raw["BenchmarkLookupScale"].Metrics["x10"]
	m.SADScaleX10 = m.Raw["BenchmarkInboundScale"].Metrics["x10"]
	// BenchmarkPipeline seals and opens a batch of 64 packets per op.
	if v, ok := m.Raw["BenchmarkPipeline"]; ok {
		m.PipelineNsPerPkt, m.PipelineAllocsPkt = v.NsOp/64, v.AllocsOp/64
	}
	return m, nil
}

// profileEsptun records both esptun daemons of p with perf during one
// single-stream TCP run and returns perf report's flat top, by symbol.
func profileEsptun(e *env, p *path, seconds int) (string, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return "", fmt.Errorf("perf is not installed")
	}
	data := filepath.Join(e.work, "esptun.perf.data")
	var pids []string
	for _, pid := range p.daemonPIDs() {
		pids = append(pids, strconv.Itoa(pid))
	}
	rec := exec.Command("perf", "record", "-F", "999", "-g", "-p", strings.Join(pids, ","), "-o", data, "--", "sleep", strconv.Itoa(seconds))
	recOut := &strings.Builder{}
	rec.Stdout, rec.Stderr = recOut, recOut
	logf("perf record of the esptun daemons during a %ds single-stream TCP run", seconds)
	if err := rec.Start(); err != nil {
		return "", err
	}
	time.Sleep(200 * time.Millisecond)
	t, terr := p.tcp(seconds-1, 1)
	if err := rec.Wait(); err != nil {
		return "", fmt.Errorf("perf record: %v: %s", err, recOut.String())
	}
	head := fmt.Sprintf("perf record -F 999 -g -p <esptun a>,<esptun b> during iperf3 -t %d (%.2f Gbit/s, err %v)\n", seconds-1, t.gbps, terr)
	flat, err := runOut(e.work, "perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym", "--percent-limit", "0.7", "-g", "none")
	if err != nil {
		return head, err
	}
	byComm, _ := runOut(e.work, "perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "comm,dso", "--percent-limit", "2", "-g", "none")
	keep := func(s string, n int) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
				continue
			}
			out = append(out, strings.TrimRight(l, " "))
			if len(out) == n {
				break
			}
		}
		return strings.Join(out, "\n")
	}
	os.Remove(data)
	return head + "\nby symbol (self):\n" + keep(flat, 30) + "\n\nby thread name and object:\n" + keep(byComm, 12) + "\n", nil
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
