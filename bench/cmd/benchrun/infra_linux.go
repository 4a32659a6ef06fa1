package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// env is what every measurement needs: where the binaries are, a scratch
// directory, and the registry of what this run made, for cleanup.
type env struct {
	runID    string // namespaces are esptunbench-RUNID-*
	work     string // scratch directory
	root     string // repository root
	esptun   string // esptun binary
	wgGo     string // wireguard-go binary
	ltCharon string // charon built with the load-tester plugin ("" = none)
	ltWhy    string // why there is none

	mu    sync.Mutex
	nss   []string
	procs []*proc
	files []string // files made outside work (removed at the end)
}

var logf = func(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
}

// netns is a network namespace made by this run.
type netns string

func (e *env) newNS(suffix string) (netns, error) {
	name := "esptunbench-" + e.runID + "-" + suffix
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	e.mu.Lock()
	e.nss = append(e.nss, name)
	e.mu.Unlock()
	n := netns(name)
	if _, err := n.run("ip", "link", "set", "lo", "up"); err != nil {
		return "", err
	}
	return n, nil
}

// command is args run inside n (ip netns exec execs it, so the PID is the
// program's own).
func (n netns) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", string(n)}, args...)...)
	// Its own process group: charon's load tester ends with kill(0,
	// SIGTERM), which must not reach this program. Pdeathsig ends it
	// with this program.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// run runs args in n with a two-minute limit and returns the combined
// output; a failure carries it.
func (n netns) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.command(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %s: %v: %s", n, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (n netns) mustRun(args ...string) {
	if _, err := n.run(args...); err != nil {
		panic(err)
	}
}

// proc is a long-running program started by this run.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs cmd in the background with its output in work/NAME.log.
func (e *env) start(name string, cmd *exec.Cmd) (*proc, error) {
	logPath := filepath.Join(e.work, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits up to 10s, then SIGKILL.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanup stops every process and deletes every namespace this run made.
func (e *env) cleanup() {
	e.mu.Lock()
	procs, nss, files := e.procs, e.nss, e.files
	e.procs, e.nss, e.files = nil, nil, nil
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	for _, n := range nss {
		exec.Command("ip", "netns", "delete", n).Run()
	}
	for _, f := range files {
		os.Remove(f)
	}
}

// cpuTicks returns utime+stime of pid in clock ticks (proc(5): fields 14
// and 15 of /proc/PID/stat, after the parenthesised command name).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return u + st, nil
}

// clkTck is sysconf(_SC_CLK_TCK), 100 on every Linux architecture Go
// supports.
const clkTck = 100

// cpuSeconds sums the CPU time of pids, in seconds.
func cpuSeconds(pids []int) float64 {
	var t int64
	for _, p := range pids {
		n, err := cpuTicks(p)
		if err == nil {
			t += n
		}
	}
	return float64(t) / clkTck
}

// rssKiB returns VmRSS of pid in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	k := int(p/100*float64(len(s))+0.999999) - 1
	k = max(0, min(k, len(s)-1))
	return s[k]
}

// waitFor polls f every 100ms until it returns nil or d passes.
func waitFor(d time.Duration, f func() error) error { return waitEvery(d, 100*time.Millisecond, f) }

// waitEvery polls f every interval until it returns nil or d passes.
func waitEvery(d, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}
