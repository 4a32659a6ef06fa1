//go:build linux

package tunnel

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// batchScheduling puts every thread of the process under SCHED_BATCH
// (sched(7)) and returns how many it changed. Threads the Go runtime starts
// later inherit the policy from the thread that clones them, so two passes
// over /proc/self/task catch the threads started during the first.
//
// Why: on a machine where the daemon shares its CPUs with the applications
// that use the tunnel, each batch the data path hands on (a TUN write that
// delivers to a local socket, a send that wakes the peer's reader) wakes
// another task, and under SCHED_OTHER a woken task preempts the one running.
// A SCHED_BATCH thread that wakes does not preempt: the data path and the
// applications take turns at the end of their time slices instead of at
// every hand-over, and the CPUs spend less on thread switches. Measured on
// a two-CPU machine shared with other work, both tunnel ends and iperf3 on
// it (bench/ab.sh, SCHED=batch against SCHED=normal, and the policy of
// running daemons switched every four seconds): about a quarter fewer
// thread switches per GB, and 1-14% less daemon CPU per GB by the medians
// of seven comparisons; the single-stream rate moved within the noise
// (SCHED_BATCH ahead in 29 of 53 pairs); the ping median under load about
// 15% higher, since a wake-up on a busy CPU waits for the end of a slice.
// [daemon] scheduling = "normal" (Options.NormalScheduling) keeps the
// default policy. Only SCHED_OTHER threads are changed (a real-time or idle
// policy set by the operator is left alone), the nice value is kept, and
// no privilege is needed. A failure changes nothing else.
func batchScheduling() (changed int, err error) {
	for pass := 0; pass < 2; pass++ {
		ents, rerr := os.ReadDir("/proc/self/task")
		if rerr != nil {
			return changed, rerr
		}
		for _, e := range ents {
			tid, perr := strconv.Atoi(e.Name())
			if perr != nil {
				continue
			}
			attr, gerr := unix.SchedGetAttr(tid, 0)
			if gerr != nil || attr.Policy != unix.SCHED_NORMAL {
				continue // gone, or not ours to change
			}
			attr.Policy = unix.SCHED_BATCH
			attr.Flags = 0
			if serr := unix.SchedSetAttr(tid, attr, 0); serr != nil {
				if serr == unix.ESRCH {
					continue // the thread exited meanwhile
				}
				err = serr
				continue
			}
			changed++
		}
	}
	return changed, err
}
