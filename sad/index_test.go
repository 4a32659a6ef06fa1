package sad

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestIndexModel checks the index against a map through random adds,
// replacements and deletes of keys chosen to collide in the table (few
// distinct low bits), across several doublings.
func TestIndexModel(t *testing.T) {
	var x index
	model := map[uint32]*SA{}
	r := rand.New(rand.NewPCG(7, 7))
	key := func() uint32 {
		// Low 10 bits from a small set, high bits random: many keys share
		// a slot until the table outgrows them, some share it always.
		return r.Uint32()&^0x3ff | uint32(r.IntN(40))<<4
	}
	var keys []uint32
	for op := range 20000 {
		switch c := r.IntN(10); {
		case c < 6 || len(keys) == 0:
			k := key()
			if op%7 == 0 && len(keys) > 0 {
				k = keys[r.IntN(len(keys))] // replace
			}
			sa := &SA{SPI: k}
			if _, ok := model[k]; !ok {
				keys = append(keys, k)
			}
			model[k] = sa
			x.setLocked(k, sa)
		default:
			i := r.IntN(len(keys))
			k := keys[i]
			if r.IntN(4) == 0 {
				x.deleteLocked(k, &SA{}) // not the SA it maps to: no-op
			} else {
				x.deleteLocked(k, model[k])
				delete(model, k)
				keys[i] = keys[len(keys)-1]
				keys = keys[:len(keys)-1]
			}
		}
		if op%97 == 0 || op == 19999 {
			for k, sa := range model {
				if got := x.get(k); got != sa {
					t.Fatalf("op %d: key %08x: got %p, want %p", op, k, got, sa)
				}
			}
			n := 0
			x.each(func(*SA) { n++ })
			if n != len(model) || x.n != len(model) {
				t.Fatalf("op %d: each saw %d, n %d, model %d", op, n, x.n, len(model))
			}
			if x.get(key()|1) != nil { // odd low bits: never added
				t.Fatalf("op %d: lookup of a key never added found an SA", op)
			}
		}
	}
	if x.nX.Load() == 0 {
		t.Fatal("no key ever took the fallback path: the test does not cover it")
	}
}

// TestIndexGrowthMovesExtras checks that keys parked in the map move into
// the table when it doubles and their new slot is free.
func TestIndexGrowthMovesExtras(t *testing.T) {
	var x index
	// Two keys that share a slot in the first table but not in the second.
	a, b := uint32(5), uint32(5+minTableSlots)
	x.setLocked(a, &SA{SPI: a})
	x.setLocked(b, &SA{SPI: b})
	if x.nX.Load() != 1 {
		t.Fatalf("colliding key not in the map: %d", x.nX.Load())
	}
	// Keys distinct modulo 2*minTableSlots, none in a or b's slots.
	for j := uint32(6); x.tab.Load().mask < 2*minTableSlots-1; j++ {
		x.setLocked(1<<20+j, &SA{})
	}
	if x.nX.Load() != 0 {
		t.Fatalf("after doubling %d keys still in the map", x.nX.Load())
	}
	if x.get(a).SPI != a || x.get(b).SPI != b {
		t.Fatal("keys lost in the doubling")
	}
}

// TestIndexConcurrent runs lock-free readers of a stable set of keys while
// a writer adds and deletes colliding keys through many doublings (run with
// -race).
func TestIndexConcurrent(t *testing.T) {
	db := New(nil)
	stable := make([]*SA, 100)
	for i := range stable {
		stable[i] = inSA(uint32(i)<<20 | 0x100)
		if err := db.Add(stable[i]); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for !stop.Load() {
				sa := stable[r.IntN(len(stable))]
				if got := db.Inbound(sa.SPI); got != sa {
					t.Errorf("stable SA %08x: got %v", sa.SPI, got)
					return
				}
			}
		})
	}
	var live []*SA
	for i := range uint32(20000) {
		sa := inSA(0x80000000 + i*0x100) // shares low bits with the stable ones
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
		live = append(live, sa)
		if i%3 == 0 {
			db.Delete(live[0])
			live = live[1:]
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, sa := range live {
		if db.Inbound(sa.SPI) != sa {
			t.Fatalf("SA %08x missing", sa.SPI)
		}
	}
}

func TestNewSPI(t *testing.T) {
	db := New(nil)
	for range 5000 {
		spi := db.NewSPI()
		if spi < 256 {
			t.Fatalf("SPI %d is reserved", spi)
		}
		if !db.in.slotFree(spi) {
			t.Fatalf("SPI %08x: its slot is taken", spi)
		}
		if err := db.Add(inSA(spi)); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.in.nX.Load(); n != 0 {
		t.Fatalf("%d SAs with SPIs from NewSPI took the slow path", n)
	}
	// The SPIs are random: their high halves are not all alike.
	seen := map[uint32]bool{}
	for range 64 {
		seen[db.NewSPI()>>16] = true
	}
	if len(seen) < 32 {
		t.Fatalf("64 SPIs share %d high halves", len(seen))
	}
}
