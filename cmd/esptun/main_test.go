package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/testlab"
)

// esptunBin is the esptun binary built once for the whole package by
// TestMain; the tests drive it only through its command line, as users do.
var esptunBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "esptune2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	esptunBin = filepath.Join(dir, "esptun")
	if runtime.GOOS == "windows" {
		esptunBin += ".exe"
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	build := exec.Command(goTool, "build", "-o", esptunBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building esptun for the end-to-end tests: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// runCLI runs esptun with args and returns its combined output and exit
// code; err is set only when the binary could not be run at all.
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

func TestVersion(t *testing.T) {
	out, code := runCLI(t, 10*time.Second, "version")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("esptun version: exit %d, output %q; want exit 0 and a version", code, out)
	}
}

func TestCheckExamples(t *testing.T) {
	for _, f := range []string{"gw-a.toml", "gw-b.toml"} {
		path := filepath.Join("..", "..", "examples", f)
		if out, code := runCLI(t, 10*time.Second, "check", "-c", path); code != 0 {
			t.Errorf("esptun check -c %s: exit %d; output:\n%s", path, code, out)
		}
	}
}

// TestCheckErrors checks the contract of esptun check on a broken file:
// exit 1 and one "FILE:LINE: key: message" line per problem, pointing at
// the line of the offending key.
func TestCheckErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	conf := strings.Join([]string{
		`[tun]`,                          // 1
		`mtu = 99999`,                    // 2: out of range
		`bogus_key = 1`,                  // 3: unknown key
		``,                               // 4
		`[manual.site]`,                  // 5
		`remote_addr = "10.77.0.2:4500"`, // 6
		`local_ts = ["10.78.1.0/24"]`,    // 7
		`remote_ts = ["10.78.2.0/24"]`,   // 8
		`esp = "aes999gcm"`,              // 9: unknown suite
		`spi_out = "0xc0000001"`,         // 10
		`key_out = "0x0011"`,             // 11: too short for any suite
		`spi_in = "0xc0000002"`,          // 12
		`key_in = "0x0011"`,              // 13
		``,
	}, "\n")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, 10*time.Second, "check", "-c", path)
	if code != 1 {
		t.Fatalf("esptun check on a broken file: exit %d, want 1; output:\n%s", code, out)
	}
	re := regexp.MustCompile(`^(.+):([0-9]+): (\S+): (.+)$`)
	lines := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q is not FILE:LINE: key: message", l)
			continue
		}
		if m[1] != path {
			t.Errorf("line %q names file %q, want %q", l, m[1], path)
		}
		lines[m[2]] = true
	}
	for _, want := range []string{"2", "3", "9"} {
		if !lines[want] {
			t.Errorf("no error reported at line %s; output:\n%s", want, out)
		}
	}
}

func TestExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.toml")
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"no-such-verb"}, 1},
		{[]string{"check", "-c", missing}, 1},
		{[]string{"up", "-c", missing}, 1},
		{[]string{"status", "-s", filepath.Join(t.TempDir(), "nobody.sock")}, 2},
		{[]string{"stats", "-s", filepath.Join(t.TempDir(), "nobody.sock")}, 2},
	} {
		out, code := runCLI(t, 10*time.Second, c.args...)
		if code != c.code {
			t.Errorf("esptun %s: exit %d, want %d; output:\n%s", strings.Join(c.args, " "), code, c.code, out)
		}
	}
}

// lockedBuffer collects a child's output from its copying goroutines.
type lockedBuffer = testlab.Buffer
