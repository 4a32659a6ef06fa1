package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, scan uint64
		want       int
	}{
		{0, 0, 100},
		{3 * mib, 1 * mib, 100},         // small: GOGC=100
		{20 * mib, 20 * mib, 100},       // all pointers, below memHeadroom
		{memHeadroom, memHeadroom, 100}, // the most GOGC=100 allows
		{64 * mib, 64 * mib, 50},        // memHeadroom over 64 MiB
		{100 * mib, 100 * mib, 32},
		{128 * mib, 128 * mib, 25},
		{1 << 30, 1 << 30, memMinPercent}, // never below a quarter of what is marked
		{24 * mib, 1 * mib, 16},           // packet buffers: memMinHeadroom over 24 MiB
		{24 * mib, 8 * mib, 33},           // the scannable 8 MiB over 24 MiB
		{128 * mib, 0, 3},                 // pointer-free: memMinHeadroom
		{1 << 30, 0, 1},                   // at least 1
		{10 * mib, 20 * mib, 100},         // scan above live (sampled apart) counts as live
	} {
		if got := gcPercentFor(c.live, c.scan); got != c.want {
			t.Errorf("gcPercentFor(%d MiB live, %d MiB scannable) = %d, want %d", c.live/mib, c.scan/mib, got, c.want)
		}
	}
}

// TestMemoryPolicy: with more than memHeadroom live, the policy lowers the
// GC percentage of this process, further when the live heap is
// pointer-free (it costs a collection little), and raises it back once
// the heap is small again.
func TestMemoryPolicy(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	stop := make(chan struct{})
	defer close(stop)
	go routineMemoryPolicy(stop, nil)
	wait := func(what string, ok func(uint64) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * memPolicyTick)
		for !ok(gogc()) {
			if time.Now().After(deadline) {
				t.Fatalf("GOGC is %d, want %s", gogc(), what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// 128 MiB of pointers: scannable, so the headroom is memHeadroom.
	var x byte
	ptrs := make([]*byte, 4*memHeadroom/8)
	for i := range ptrs {
		ptrs[i] = &x
	}
	runtime.GC()
	wait("20-30 with 128 MiB of pointers live", func(p uint64) bool { return p <= 30 && p >= 20 })
	runtime.KeepAlive(ptrs)
	ptrs = nil

	// 128 MiB of bytes: the headroom is memMinHeadroom.
	bytes := make([]byte, 4*memHeadroom)
	for i := range bytes {
		bytes[i] = byte(i)
	}
	runtime.GC()
	wait("at most 5 with 128 MiB of bytes live", func(p uint64) bool { return p <= 5 })
	runtime.KeepAlive(bytes)
	bytes = nil
	runtime.GC()
	wait("100 with the heap small again", func(p uint64) bool { return p == 100 })
}

// TestMemoryPolicyRelease: once the process is quiet, the free memory
// the heap kept after a burst goes back to the OS in one forced
// collection, and a quiet process is not collected again and again.
func TestMemoryPolicyRelease(t *testing.T) {
	read := func() (free, forced uint64) {
		s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/gc/cycles/forced:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64(), s[1].Value.Uint64()
	}
	// A burst: 64 MiB of garbage, collected, leaves the heap's free
	// memory well above memReleaseMin.
	var keep [][]byte
	for range 64 {
		b := make([]byte, 1<<20)
		b[0] = 1
		keep = append(keep, b)
	}
	runtime.KeepAlive(keep)
	keep = nil
	runtime.GC()
	free0, forced0 := read()
	if free0 <= memReleaseMin {
		t.Fatalf("after the burst the heap keeps %d MiB free, want more than %d MiB for the test", free0>>20, memReleaseMin>>20)
	}
	stop := make(chan struct{})
	defer close(stop)
	var tidied atomic.Int32 // the SPD's Compact in esptun up
	go routineMemoryPolicy(stop, func() { tidied.Add(1) })
	deadline := time.Now().Add(5 * memPolicyTick)
	for {
		free, forced := read()
		if free <= memReleaseMin && forced > forced0 {
			if tidied.Load() == 0 {
				t.Error("released without tidying first")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heap free memory %d MiB (was %d MiB), %d forced collections: not released", free>>20, free0>>20, forced-forced0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, forced1 := read()
	time.Sleep(3 * memPolicyTick)
	if _, forced2 := read(); forced2 != forced1 {
		t.Errorf("%d more forced collections while quiet with nothing to release", forced2-forced1)
	}
}

// TestReleaseMemoryFreesPools: the release after a burst also frees what
// the burst left in a sync.Pool (as encoding/json keeps the buffer of a
// status listing of every SA), which survives one collection.
func TestReleaseMemoryFreesPools(t *testing.T) {
	var pool sync.Pool
	freed := make(chan struct{})
	big := &struct{ b []byte }{make([]byte, 16<<20)}
	runtime.AddCleanup(big, func(ch chan struct{}) { close(ch) }, freed)
	pool.Put(big)
	big = nil
	releaseMemory()
	select {
	case <-freed:
	case <-time.After(5 * time.Second):
		t.Fatal("a pooled 16 MiB buffer outlived releaseMemory")
	}
	runtime.KeepAlive(&pool)
}

func TestShouldRelease(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		quiet           bool
		since           time.Duration
		allocated, free uint64
		want            bool
	}{
		{true, 6 * time.Second, 64 * mib, 0, true},          // quiet after a burst
		{false, 6 * time.Second, 64 * mib, 64 * mib, false}, // still busy
		{true, 2 * time.Second, 64 * mib, 0, false},         // a release just now
		{true, 6 * time.Second, 0, 16 * mib, true},          // free memory kept
		{true, 6 * time.Second, 2 * mib, 0, false},          // little since the last release
		{true, 31 * time.Second, 2 * mib, 0, true},          // ... but a while ago
		{true, time.Hour, 512 << 10, 0, false},              // nothing to speak of: an idle daemon stays idle
	} {
		if got := shouldRelease(c.quiet, c.since, c.allocated, c.free); got != c.want {
			t.Errorf("shouldRelease(quiet %v, %v since, %d MiB allocated, %d MiB free) = %v, want %v",
				c.quiet, c.since, c.allocated/mib, c.free/mib, got, c.want)
		}
	}
}
