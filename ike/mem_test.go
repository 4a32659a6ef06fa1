package ike

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

// BenchmarkTunnelMemory sets up b.N IKE SAs, each with a Child SA, between
// two Managers in this process and reports the live heap per IKE+Child SA
// pair and end (both ends' state divided by two), and the heap spans that
// hold it (free slots included). With
// ESPTUN_MEMPROFILE=FILE it writes a heap profile of what the SAs hold.
func BenchmarkTunnelMemory(b *testing.B) {
	if os.Getenv("ESPTUN_MEMPROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact breakdown
	}
	_, moon, _ := newPair(b, pairOpts{})
	conn := moon.m.connByName("c")
	child := conn.Children[0]
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := moon.m.initiate(ctx, conn, child, nil)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if n := len(moon.m.snapshot()); n < b.N {
		b.Fatalf("%d IKE SAs up, want %d", n, b.N)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N)/2, "heap-B/pair/end")
	// The spans that hold those objects, free slots included: what the
	// heap cannot return to the OS while the SAs live.
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N)/2, "spans-B/pair/end")
	if f := os.Getenv("ESPTUN_MEMPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		defer out.Close()
		pprof.Lookup("heap").WriteTo(out, 0)
	}
}
