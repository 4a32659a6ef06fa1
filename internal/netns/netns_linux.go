//go:build linux

package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NS is a named network namespace made by New, visible to ip(8) as
// /run/netns/NAME.
type NS struct{ Name string }

// Available reports why the harness cannot run on this machine: it needs
// root (CAP_SYS_ADMIN and CAP_NET_ADMIN), /dev/net/tun and ip(8).
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: needs root (network namespaces, TUN devices)")
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("netns: no usable /dev/net/tun: %w", err)
	}
	f.Close()
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("netns: ip(8) from iproute2 is not installed")
	}
	return nil
}

// New creates the network namespace name and brings its loopback up. It
// fails if a namespace of that name exists already: callers pick names
// unique to themselves and only ever delete what they created.
func New(name string) (*NS, error) {
	if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
		return nil, fmt.Errorf("netns: %s exists already", name)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("netns: ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	n := &NS{Name: name}
	if _, err := n.Run("ip", "link", "set", "lo", "up"); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
}

// Delete removes the namespace. Processes still running in it keep it
// alive until they exit, so callers stop their processes first.
func (n *NS) Delete() error {
	out, err := exec.Command("ip", "netns", "delete", n.Name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip netns delete %s: %v: %s", n.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Command returns a command that runs name with args inside the namespace.
// ip netns exec execs the program, so the started process's PID is the
// program's own and signals sent to cmd.Process reach it directly.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs args[0] with args[1:] in the namespace and returns its combined
// output; a non-zero exit is an error that carries the output.
func (n *NS) Run(args ...string) (string, error) {
	out, err := n.Command(context.Background(), args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s: %v: %s", n.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Do runs fn on an OS thread that has entered the namespace. Sockets that fn
// opens belong to the namespace for their whole life, whichever goroutine
// uses them afterwards. fn must not start goroutines that expect to be in
// the namespace. The thread is never returned to the scheduler: it exits
// with the goroutine, so no other goroutine can end up in the namespace.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread dies with this goroutine
		fd, err := unix.Open(filepath.Join("/run/netns", n.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns: open %s: %w", n.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("netns: setns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Veth joins a and b with a veth pair named aName in a and bName in b and
// sets both ends up.
func Veth(a *NS, aName string, b *NS, bName string) error {
	if _, err := a.Run("ip", "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name); err != nil {
		return err
	}
	if _, err := a.Run("ip", "link", "set", aName, "up"); err != nil {
		return err
	}
	_, err := b.Run("ip", "link", "set", bName, "up")
	return err
}
