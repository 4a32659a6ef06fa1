package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{20 << 20, 100},
		{memHeadroom, 100},
		{64 << 20, 50},
		{100 << 20, 32},
		{128 << 20, 25},
		{1 << 30, memMinPercent},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestMemoryPolicy: with more than memHeadroom live, the policy lowers the
// GC percentage of this process, and raises it back once the heap is
// small again.
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
	go routineMemoryPolicy(stop)

	live := make([]byte, 4*memHeadroom)
	for i := range live {
		live[i] = byte(i)
	}
	runtime.GC()
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
	wait("at most 30 with 128 MiB live", func(p uint64) bool { return p <= 30 && p >= memMinPercent })
	runtime.KeepAlive(live)
	live = nil
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
	go routineMemoryPolicy(stop)
	deadline := time.Now().Add(5 * memPolicyTick)
	for {
		free, forced := read()
		if free <= memReleaseMin && forced > forced0 {
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

// TestMemoryPolicyReleasesPools: the release after a burst also frees what
// the burst left in a sync.Pool (as encoding/json keeps the buffer of a
// status listing of every SA), which survives one collection.
func TestMemoryPolicyReleasesPools(t *testing.T) {
	var keep [][]byte
	for range 64 {
		b := make([]byte, 1<<20)
		b[0] = 1
		keep = append(keep, b)
	}
	runtime.KeepAlive(keep)
	keep = nil
	runtime.GC()
	var pool sync.Pool
	freed := make(chan struct{})
	big := &struct{ b []byte }{make([]byte, 16<<20)}
	runtime.AddCleanup(big, func(ch chan struct{}) { close(ch) }, freed)
	pool.Put(big)
	big = nil
	stop := make(chan struct{})
	defer close(stop)
	go routineMemoryPolicy(stop)
	select {
	case <-freed:
	case <-time.After(5 * memPolicyTick):
		t.Fatal("a pooled 16 MiB buffer outlived the release after a burst")
	}
	runtime.KeepAlive(&pool)
}
