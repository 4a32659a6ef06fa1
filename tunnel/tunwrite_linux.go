//go:build linux

package tunnel

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// tunWriter writes inbound batches to a TUN device that runs with the
// virtio-net header, coalescing segments into super-packets (gro.go) that
// each go to the kernel with one writev: the first segment whole, then the
// payloads of the others where they lie, so nothing is copied in user space.
// It is used by one goroutine at a time (the caller holds finishMu).
type tunWriter struct {
	rc    syscall.RawConn
	plan  groPlan
	inner [][]byte
	iov   []unix.Iovec
	saved [120]byte // the first segment's headers, while a super-packet is tried
	werr  error
	fn    func(fd uintptr) bool
}

// newTUNWriter returns the writer for dev, or nil when dev has no
// virtio-net header (no offloads): then plain writes are all there is.
func newTUNWriter(dev tun.Device) *tunWriter {
	if dev.BatchSize() <= 1 {
		return nil
	}
	rc, err := dev.File().SyscallConn()
	if err != nil {
		return nil
	}
	w := &tunWriter{
		rc:    rc,
		inner: make([][]byte, 0, batchCap),
		iov:   make([]unix.Iovec, 0, batchCap),
	}
	w.plan.runs = make([]groRun, 0, batchCap)
	w.plan.next = make([]int, batchCap)
	// UDP GSO on TUN devices came with Linux 6.2. wireguard's tun package
	// has asked for it already; asking again tells whether the kernel
	// agreed (an unknown flag is refused without changing anything).
	_ = rc.Control(func(fd uintptr) {
		w.plan.udp = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD,
			unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6|unix.TUN_F_USO4|unix.TUN_F_USO6) == nil
	})
	w.fn = w.writev
	return w
}

// write writes the packets of out, each with tunWriteOffset bytes of room
// in front of it, and returns how many writes failed. It may change the
// packets' headers and the room in front of them.
func (w *tunWriter) write(out [][]byte) int {
	w.inner = w.inner[:0]
	for _, b := range out {
		w.inner = append(w.inner, b[tunWriteOffset:])
	}
	w.plan.plan(w.inner)
	failed := 0
	for i := range w.plan.runs {
		r := &w.plan.runs[i]
		head := out[r.head][tunWriteOffset-virtioHdrLen:]
		if r.n > 1 {
			copy(w.saved[:], head[virtioHdrLen:virtioHdrLen+r.hdrLen])
		}
		r.finish(head)
		w.iov = append(w.iov[:0], iovec(head))
		for j := w.plan.next[r.head]; j >= 0; j = w.plan.next[j] {
			w.iov = append(w.iov, iovec(w.inner[j][r.hdrLen:]))
		}
		if w.flush() == nil {
			continue
		}
		if r.n == 1 {
			failed++
			continue
		}
		// The kernel refused the super-packet: restore the first
		// segment's headers and write the segments one by one.
		copy(head[virtioHdrLen:], w.saved[:r.hdrLen])
		for j := r.head; j >= 0; j = w.plan.next[j] {
			h := out[j][tunWriteOffset-virtioHdrLen:]
			clear(h[:virtioHdrLen])
			w.iov = append(w.iov[:0], iovec(h))
			if w.flush() != nil {
				failed++
			}
		}
	}
	return failed
}

func iovec(b []byte) unix.Iovec {
	v := unix.Iovec{Base: &b[0]}
	v.SetLen(len(b))
	return v
}

func (w *tunWriter) flush() error {
	w.werr = nil
	if err := w.rc.Write(w.fn); err != nil {
		return err
	}
	return w.werr
}

// writev is the RawConn.Write callback; false waits for the device to take
// more. A raw system call, as readFD explains: the descriptor is
// non-blocking.
func (w *tunWriter) writev(fd uintptr) bool {
	_, _, errno := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	switch errno {
	case 0:
	case unix.EAGAIN:
		return false
	case unix.EINTR:
		return w.writev(fd)
	default:
		w.werr = errno
	}
	return true
}
