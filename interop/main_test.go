//go:build interop && linux

package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/netns"
)

// nsPrefix starts the name of every network namespace this suite makes; the
// process ID follows so that a later run can tell leftovers of a run that
// died (its PID is gone) from namespaces of a run still going.
const nsPrefix = "esptunix-"

var (
	// prereq is why the suite cannot run here ("" when it can).
	prereq string
	// esptunBin is the esptun binary under test (built by TestMain, or
	// $ESPTUN), and esptunBuildErr why there is none.
	esptunBin      string
	esptunBuildErr error
	// runDir holds what is shared by the whole run (the binary, the PKI).
	runDir string
)

const (
	charonBin  = "/usr/lib/ipsec/charon"
	swanctlBin = "swanctl"
)

func TestMain(m *testing.M) {
	prereq = checkPrereq()
	var err error
	runDir, err = os.MkdirTemp("", nsPrefix+"run-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(2)
	}
	if prereq == "" {
		removeStaleNamespaces()
		esptunBin, esptunBuildErr = buildEsptun(runDir)
	}
	code := m.Run()
	printSummary(os.Stdout)
	os.RemoveAll(runDir)
	os.Exit(code)
}

func checkPrereq() string {
	if err := netns.Available(); err != nil {
		return err.Error()
	}
	if _, err := os.Stat(charonBin); err != nil {
		return "strongSwan's charon is not installed (" + charonBin + "); run interop/install.sh"
	}
	if _, err := exec.LookPath(swanctlBin); err != nil {
		return "swanctl is not installed; run interop/install.sh"
	}
	if _, err := os.Stat("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"); err != nil {
		return "strongSwan's kernel-libipsec plugin is not installed (libcharon-extra-plugins); run interop/install.sh"
	}
	if _, err := exec.LookPath("pki"); err != nil {
		return "strongSwan's pki is not installed (strongswan-pki); run interop/install.sh"
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		return "openssl is not installed; run interop/install.sh"
	}
	return ""
}

// requirePrereq skips t when the machine cannot run the suite. A top-level
// test that skips this way shows in the summary as one skipped cell.
func requirePrereq(t *testing.T) {
	t.Helper()
	if prereq != "" {
		if !strings.Contains(t.Name(), "/") {
			cell(t)
		}
		skipf(t, "%s", prereq)
	}
}

// buildEsptun builds cmd/esptun into dir, unless $ESPTUN names a binary.
func buildEsptun(dir string) (string, error) {
	if p := os.Getenv("ESPTUN"); p != "" {
		return filepath.Abs(p)
	}
	out := filepath.Join(dir, "esptun")
	cmd := exec.Command("go", "build", "-o", out, "github.com/esptun/esptun/cmd/esptun")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/esptun: %v: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// removeStaleNamespaces deletes namespaces that an earlier run of this suite
// made and could not remove because it died (its PID no longer exists).
// Only names of this suite's own pattern are considered.
func removeStaleNamespaces() {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(nsPrefix) + `(\d+)-`)
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		exec.Command("ip", "netns", "delete", e.Name()).Run()
	}
}

// Long-lived child processes (charon, esptun) are started from one OS
// thread that never exits, so that their parent-death signal fires only
// when the test binary itself dies (a timeout panic, a kill): Linux sends
// it when the forking thread exits, and Go retires threads that end locked.
var spawnReqs = make(chan spawnReq)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func init() {
	go func() {
		runtime.LockOSThread()
		for r := range spawnReqs {
			r.err <- r.cmd.Start()
		}
	}()
}

// startChild starts cmd so that it is SIGKILLed if the test binary dies.
func startChild(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	r := spawnReq{cmd, make(chan error, 1)}
	spawnReqs <- r
	return <-r.err
}

// The matrix summary: every cell (a test or subtest that called cell)
// ends up as PASS, FAIL or SKIP with the first reason it gave.

type cellResult struct {
	name   string
	status string
	reason string
	dur    time.Duration
}

var (
	cellsMu sync.Mutex
	cells   []*cellResult
	reasons = map[*testing.T]*cellResult{}
)

// cell registers t as a cell of the summary.
func cell(t *testing.T) {
	t.Helper()
	r := &cellResult{name: t.Name()}
	start := time.Now()
	cellsMu.Lock()
	cells = append(cells, r)
	reasons[t] = r
	cellsMu.Unlock()
	t.Cleanup(func() {
		cellsMu.Lock()
		defer cellsMu.Unlock()
		r.dur = time.Since(start)
		switch {
		case t.Skipped():
			r.status = "SKIP"
		case t.Failed():
			r.status = "FAIL"
		default:
			r.status = "PASS"
			r.reason = ""
		}
		delete(reasons, t)
	})
}

func note(t *testing.T, msg string) {
	cellsMu.Lock()
	defer cellsMu.Unlock()
	if r := reasons[t]; r != nil && r.reason == "" {
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if len(msg) > 160 {
			msg = msg[:160] + "..."
		}
		r.reason = msg
	}
}

// fatalf, errorf and skipf are t.Fatalf, t.Errorf and t.Skipf that also
// keep the first message as the cell's reason in the summary.
func fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	note(t, fmt.Sprintf(format, args...))
	t.Fatalf(format, args...)
}

func errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	note(t, fmt.Sprintf(format, args...))
	t.Errorf(format, args...)
}

func skipf(t *testing.T, format string, args ...any) {
	t.Helper()
	note(t, fmt.Sprintf(format, args...))
	t.Skipf(format, args...)
}

func printSummary(w *os.File) {
	cellsMu.Lock()
	defer cellsMu.Unlock()
	if len(cells) == 0 {
		return
	}
	width := 0
	for _, c := range cells {
		width = max(width, len(c.name))
	}
	var pass, fail, skip int
	fmt.Fprintln(w, "\n=== interop matrix ===")
	for _, c := range cells {
		st := c.status
		if st == "" {
			st = "FAIL" // never finished: the run was cut short
			c.reason = "did not finish"
		}
		switch st {
		case "PASS":
			pass++
		case "FAIL":
			fail++
		case "SKIP":
			skip++
		}
		line := fmt.Sprintf("%-*s  %s  %6.1fs", width, c.name, st, c.dur.Seconds())
		if c.reason != "" {
			line += "  " + c.reason
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "interop: %d passed, %d failed, %d skipped\n", pass, fail, skip)
}
