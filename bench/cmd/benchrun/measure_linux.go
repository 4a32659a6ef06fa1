package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var bgCtx = context.Background()

// udpPayload is the iperf3 UDP payload: 1372 bytes of data + 8 of UDP + 20
// of IPv4 is a 1400-byte inner packet, the largest that crosses a tunnel
// with MTU 1400 unfragmented.
const udpPayload = tunnelMTU - 28

// iperfResult is the part of iperf3 -J's report that is used.
type iperfResult struct {
	End struct {
		SumReceived struct {
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
			// UDP only: the receiver's count, reported back to the client.
			LostPercent float64 `json:"lost_percent"`
			Packets     float64 `json:"packets"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf runs one iperf3 client in p.a towards p.dst.
func (p *path) iperf(args ...string) (*iperfResult, error) {
	all := append([]string{"iperf3", "-J", "-B", p.src, "-c", p.dst}, args...)
	ctx, cancel := context.WithTimeout(bgCtx, 2*time.Minute)
	defer cancel()
	cmd := p.a.command(ctx, all...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r iperfResult
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		if err == nil {
			err = jerr
		}
		return nil, fmt.Errorf("%s: iperf3 %s: %v: %s %.300s", p.key, strings.Join(args, " "), err, stderr.String(), out)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s: iperf3: %s", p.key, r.Error)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// tcpResult is one TCP run: received Gbit/s, payload bytes and the daemons'
// CPU seconds meanwhile.
type tcpResult struct {
	gbps, bytes, cpu float64
}

func (p *path) tcp(seconds, streams int) (tcpResult, error) {
	pids := p.daemonPIDs()
	c0 := cpuSeconds(pids)
	r, err := p.iperf("-t", strconv.Itoa(seconds), "-P", strconv.Itoa(streams))
	c1 := cpuSeconds(pids)
	if err != nil {
		return tcpResult{}, err
	}
	return tcpResult{gbps: r.End.SumReceived.BitsPerSecond / 1e9, bytes: r.End.SumReceived.Bytes, cpu: c1 - c0}, nil
}

// udpProbe sends at rate Mbit/s for seconds and returns the received Mbit/s
// and the loss in percent.
func (p *path) udpProbe(mbps float64, seconds int) (got, loss float64, err error) {
	// 4 MiB socket buffers and a 100us pacing timer: with the defaults
	// (about 200 KiB, 1ms bursts) the receiving iperf3 itself drops
	// datagrams on this machine at a few hundred Mbit/s, even on the veth.
	r, err := p.iperf("-u", "-l", strconv.Itoa(udpPayload), "-b", fmt.Sprintf("%.0fM", mbps), "-t", strconv.Itoa(seconds),
		"-w", "4M", "--pacing-timer", "100")
	if err != nil {
		return 0, 0, err
	}
	if r.End.SumReceived.Packets == 0 {
		return 0, 100, nil
	}
	return r.End.SumReceived.BitsPerSecond / 1e6, r.End.SumReceived.LostPercent, nil
}

// udpMax searches for the highest offered rate with loss below 0.1%,
// starting at guess Mbit/s: while clean, up by 1.3x; when lossy, the next
// rate is 95% of what got through (never more than 90% of the lossy rate);
// once there is a clean and a lossy rate, bisect until they are within 8%.
// It returns the received Mbit/s at the best clean rate (0 if none of at
// most maxProbes probes was clean) and the probes as "RATE:LOSS%".
func (p *path) udpMax(guess float64, seconds, maxProbes int) (float64, []string, error) {
	var notes []string
	bestClean, bestGot := 0.0, 0.0
	lossy := math.Inf(1)
	rate := max(guess, 20)
	for range maxProbes {
		got, loss, err := p.udpProbe(rate, seconds)
		if err != nil {
			return 0, notes, err
		}
		notes = append(notes, fmt.Sprintf("%.0fM:%.3f%%", rate, loss))
		if loss < 0.1 {
			if rate > bestClean {
				bestClean, bestGot = rate, got
			}
		} else {
			lossy = min(lossy, rate)
		}
		switch {
		case bestClean == 0:
			rate = max(min(0.95*got, 0.9*rate), 0.5*rate)
		case math.IsInf(lossy, 1):
			rate *= 1.3
		case lossy/bestClean > 1.08:
			rate = (bestClean + lossy) / 2
		default:
			return bestGot, notes, nil
		}
	}
	return bestGot, notes, nil
}

var rttRE = regexp.MustCompile(`time=([0-9.]+) ms`)

// ping sends count echo requests every interval and returns the RTTs in
// milliseconds of those answered.
func (p *path) ping(count int, interval time.Duration) ([]float64, error) {
	out, err := p.a.run("ping", "-n", "-c", strconv.Itoa(count), "-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "1", "-I", p.src, p.dst)
	var rtts []float64
	for _, m := range rttRE.FindAllStringSubmatch(out, -1) {
		if v, perr := strconv.ParseFloat(m[1], 64); perr == nil {
			rtts = append(rtts, v)
		}
	}
	if len(rtts) < count/2 {
		return rtts, fmt.Errorf("%s: ping: %d of %d answered: %v", p.key, len(rtts), count, err)
	}
	return rtts, nil
}
