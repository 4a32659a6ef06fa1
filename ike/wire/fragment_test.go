package wire

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func parseAll(t *testing.T, frags [][]byte) []*Message {
	t.Helper()
	ms := make([]*Message, len(frags))
	for i, f := range frags {
		m, err := Parse(f)
		if err != nil {
			t.Fatalf("fragment %d: %v", i+1, err)
		}
		ms[i] = m
	}
	return ms
}

func TestFragmentRoundTrip(t *testing.T) {
	inner := samplePayloads()
	for name, c := range testCiphers() {
		for _, max := range []int{100, 200, 576, 1280, 70000} {
			t.Run(name+"/"+itoa(max), func(t *testing.T) {
				frags, err := Fragment(authHeader(), inner, c, max)
				if err != nil {
					t.Fatal(err)
				}
				ms := parseAll(t, frags)
				for i, m := range ms {
					if len(frags[i]) > max {
						t.Errorf("fragment %d is %d octets > %d", i+1, len(frags[i]), max)
					}
					f := m.Payloads[0].(*EncryptedFragment)
					if len(m.Payloads) != 1 || m.NextPayload != PayloadSKF || m.MessageID != 1 ||
						int(f.FragmentNumber) != i+1 || int(f.TotalFragments) != len(frags) {
						t.Fatalf("fragment %d: %s", i+1, m)
					}
					want := PayloadNone
					if i == 0 {
						want = PayloadSA
					}
					if f.NextPayload != want {
						t.Errorf("fragment %d next payload %v", i+1, f.NextPayload)
					}
				}
				// Out of order: a fixed shuffle.
				order := rand.New(rand.NewPCG(uint64(max), 1)).Perm(len(frags))
				var r Reassembler
				for k, i := range order {
					got, done, err := r.Add(frags[i], ms[i], c)
					if err != nil {
						t.Fatalf("Add fragment %d: %v", i+1, err)
					}
					if done != (k == len(order)-1) {
						t.Fatalf("done=%v after %d of %d", done, k+1, len(order))
					}
					if done && !reflect.DeepEqual(got, inner) {
						t.Fatalf("reassembled payloads differ: %s", PayloadsString(got))
					}
				}
				if _, busy := r.InProgress(); busy {
					t.Error("reassembler not reset")
				}
			})
		}
	}
}

func TestFragmentEmpty(t *testing.T) {
	c := newGCM(testKey(20, 1))
	frags, err := Fragment(authHeader(), nil, c, 100)
	if err != nil || len(frags) != 1 {
		t.Fatalf("%d fragments, %v", len(frags), err)
	}
	var r Reassembler
	got, done, err := r.Add(frags[0], parseAll(t, frags)[0], c)
	if err != nil || !done || len(got) != 0 {
		t.Fatalf("got %v done %v err %v", got, done, err)
	}
}

func TestFragmentTooSmall(t *testing.T) {
	c := newCBC(testKey(16, 1), testKey(32, 2))
	// Header, SKF header, IV, ICV: 28+8+16+16 = 68, plus one block.
	if _, err := Fragment(authHeader(), samplePayloads(), c, 83); !errors.Is(err, ErrEncode) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Fragment(authHeader(), samplePayloads(), c, 84); err != nil {
		t.Fatalf("84: %v", err)
	}
	if _, err := Fragment(authHeader(), []Payload{&Encrypted{}}, c, 1280); !errors.Is(err, ErrEncode) {
		t.Fatalf("SK inside: err = %v", err)
	}
}

