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
// the heap no longer uses only slowly. So:
//
//   - Once the live heap passes memHeadroom, the GC percentage falls so
//     that the heap may grow by about memHeadroom between collections
//     rather than by all of it, but never below memMinPercent: every
//     collection marks the whole live heap, so the collector's CPU grows
//     as the percentage falls (at memMinPercent, about four times what
//     GOGC=100 costs per byte allocated). Small daemons keep GOGC=100.
//   - When the daemon has gone quiet (less than memQuietBytes allocated in
//     the last tick) after a burst (setting up SAs, listing all of them)
//     and the heap keeps more than memReleaseMin of free memory, that
//     memory goes back to the OS at once, at most every memReleaseEvery.
//     That takes two collections: what a burst leaves in sync.Pools
//     survives the first (it moves to the pools' victim caches) and only
//     the second frees it. A status listing of every SA leaves such a
//     buffer behind, encoding/json's, as large as the listing (16 MB at
//     10 000 SAs), which a quiet daemon would otherwise keep for minutes.
//
// A GOGC or GOMEMLIMIT in the environment turns the policy off.
const (
	memHeadroom     = 32 << 20
	memMinPercent   = 25
	memPolicyTick   = time.Second
	memQuietBytes   = 1 << 20
	memReleaseMin   = 8 << 20
	memReleaseEvery = 5 * time.Second
)

// gcPercentFor returns the GC percentage for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live <= memHeadroom {
		return 100
	}
	return max(memMinPercent, int(memHeadroom*100/live))
}

// startMemoryPolicy runs the policy until stop is closed.
func startMemoryPolicy(log *slog.Logger, stop <-chan struct{}) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Debug("GC policy off: GOGC or GOMEMLIMIT set")
		return
	}
	go routineMemoryPolicy(stop)
}

// routineMemoryPolicy applies the policy once a memPolicyTick until stop
// is closed. Reading the metrics costs a few microseconds.
func routineMemoryPolicy(stop <-chan struct{}) {
	sample := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}, // free and not returned to the OS
	}
	t := time.NewTicker(memPolicyTick)
	defer t.Stop()
	cur := 100
	var lastAllocs uint64
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
		live, allocs, free := sample[0].Value.Uint64(), sample[1].Value.Uint64(), sample[2].Value.Uint64()
		if p := gcPercentFor(live); p != cur {
			debug.SetGCPercent(p)
			cur = p
		}
		quiet := lastAllocs != 0 && allocs-lastAllocs < memQuietBytes
		lastAllocs = allocs
		if quiet && free > memReleaseMin && now.Sub(lastRelease) >= memReleaseEvery {
			runtime.GC()         // pooled objects move to the victim caches
			debug.FreeOSMemory() // a second collection frees them; all free memory goes back
			lastRelease = now
		}
	}
}
