package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The collector's policy for a daemon that may hold tens of thousands of
// SAs. With GOGC=100 the heap grows to twice what is live before each
// collection: at 10 000 IKE and Child SAs (60-100 MB live) that is as much
// again of RSS holding nothing but garbage, and the runtime returns what
// the heap no longer uses only slowly. And about 25 MB of the live heap
// are the data path's packet buffers, mostly never touched (a 64 KiB
// buffer that receives an IKE message touches one page of it), which
// with GOGC=100 let some 25 MB of garbage pile up in fresh pages, each
// one a page fault and resident, before the first collection. So the
// heap may grow between collections by a headroom sized by the part of
// the live heap that holds pointers (the "scannable" heap, which is what
// a collection has to mark) rather than by all of it:
//
//   - The headroom is as large as the scannable heap (what GOGC=100
//     would allow if there were no pointer-free data), but at least
//     memMinHeadroom and at most memHeadroom, and never below
//     memMinPercent of the scannable heap: every collection marks that,
//     so the collector's CPU grows as the headroom shrinks relative to it
//     (at memMinPercent, about four times what GOGC=100 costs per byte
//     allocated). Pointer-free data (packet buffers, keys, messages) is
//     not marked through and adds little to a collection's cost.
//   - The GC percentage is that headroom over the live heap, at most 100.
//   - When the daemon has gone quiet (less than memQuietBytes allocated in
//     the last tick) after a burst (setting up SAs, listing all of them:
//     more than memReleaseMin allocated since the last release, or as
//     much free memory kept), the free memory goes back to the OS at
//     once, at most every memReleaseEvery.
//     That takes two collections: what a burst leaves in sync.Pools
//     survives the first (it moves to the pools' victim caches) and only
//     the second frees it. A status listing of every SA leaves such a
//     buffer behind, encoding/json's, as large as the listing (16 MB at
//     10 000 SAs), which a quiet daemon would otherwise keep for minutes.
//     A daemon that went on allocating a little since (keepalives, DPD,
//     half-open SAs of a storm timing out: memory that only a collection
//     frees, and a quiet daemon may not run one for a long time) gets the
//     same once memIdleRelease has passed.
//     Before that, tidy (the SPD's Compact) gathers tables that a burst of
//     installs left scattered over the heap (each install copies the part
//     it changes), so that the spans they pinned can go back too.
//
// A GOGC or GOMEMLIMIT in the environment turns the policy off.
const (
	memHeadroom     = 32 << 20
	memMinHeadroom  = 4 << 20
	memMinPercent   = 25
	memPolicyTick   = time.Second
	memQuietBytes   = 1 << 20
	memReleaseMin   = 8 << 20
	memReleaseEvery = 5 * time.Second
	memIdleRelease  = 30 * time.Second
)

// shouldRelease decides, once a tick, whether to return free memory to the
// OS: when quiet, after a burst (allocated since the last release, or free
// memory kept, more than memReleaseMin) at most every memReleaseEvery,
// and after anything allocated since every memIdleRelease.
func shouldRelease(quiet bool, sinceRelease time.Duration, allocated, free uint64) bool {
	if !quiet {
		return false
	}
	burst := allocated > memReleaseMin || free > memReleaseMin
	return (burst && sinceRelease >= memReleaseEvery) || (allocated > memQuietBytes && sinceRelease >= memIdleRelease)
}

// gcPercentFor returns the GC percentage for a live heap of live bytes, of
// which scan bytes are scannable (hold pointers).
func gcPercentFor(live, scan uint64) int {
	scan = min(scan, live)
	headroom := max(min(scan, memHeadroom), scan*memMinPercent/100, memMinHeadroom)
	if live == 0 {
		return 100
	}
	return int(max(1, min(100, headroom*100/live)))
}

// startMemoryPolicy runs the policy until stop is closed; tidy, if not
// nil, runs before each release.
func startMemoryPolicy(log *slog.Logger, stop <-chan struct{}, tidy func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Debug("GC policy off: GOGC or GOMEMLIMIT set")
		return
	}
	go routineMemoryPolicy(stop, tidy)
}

// routineMemoryPolicy applies the policy once a memPolicyTick until stop
// is closed. Reading the metrics costs a few microseconds.
func routineMemoryPolicy(stop <-chan struct{}, tidy func()) {
	sample := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}, // free and not returned to the OS
		{Name: "/gc/scan/heap:bytes"},
	}
	t := time.NewTicker(memPolicyTick)
	defer t.Stop()
	cur := 100
	var lastAllocs, releasedAt uint64 // releasedAt: allocs at the last release
	var lastRelease time.Time
	for {
		var now time.Time
		select {
		case now = <-t.C:
		case <-stop:
			return
		}
		metrics.Read(sample)
		for _, s := range sample {
			if s.Value.Kind() != metrics.KindUint64 {
				return // not this runtime's metrics: leave the collector alone
			}
		}
		live, allocs, free, scan := sample[0].Value.Uint64(), sample[1].Value.Uint64(), sample[2].Value.Uint64(), sample[3].Value.Uint64()
		if p := gcPercentFor(live, scan); p != cur {
			debug.SetGCPercent(p)
			cur = p
		}
		quiet := lastAllocs != 0 && allocs-lastAllocs < memQuietBytes
		lastAllocs = allocs
		// After a burst, free memory may already be back with the OS (the
		// runtime's scavenger returns it the sooner the smaller the
		// headroom), while what the burst left in sync.Pools is not
		// free memory at all: so a burst is what was allocated since the
		// last release, or free memory the heap still keeps.
		if shouldRelease(quiet, now.Sub(lastRelease), allocs-releasedAt, free) {
			if tidy != nil {
				tidy()
			}
			releaseMemory()
			lastRelease, releasedAt = now, allocs
		}
	}
}

// releaseMemory returns the heap's free memory to the OS, after freeing
// what sync.Pools hold: the first collection moves pooled objects to the
// pools' victim caches, the second (debug.FreeOSMemory's) frees them.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
