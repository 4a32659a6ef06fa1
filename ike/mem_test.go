package ike

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
	"unsafe"

	"github.com/esptun/esptun/internal/testlab"
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

// TestIKESASize: the IKE SA struct stays in the allocator's 576-byte size
// class (one per peer), which holds 568 bytes and the 8-byte header Go puts
// in front of objects over 512 bytes that contain pointers; what only the
// setup needs lives in ikeSetup, what few SAs need in ikeRare.
func TestIKESASize(t *testing.T) {
	if n := unsafe.Sizeof(ikeSA{}); n > 568 {
		t.Fatalf("ikeSA is %d bytes, want at most 568", n)
	}
	if per := testlab.HeapPerObject[ikeSA](); per > 576 {
		t.Fatalf("an ikeSA takes %d bytes of heap, want the 576-byte size class", per)
	}
}

// TestEstablishedKeepsNoRequests: once IKE_AUTH and a CREATE_CHILD_SA are
// done, neither end keeps a finished Child SA request or exchange task
// reachable (through the spare capacity of its queues, for one), nor the
// Child SA request of IKE_AUTH.
func TestEstablishedKeepsNoRequests(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{})
	establish(t, moon, sun)
	conn := moon.m.connByName("c")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := moon.m.initiateChild(ctx, conn, conn.Children[0], nil); err != nil {
		t.Fatalf("second Child SA: %v", err)
	}
	for _, p := range []*peer{moon, sun} {
		for _, sa := range p.m.snapshot() {
			sa.mu.Lock()
			if sa.state == stateEstablished {
				// An empty queue that is not nil may still point into an
				// array whose earlier elements it no longer shows.
				if sa.ikeSetup != nil {
					t.Errorf("%s: established IKE SA keeps its setup state", p.name)
				}
				if sa.childReqs != nil || sa.queue != nil || sa.authReq != nil || sa.pending != nil {
					t.Errorf("%s: established IKE SA keeps childReqs %v, queue %v, authReq %v, pending %v",
						p.name, sa.childReqs != nil, sa.queue != nil, sa.authReq != nil, sa.pending != nil)
				}
				if len(sa.children) != 2 {
					t.Errorf("%s: %d Child SAs, want 2", p.name, len(sa.children))
				}
			}
			sa.mu.Unlock()
		}
	}
}

// TestChildSASize: a Child SA fits the allocator's 96-byte size class.
func TestChildSASize(t *testing.T) {
	if n := unsafe.Sizeof(childSA{}); n > 96 {
		t.Fatalf("childSA is %d bytes, want at most 96", n)
	}
}
