//go:build linux

package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/testlab"
)

// esptunBin is the esptun binary, built once by TestMain; the suite drives
// it only through its command line and control socket, as users do.
var esptunBin string

// full is set by ESPTUN_SOAK=full: the long variants run.
var full = os.Getenv("ESPTUN_SOAK") == "full"

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "esptunsoak-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// ESPTUN_SOAK_BIN runs the suite against a given binary instead.
	if bin := os.Getenv("ESPTUN_SOAK_BIN"); bin != "" {
		esptunBin = bin
		code := m.Run()
		printResults()
		return code
	}
	esptunBin = filepath.Join(dir, "esptun")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	build := exec.Command(goTool, "build", "-o", esptunBin, "../cmd/esptun")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "soak: building esptun: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	printResults()
	return code
}

// result is one scenario's outcome for the summary table.
type result struct {
	scenario, criterion, figure string
	passed                      bool
}

var (
	resultsMu sync.Mutex
	results   []*result
)

// record logs a scenario's pass criterion and measured figure, and keeps
// them for the table printed at the end; the test's outcome is filled in
// when it ends.
func record(t *testing.T, scenario, criterion, figure string) {
	t.Helper()
	variant := "short"
	if full {
		variant = "full"
	}
	r := &result{scenario: scenario + " (" + variant + ")", criterion: criterion, figure: figure}
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
	t.Logf("soak result: %s | %s | %s", r.scenario, criterion, figure)
	t.Cleanup(func() { r.passed = !t.Failed() })
}

func printResults() {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	fmt.Printf("=== soak results (%s) ===\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Println("| scenario | pass criterion | measured figure | outcome |")
	fmt.Println("|---|---|---|---|")
	for _, r := range results {
		outcome := "FAIL"
		if r.passed {
			outcome = "PASS"
		}
		fmt.Printf("| %s | %s | %s | %s |\n", r.scenario, r.criterion, r.figure, outcome)
	}
}

// runCLI runs esptun with args and returns its combined output and exit
// code.
func runCLI(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, esptunBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("esptun %s: no exit within %v; output:\n%s", strings.Join(args, " "), timeout, out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("esptun %s: %v", strings.Join(args, " "), err)
		return "", -1
	}
}

// lockedBuffer collects a daemon's output from its copying goroutines.
type lockedBuffer = testlab.Buffer
