package ike

import (
	"context"
	"sync"
	"testing"
	"time"
)

// BenchmarkEstablishIKESA measures IKE SAs set up per second (IKE_SA_INIT
// and IKE_AUTH with PSK, aes128gcm16-prfsha256-x25519) between two
// Managers in this process over loopback UDP, one after the other and
// with 8 in flight at once. cpu-ms/SA is the process's CPU time (both
// ends) per IKE SA, from getrusage where the OS has it.
func BenchmarkEstablishIKESA(b *testing.B) {
	for _, par := range []int{1, 8} {
		name := "serial"
		if par > 1 {
			name = "parallel-8"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			_, moon, _ := newPair(b, pairOpts{})
			conn := moon.m.connByName("c")
			cpu0, haveCPU := processCPU()
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan struct{})
			for range par {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						// child nil: an IKE SA without Child SA, so that
						// only IKE is measured.
						err := moon.m.initiate(ctx, conn, nil, nil)
						cancel()
						if err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "SAs/s")
			if cpu1, ok := processCPU(); ok && haveCPU {
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/SA")
			}
		})
	}
}
