//go:build linux

package soak

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/control"
)

// rekeyNow asks g's daemon to rekey the Child SA (kind "child") or the IKE
// SA ("ike"), either with esptun rekey or, viaSocket, by sending the same
// request to the control socket from this process, which starts within
// microseconds of the call rather than after a process start. It is safe
// to call from any goroutine.
func rekeyNow(g *gateway, kind string, viaSocket bool) error {
	name := childName
	if kind == "ike" {
		name = connName
	}
	if viaSocket {
		err := control.CallTimeout(g.sock, control.Request{Cmd: "rekey", Args: map[string]string{kind: name, "timeout": "30s"}}, nil, 30*time.Second)
		if err != nil {
			return fmt.Errorf("gateway %s: rekey --%s %s through the control socket: %w", g.name, kind, name, err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, esptunBin, "rekey", "--"+kind, name, "-s", g.sock).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gateway %s: esptun rekey --%s %s: %v: %s", g.name, kind, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rekeyTogether triggers a rekey of kind on both gateways at once: two
// goroutines wait on one channel and both start when it is closed. It
// returns how far apart the two starts were.
func rekeyTogether(a, b *gateway, kind string, viaSocket bool) (time.Duration, []error) {
	release := make(chan struct{})
	var (
		wg     sync.WaitGroup
		starts [2]time.Time
		errs   [2]error
	)
	for i, g := range []*gateway{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			starts[i] = time.Now()
			errs[i] = rekeyNow(g, kind, viaSocket)
		}()
	}
	close(release)
	wg.Wait()
	skew := starts[0].Sub(starts[1]).Abs()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return skew, out
}

// rekeyOp is one step of the rekey schedule.
type rekeyOp struct {
	kind      string // "child" | "ike"
	who       string // "a", "b" or "both"
	viaSocket bool   // both: through the control socket, not esptun rekey
}

func (op rekeyOp) String() string {
	s := op.who + ":" + op.kind
	if op.who == "both" {
		if op.viaSocket {
			s += "(socket)"
		} else {
			s += "(cli)"
		}
	}
	return s
}

// rekeySchedule is childOps Child SA rekeys, from A, from B, from both at
// once through the control socket and from both at once with two esptun
// rekey processes, in turn, with an IKE SA rekey after every third (from A,
// B, both through the socket, both with esptun rekey, in turn).
func rekeySchedule(childOps int) []rekeyOp {
	who := []rekeyOp{{who: "a"}, {who: "b"}, {who: "both", viaSocket: true}, {who: "both"}}
	var ops []rekeyOp
	ike := 0
	for i := range childOps {
		op := who[i%len(who)]
		op.kind = "child"
		ops = append(ops, op)
		if i%3 == 2 {
			op := who[ike%len(who)]
			op.kind = "ike"
			ops = append(ops, op)
			ike++
		}
	}
	return ops
}

// TestRekeyUnderLoad rekeys the Child SA and the IKE SA over and over from
// both ends, sometimes from both at the same moment (RFC 7296 2.8.1 and
// 2.8.2 collisions), while a UDP stream of sequence-numbered 1000-byte
// datagrams and a TCP transfer run through the tunnel: make-before-break
// rekeying must lose no datagram, and the TCP transfer must arrive whole.
func TestRekeyUnderLoad(t *testing.T) {
	childOps, rate, tcpRate := 10, 5000, int64(1<<20)
	if full {
		childOps, rate, tcpRate = 100, 20000, 2<<20
	}
	// A DELETE that the peer does not answer (for an IKE SA it no longer
	// has) is given up after 1+1.5+2.25+3.375s; the final check waits
	// that long for such leftovers.
	const deleteBudget = 8125 * time.Millisecond
	gw := gwConfig{retransmitTimeout: "1s", retransmitBase: 1.5, retransmitTries: ptr(3)}
	a := gw
	a.startAction = "start"
	l := newLab(t, labConfig{topo: direct, a: a, b: gw})
	sa0, _ := l.established(t, 20*time.Second, true)
	l.a.pingEventually(t, l.b, 10*time.Second)

	ncA0, ncB0 := l.a.netCounters(t), l.b.netCounters(t)
	stream := startUDPStream(t, l.a, l.b, 9000, rate, 1000)
	var stopTCP atomic.Bool
	tcp := startTCPTransfer(t, l.a, l.b, tcpRate, func() bool { return !stopTCP.Load() })
	time.Sleep(500 * time.Millisecond)

	ops := rekeySchedule(childOps)
	var (
		skews   []time.Duration
		slowest time.Duration
		failed  []string
		nChild  int
		nIKE    int
	)
	start := time.Now()
	type span struct {
		op         string
		start, end time.Duration // since the stream started
	}
	var spans []span
	for i, op := range ops {
		opStart := time.Now()
		var errs []error
		switch op.who {
		case "a":
			if err := rekeyNow(l.a, op.kind, false); err != nil {
				errs = append(errs, err)
			}
		case "b":
			if err := rekeyNow(l.b, op.kind, false); err != nil {
				errs = append(errs, err)
			}
		default:
			var skew time.Duration
			skew, errs = rekeyTogether(l.a, l.b, op.kind, op.viaSocket)
			skews = append(skews, skew)
		}
		for _, err := range errs {
			failed = append(failed, fmt.Sprintf("op %d %v: %v", i, op, err))
		}
		if op.kind == "child" {
			nChild++
		} else {
			nIKE++
		}
		// The next rekey starts once both sides hold one Child SA again;
		// the replaced inbound SAs may linger a moment.
		l.established(t, 15*time.Second, false)
		slowest = max(slowest, time.Since(opStart))
		spans = append(spans, span{fmt.Sprintf("op %d %v", i, op), opStart.Sub(stream.started), time.Since(stream.started)})
	}
	rekeying := time.Since(start)
	stopTCP.Store(true)
	tcpBytes, tcpErr := tcp.wait(2 * time.Minute)
	res := stream.stop(2 * time.Second)
	ncA1, ncB1 := l.a.netCounters(t), l.b.netCounters(t)
	_, kA := kernelDrops(ncA0, ncA1)
	_, kB := kernelDrops(ncB0, ncB1)

	t.Logf("%d rekeys (%d child, %d IKE) in %v, slowest %v; simultaneous ones started %v apart",
		len(ops), nChild, nIKE, rekeying.Round(time.Millisecond), slowest.Round(time.Millisecond), skews)
	t.Logf("UDP stream: %v", res)
	t.Logf("kernel drops: A %s; B %s", kA, kB)
	for _, f := range failed {
		t.Errorf("rekey failed: %s", f)
	}
	if res.lost() != 0 {
		// Which rekeys were under way when the first lost datagrams were
		// sent (the sender keeps to its rate within a millisecond).
		var near []string
		for _, seq := range res.missing {
			at := time.Duration(float64(seq) / float64(rate) * float64(time.Second))
			for _, sp := range spans {
				if at >= sp.start-100*time.Millisecond && at <= sp.end+100*time.Millisecond {
					near = append(near, fmt.Sprintf("seq %d at %v: %s (%v-%v)", seq, at.Round(time.Millisecond), sp.op, sp.start.Round(time.Millisecond), sp.end.Round(time.Millisecond)))
				}
			}
		}
		t.Errorf("UDP stream lost %d of %d datagrams across %d rekeys (first %v); rekeys around them: %s",
			res.lost(), res.sent, len(ops), res.missing, strings.Join(near, "; "))
	}
	if tcpErr != nil {
		t.Errorf("TCP transfer across the rekeys: %v", tcpErr)
	}
	settleStart := time.Now()
	sa, _ := l.established(t, deleteBudget+3*time.Second, true)
	settleTime := time.Since(settleStart)
	if sa.SPIi == sa0.SPIi && nIKE > 0 {
		t.Errorf("IKE SA SPIs unchanged after %d IKE rekeys", nIKE)
	}
	for _, g := range []*gateway{l.a, l.b} {
		st := g.status(t)
		for _, esp := range st.SAs {
			for reason, n := range esp.Drops {
				if n != 0 {
					t.Errorf("gateway %s: ESP SA %s %s: %d %s drops", g.name, esp.Direction, esp.SPI, n, reason)
				}
			}
		}
		t.Logf("gateway %s: global drops after the rekeys: %v; on the SAs deleted since: %v", g.name, st.Drops, st.DeletedSADrops)
	}
	logs := l.a.out.String() + l.b.out.String()
	childCollisions, ikeCollisions := strings.Count(logs, "msg=\"rekey collision"), strings.Count(logs, "msg=\"IKE rekey collision")
	// An IKE SA left over from a collision that the peer never deleted,
	// and which it does not know: its DELETE goes unanswered until the
	// retransmissions give up.
	unanswered := strings.Count(logs, "the peer did not delete it")
	t.Logf("collisions resolved (RFC 7296 2.8.1, 2.8.2): %d Child SA, %d IKE SA; redundant IKE SAs the peer did not delete: %d; settled %v after the last rekey",
		childCollisions, ikeCollisions, unanswered, settleTime.Round(time.Millisecond))
	var maxSkew time.Duration
	for _, s := range skews {
		maxSkew = max(maxSkew, s)
	}
	record(t, fmt.Sprintf("rekey under load, %d datagrams/s", rate),
		fmt.Sprintf("%d Child + %d IKE SA rekeys (%d simultaneous from both ends) lose 0 of the UDP datagrams; TCP sha256 matches", nChild, nIKE, len(skews)),
		fmt.Sprintf("%d/%d datagrams lost over %v; TCP %d MiB sha256 %s; simultaneous starts at most %v apart, collisions %d Child + %d IKE, %d redundant IKE SAs left to their DELETE's retransmissions; slowest rekey %v",
			res.lost(), res.sent, rekeying.Round(time.Second), tcpBytes>>20, map[bool]string{true: "equal", false: "DIFFERENT"}[tcpErr == nil],
			maxSkew.Round(time.Microsecond), childCollisions, ikeCollisions, unanswered, slowest.Round(time.Millisecond)))
}
