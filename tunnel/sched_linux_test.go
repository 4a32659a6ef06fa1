//go:build linux

package tunnel

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// threadPolicies returns the scheduler policy and nice value of every thread
// of the process.
func threadPolicies(t *testing.T) map[int]*unix.SchedAttr {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int]*unix.SchedAttr)
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			out[tid] = a
		}
	}
	return out
}

func TestBatchScheduling(t *testing.T) {
	before := threadPolicies(t)
	t.Cleanup(func() {
		// Put the test process back as it was, for the tests that follow.
		for tid, a := range threadPolicies(t) {
			if a.Policy == unix.SCHED_BATCH {
				a.Policy = unix.SCHED_NORMAL
				_ = unix.SchedSetAttr(tid, a, 0)
			}
		}
	})
	normal := 0
	for _, a := range before {
		if a.Policy == unix.SCHED_NORMAL {
			normal++
		}
	}
	changed, err := batchScheduling()
	if err != nil {
		t.Fatalf("batchScheduling: %v", err)
	}
	if normal > 0 && changed == 0 {
		t.Fatalf("%d threads under SCHED_OTHER, none changed", normal)
	}
	for tid, a := range threadPolicies(t) {
		b, ok := before[tid]
		if !ok {
			continue
		}
		want := b.Policy
		if want == unix.SCHED_NORMAL {
			want = unix.SCHED_BATCH
		}
		if a.Policy != want {
			t.Errorf("thread %d: policy %d, want %d", tid, a.Policy, want)
		}
		if a.Nice != b.Nice {
			t.Errorf("thread %d: nice %d, was %d", tid, a.Nice, b.Nice)
		}
	}

	// Threads the runtime starts afterwards inherit the policy: goroutines
	// locked to their threads and parked together force new ones.
	const n = 4
	var wg sync.WaitGroup
	release := make(chan struct{})
	policies := make(chan uint32, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			a, err := unix.SchedGetAttr(0, 0)
			if err != nil {
				policies <- ^uint32(0)
			} else {
				policies <- a.Policy
			}
			<-release
		}()
	}
	for i := 0; i < n; i++ {
		if p := <-policies; p != unix.SCHED_BATCH {
			t.Errorf("thread started after batchScheduling: policy %d, want SCHED_BATCH", p)
		}
	}
	close(release)
	wg.Wait()
}
