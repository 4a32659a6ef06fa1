//go:build linux

package tunnel

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// tunReader reads outbound packets from a TUN device that runs with the
// virtio-net header. One call waits for the first packet, then keeps
// reading what the device already holds, without waiting, until the batch is
// full: a burst of small packets (UDP, say) becomes one batch and one
// sendmmsg instead of one each. Super-packets are cut into segments
// (tso.go). A super-packet that does not fit the rest of a batch waits for
// the next one. It is used by one goroutine at a time.
type tunReader struct {
	rc      syscall.RawConn
	buf     []byte // one read: the virtio-net header and up to 64 KiB
	sp      superPacket
	pending bool // sp holds a read super-packet not yet split
	n       int  // bytes of the last read; 0: nothing was there
	wait    bool
	err     error
	fn      func(fd uintptr) bool
}

// newTUNReader returns the reader for dev, or nil when dev has no
// virtio-net header: then dev.Read is used.
func newTUNReader(dev tun.Device) *tunReader {
	if dev.BatchSize() <= 1 {
		return nil
	}
	rc, err := dev.File().SyscallConn()
	if err != nil {
		return nil
	}
	r := &tunReader{rc: rc, buf: make([]byte, virtioHdrLen+65535)}
	r.fn = r.readFD
	return r
}

// read fills bufs[i][off:] with packets and sizes with their lengths, and
// returns how many, and how many packets were dropped as malformed or too
// large for the buffers. It waits for the first packet only.
func (r *tunReader) read(bufs [][]byte, sizes []int, off int) (n, dropped int, err error) {
	for n < len(bufs) {
		if !r.pending {
			r.wait = n == 0 && dropped == 0
			if err := r.readOne(); err != nil {
				if n > 0 {
					return n, dropped, nil // the next call reports it
				}
				return 0, dropped, err
			}
			if r.n == 0 {
				if n == 0 && dropped > 0 {
					return 0, dropped, nil
				}
				break // nothing more there
			}
			if r.sp.decode(r.buf[:r.n]) != nil || r.sp.hdrLen+r.sp.payload > len(bufs[n])-off {
				dropped++
				continue
			}
			r.pending = true
		}
		if r.sp.segs > len(bufs)-n {
			if n > 0 {
				break // it starts the next batch
			}
			dropped += r.sp.segs // more segments than a whole batch holds
			r.pending = false
			continue
		}
		n += r.sp.split(bufs[n:], sizes[n:], off)
		r.pending = false
	}
	return n, dropped, nil
}

func (r *tunReader) readOne() error {
	r.n, r.err = 0, nil
	if err := r.rc.Read(r.fn); err != nil {
		return err
	}
	return r.err
}

// readFD is the RawConn.Read callback: false waits for the device to be
// readable, which only the first read of a batch does.
//
// The data-path system calls are made with RawSyscall: the descriptors are
// non-blocking, so no call sleeps, and leaving out the runtime's system-call
// bookkeeping keeps sysmon from handing this goroutine's P to another
// thread while a long call (a 64 KiB super-packet) runs. Those hand-overs
// and the thread wake-ups behind them cost about a sixth of the daemons'
// CPU (docs/performance.md).
func (r *tunReader) readFD(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)))
		switch errno {
		case 0:
			r.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return !r.wait
		default:
			r.err = errno
			return true
		}
	}
}
