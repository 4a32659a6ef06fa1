//go:build linux

package testlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/netns"
)

// Report is how a failure found in a cleanup is told: t.Errorf where it
// fails the test, t.Logf where it does not.
type Report func(format string, args ...any)

// Prefix is the name prefix of one lab: base, the test binary's PID and n,
// as in "esptunsoak-4242-3". RemoveStale recognizes it by base and PID.
func Prefix(base string, n int64) string {
	return fmt.Sprintf("%s%d-%d", base, os.Getpid(), n)
}

// NS creates the namespace name; when the test ends it is deleted, with its
// /etc/netns/NAME directory (see ResolvConf). A failed delete is reported.
// Cleanups run last registered first, so processes started in the
// namespace later stop before it goes.
func NS(tb testing.TB, name string, report Report) (*netns.NS, error) {
	ns, err := netns.New(name)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		if err := ns.Delete(); err != nil {
			report("cleanup: %v", err)
		}
		os.RemoveAll(filepath.Join("/etc/netns", name))
	})
	return ns, nil
}

// Link joins a and b by a veth pair aDev-bDev and puts the addresses on
// their ends (IPv6 ones without duplicate address detection, usable at
// once). Prefixes are like "10.77.0.1/24".
func Link(a *netns.NS, aDev string, aAddrs []string, b *netns.NS, bDev string, bAddrs []string) error {
	if err := netns.Veth(a, aDev, b, bDev); err != nil {
		return err
	}
	for _, side := range []struct {
		ns    *netns.NS
		dev   string
		addrs []string
	}{{a, aDev, aAddrs}, {b, bDev, bAddrs}} {
		for _, p := range side.addrs {
			if err := AddAddr(side.ns, side.dev, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddAddr puts prefix p on dev in ns (nodad for IPv6).
func AddAddr(ns *netns.NS, dev, p string) error {
	args := []string{"ip", "addr", "add", p, "dev", dev}
	if strings.Contains(p, ":") {
		args = append(args, "nodad")
	}
	_, err := ns.Run(args...)
	return err
}

// Bridge adds the bridge dev to ns with the MAC address mac, sets it up
// and puts prefix p on it. A fixed MAC: a bridge without one takes the
// lowest of its ports', so it would change as ports join, and the
// neighbours' ARP entries for it would go stale.
func Bridge(ns *netns.NS, dev, mac, p string) error {
	for _, args := range [][]string{
		{"ip", "link", "add", dev, "address", mac, "type", "bridge"},
		{"ip", "link", "set", dev, "up"},
	} {
		if _, err := ns.Run(args...); err != nil {
			return err
		}
	}
	return AddAddr(ns, dev, p)
}

// HasAddr reports whether a is an address of dev in ns.
func HasAddr(ns *netns.NS, dev string, a netip.Addr) bool {
	out, err := ns.Run("ip", "-o", "addr", "show", "dev", dev)
	return err == nil && strings.Contains(out, " "+a.String()+"/")
}

// ResolvConf writes /etc/netns/NAME/resolv.conf for ns and returns its
// path. ip netns exec bind-mounts it over /etc/resolv.conf, so a daemon
// that applies DNS inside the namespace writes this file and never the
// host's. NS removes the directory at the end.
func ResolvConf(ns *netns.NS, content string) (string, error) {
	etc := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(etc, "resolv.conf")
	return path, os.WriteFile(path, []byte(content), 0o644)
}

// RemoveStale deletes the namespaces and /etc/netns directories named
// base+PID+"-..." whose PID no longer runs: what a test binary that died
// outright left behind. Names of other patterns, and of this process or
// any live one, are left alone.
func RemoveStale(base string) {
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `(\d+)-`)
	for _, dir := range []string{"/run/netns", "/etc/netns"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			m := re.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			pid, _ := strconv.Atoi(m[1])
			if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
				continue
			}
			if dir == "/run/netns" {
				exec.Command("ip", "netns", "delete", e.Name()).Run()
			} else {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// RouteDev returns the device ns's kernel routes dst through ("" if the
// answer names none).
func RouteDev(ns *netns.NS, dst netip.Addr) (string, error) {
	out, err := ns.Run("ip", "-o", "route", "get", dst.String())
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "dev" && i+1 < len(f) {
			return f[i+1], nil
		}
	}
	return "", nil
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// Supervise starts cmd and watches it. exited gets cmd.Wait's result
// before the returned channel closes. When the test ends a process still
// running gets SIGTERM and, if it has not exited after grace, SIGKILL, and
// report is told (a daemon must exit on SIGTERM); then, if the test failed,
// onFail runs (to show the process's output).
func Supervise(tb testing.TB, name string, cmd *exec.Cmd, grace time.Duration, report Report, exited func(error), onFail func()) (chan struct{}, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		exited(cmd.Wait())
		close(done)
	}()
	tb.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(grace):
				report("%s: esptun did not exit within %v of SIGTERM; killed", name, grace)
				cmd.Process.Kill()
				<-done
			}
		}
		if tb.Failed() && onFail != nil {
			onFail()
		}
	})
	return done, nil
}

// Poll errors.
var (
	ErrExited  = errors.New("exited")
	ErrTimeout = errors.New("timed out")
)

// Poll calls ready every interval until it holds (nil), alive does not
// (ErrExited), or timeout passes (ErrTimeout). alive may be nil.
func Poll(timeout, interval time.Duration, alive, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if alive != nil && !alive() {
			return ErrExited
		}
		if ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		time.Sleep(interval)
	}
}

// SocketAnswers returns a ready function for Poll: the control socket sock
// exists and status answers (status is the suite's way to run esptun
// status against it).
func SocketAnswers(sock string, status func() bool) func() bool {
	return func() bool {
		if _, err := os.Stat(sock); err != nil {
			return false
		}
		return status()
	}
}