func TestReassemblerRules(t *testing.T) {
	c := newGCM(testKey(20, 1))
	inner := samplePayloads()
	frag := func(max int) ([][]byte, []*Message) {
		f, err := Fragment(authHeader(), inner, c, max)
		if err != nil {
			t.Fatal(err)
		}
		return f, parseAll(t, f)
	}
	t.Run("duplicate", func(t *testing.T) {
		f, m := frag(300)
		var r Reassembler
		if _, _, err := r.Add(f[1], m[1], c); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Add(f[1], m[1], c); !errors.Is(err, ErrFragmentDiscarded) {
			t.Fatalf("duplicate: err = %v", err)
		}
	})
	t.Run("tampered fragment leaves state alone", func(t *testing.T) {
		f, m := frag(300)
		var r Reassembler
		for i := 1; i < len(f); i++ {
			if _, _, err := r.Add(f[i], m[i], c); err != nil {
				t.Fatal(err)
			}
		}
		bad := append([]byte(nil), f[0]...)
		bad[len(bad)-1] ^= 1
		bm, _ := Parse(bad)
		if _, _, err := r.Add(bad, bm, c); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("err = %v", err)
		}
		got, done, err := r.Add(f[0], m[0], c)
		if err != nil || !done || !reflect.DeepEqual(got, inner) {
			t.Fatalf("done %v err %v", done, err)
		}
	})
	t.Run("smaller total discarded, larger total restarts", func(t *testing.T) {
		big, bm := frag(400)   // fewer fragments
		small, sm := frag(150) // more fragments
		if len(big) >= len(small) {
			t.Fatalf("totals %d %d", len(big), len(small))
		}
		var r Reassembler
		if _, _, err := r.Add(big[0], bm[0], c); err != nil {
			t.Fatal(err)
		}
		// The sender refragmented with a smaller size: start again.
		for i := range small {
			got, done, err := r.Add(small[i], sm[i], c)
			if err != nil {
				t.Fatalf("fragment %d: %v", i+1, err)
			}
			if i == 0 {
				// An old fragment with a smaller total is discarded now.
				if _, _, err := r.Add(big[1], bm[1], c); !errors.Is(err, ErrFragmentDiscarded) {
					t.Fatalf("stale: err = %v", err)
				}
			}
			if done != (i == len(small)-1) || (done && !reflect.DeepEqual(got, inner)) {
				t.Fatalf("fragment %d: done %v", i+1, done)
			}
		}
	})
	t.Run("other message id restarts", func(t *testing.T) {
		f, m := frag(300)
		h := authHeader()
		h.MessageID = 2
		g, _ := Fragment(h, inner[:2], c, 300)
		gm := parseAll(t, g)
		var r Reassembler
		if _, _, err := r.Add(f[0], m[0], c); err != nil {
			t.Fatal(err)
		}
		var got []Payload
		var done bool
		for i := range g {
			var err error
			if got, done, err = r.Add(g[i], gm[i], c); err != nil {
				t.Fatal(err)
			}
		}
		if !done || !reflect.DeepEqual(got, inner[:2]) {
			t.Fatalf("done %v", done)
		}
	})
	t.Run("too many fragments", func(t *testing.T) {
		f, m := frag(200)
		r := Reassembler{MaxFragments: 2}
		if _, _, err := r.Add(f[0], m[0], c); !errors.Is(err, ErrReassemblyLimit) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("too many octets", func(t *testing.T) {
		f, m := frag(200)
		r := Reassembler{MaxBytes: 300}
		var err error
		for i := range f {
			if _, _, err = r.Add(f[i], m[i], c); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrReassemblyLimit) {
			t.Fatalf("err = %v", err)
		}
		if _, busy := r.InProgress(); busy {
			t.Error("partial message kept after limit")
		}
	})
	t.Run("not a fragment", func(t *testing.T) {
		raw, _ := EncodeEncrypted(authHeader(), nil, c)
		m, _ := Parse(raw)
		var r Reassembler
		if _, _, err := r.Add(raw, m, c); !errors.Is(err, ErrInvalidSyntax) {
			t.Fatalf("err = %v", err)
		}
		if _, _, err := r.Add(nil, nil, c); !errors.Is(err, ErrInvalidSyntax) {
			t.Fatalf("nil: err = %v", err)
		}
	})
}
