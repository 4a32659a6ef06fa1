package ike

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRekeyIKEKeepsVirtualIP: a remote-access client's virtual IP, its
// pool lease at the gateway and the DNS servers it got go with the IKE SA
// to its successor when either side rekeys it (the client keeps using
// them), and the lease goes offline only when the client's last IKE SA
// does.
func TestRekeyIKEKeepsVirtualIP(t *testing.T) {
	for _, from := range []int{0, 1} {
		t.Run(sideName[from], func(t *testing.T) {
			_, moon, sun := newPair(t, pairOpts{
				conn:       [2]string{`vips = ["0.0.0.0"]`, `pools = ["p"]`},
				localTS:    [2]string{`"dynamic"`, ""},
				remoteTS:   [2]string{"", `"dynamic"`},
				extraConns: [2]string{"", "[pools.p]\naddrs = \"10.3.0.0/24\"\ndns = [\"10.3.0.53\"]\n"},
			})
			peers := [2]*peer{moon, sun}
			var mu sync.Mutex
			var events []string // the client's virtual IP events, as the daemon sees them
			moon.m.opts.OnVirtualIP = func(ev VirtualIPEvent) {
				mu.Lock()
				events = append(events, fmt.Sprintf("up=%v %v", ev.Up, ev.VIPs))
				mu.Unlock()
			}
			wantEvents := func(when string, want ...string) {
				t.Helper()
				mu.Lock()
				defer mu.Unlock()
				if !slices.Equal(events, want) {
					t.Errorf("%s: the client's virtual IP events %q, want %q", when, events, want)
				}
			}
			old := establish(t, moon, sun)
			pool := sun.m.pools["p"]
			check := func(when string) {
				t.Helper()
				for _, p := range peers {
					sas, _ := p.m.Status()
					if len(sas) != 1 {
						t.Fatalf("%s: %s has %d IKE SAs, want 1", when, p.name, len(sas))
					}
					st := sas[0]
					if len(st.VIPs) != 1 || st.VIPs[0] != "10.3.0.1" {
						t.Errorf("%s: %s's IKE SA %s_%s lists virtual IPs %v, want [10.3.0.1]", when, p.name, st.SPIi, st.SPIr, st.VIPs)
					}
				}
				if _, on, off := pool.stats(); on != 1 || off != 0 {
					t.Errorf("%s: pool leases %d online, %d offline; want 1 and 0", when, on, off)
				}
				sa := moon.m.snapshot()[0]
				sa.mu.Lock()
				if r := sa.rare; r == nil || len(r.dns) != 1 {
					t.Errorf("%s: the client's IKE SA lost the DNS servers it got", when)
				}
				sa.mu.Unlock()
			}
			check("established")
			wantEvents("established", "up=true [10.3.0.1]")
			if err := peers[from].m.RekeyIKE(ctxT(t, 10*time.Second), "c"); err != nil {
				t.Fatalf("RekeyIKE: %v", err)
			}
			nw := waitSettled(t, moon, sun, 1)
			if nw.SPIi == old.SPIi {
				t.Fatalf("IKE SPIs unchanged by the rekey")
			}
			check("after the rekey")
			wantEvents("after the rekey", "up=true [10.3.0.1]")
			if err := moon.m.Terminate(ctxT(t, 10*time.Second), "c"); err != nil {
				t.Fatalf("Terminate: %v", err)
			}
			waitFor(t, 5*time.Second, "the lease to go offline", func() bool {
				_, on, off := pool.stats()
				return on == 0 && off == 1
			})
			waitFor(t, 5*time.Second, "the client to take its virtual IP down", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(events) == 2
			})
			wantEvents("terminated", "up=true [10.3.0.1]", "up=false [10.3.0.1]")
		})
	}
}
