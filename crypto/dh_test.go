package crypto

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
)

var allGroups = []uint16{DHCurve25519, DHECP256, DHECP384, DHECP521, DHMODP1024, DHMODP2048, DHMODP3072, DHMODP4096}

func TestKeyExchangeAgreement(t *testing.T) {
	for _, g := range allGroups {
		t.Run(GroupName(g), func(t *testing.T) {
			a, err := NewKeyExchange(g)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewKeyExchange(g)
			if err != nil {
				t.Fatal(err)
			}
			if a.Group() != g || len(a.Public()) != KEPublicLen(g) || len(b.Public()) != KEPublicLen(g) {
				t.Fatalf("group %d, public lengths %d/%d, want %d", a.Group(), len(a.Public()), len(b.Public()), KEPublicLen(g))
			}
			if bytes.Equal(a.Public(), b.Public()) {
				t.Fatal("two key exchanges share a public value")
			}
			sa, err := a.SharedSecret(b.Public())
			if err != nil {
				t.Fatal(err)
			}
			sb, err := b.SharedSecret(a.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sa, sb) {
				t.Fatal("shared secrets differ")
			}
			wantLen := map[uint16]int{DHCurve25519: 32, DHECP256: 32, DHECP384: 48, DHECP521: 66}[g]
			if wantLen == 0 {
				wantLen = KEPublicLen(g) // MODP: padded to the prime's length
			}
			if len(sa) != wantLen {
				t.Errorf("shared secret is %d bytes, want %d", len(sa), wantLen)
			}
			// Fresh slices: changing one result changes nothing else.
			pub := a.Public()
			pub[0] ^= 0xff
			if bytes.Equal(pub, a.Public()) {
				t.Error("Public returns shared memory")
			}
			a.Wipe()
			if _, err := a.SharedSecret(b.Public()); err == nil {
				t.Error("SharedSecret works after Wipe")
			}
		})
	}
	if _, err := NewKeyExchange(DHNone); err == nil {
		t.Error("NewKeyExchange(NONE) succeeded")
	}
	if _, err := NewKeyExchange(22); err == nil {
		t.Error("NewKeyExchange(22) succeeded")
	}
}

func TestKeyExchangeInvalidPublic(t *testing.T) {
	type bad struct {
		name string
		pub  []byte
	}
	cases := map[uint16][]bad{}
	// MODP: 0, 1, p-1, p, p+1, wrong lengths (RFC 7296 / SP 800-56A
	// partial validation).
	for _, g := range []uint16{DHMODP1024, DHMODP2048, DHMODP3072, DHMODP4096} {
		mg := modpGroupOf(g)
		enc := func(x *big.Int) []byte { return x.FillBytes(make([]byte, mg.size)) }
		cases[g] = []bad{
			{"zero", make([]byte, mg.size)},
			{"one", enc(big.NewInt(1))},
			{"p-1", enc(mg.pMinus1)},
			{"p", enc(mg.p)},
			{"p+1", enc(new(big.Int).Add(mg.p, big.NewInt(1)))},
			{"all ones", bytes.Repeat([]byte{0xff}, mg.size)},
			{"short", enc(big.NewInt(2))[1:]},
			{"long", append([]byte{0}, enc(big.NewInt(2))...)},
			{"empty", nil},
		}
	}
	// ECP: x | y must be a point on the curve (RFC 5903 7).
	for _, g := range []uint16{DHECP256, DHECP384, DHECP521} {
		peer, _ := NewKeyExchange(g)
		good := peer.Public()
		offCurve := append([]byte(nil), good...)
		offCurve[len(offCurve)-1] ^= 1
		n := len(good)
		cases[g] = []bad{
			{"zero (point at infinity)", make([]byte, n)},
			{"not on curve", offCurve},
			{"SEC1 prefix included", append([]byte{4}, good...)},
			{"compressed", append([]byte{2}, good[:n/2]...)},
			{"short", good[1:]},
			{"empty", nil},
			{"coordinate >= p", bytes.Repeat([]byte{0xff}, n)},
		}
	}
	// X25519: low-order points give an all-zero secret (RFC 8031 2.3,
	// RFC 7748 6.1).
	one := make([]byte, 32)
	one[0] = 1
	cases[DHCurve25519] = []bad{
		{"zero", make([]byte, 32)},
		{"one", one},
		{"order 8", unhex(t, "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")},
		{"short", make([]byte, 31)},
		{"long", make([]byte, 33)},
	}
	for g, list := range cases {
		for _, c := range list {
			t.Run(GroupName(g)+"/"+c.name, func(t *testing.T) {
				k, err := NewKeyExchange(g)
				if err != nil {
					t.Fatal(err)
				}
				s, err := k.SharedSecret(c.pub)
				if !errors.Is(err, ErrInvalidPublic) {
					t.Fatalf("err = %v (secret %x), want ErrInvalidPublic", err, s)
				}
			})
		}
	}
}

// TestX25519KnownAnswer uses RFC 7748 6.1 (the Curve25519 vectors RFC 8031
// relies on).
func TestX25519KnownAnswer(t *testing.T) {
	alicePriv, err := ecdh.X25519().NewPrivateKey(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	alice := &ecdhKE{group: DHCurve25519, priv: alicePriv}
	if got := hex.EncodeToString(alice.Public()); got != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Errorf("public %s", got)
	}
	s, err := alice.SharedSecret(unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(s); got != "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" {
		t.Errorf("shared %s", got)
	}
}

// TestECP256KnownAnswer uses RFC 5903 8.1: the KE data is x | y and g^ir
// is the x coordinate alone.
func TestECP256KnownAnswer(t *testing.T) {
	priv, err := ecdh.P256().NewPrivateKey(unhex(t, "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"))
	if err != nil {
		t.Fatal(err)
	}
	i := &ecdhKE{group: DHECP256, priv: priv}
	wantPub := "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180" +
		"5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
	if !bytes.Equal(i.Public(), unhex(t, wantPub)) {
		t.Errorf("public %X", i.Public())
	}
	gr := unhex(t, "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"+
		"56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB")
	s, err := i.SharedSecret(gr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s, unhex(t, "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE")) {
		t.Errorf("g^ir %X", s)
	}
}

// TestMODPPrimes checks the prime constants against the definition in RFC
// 3526 (and RFC 2409 6.2): p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130)
// pi) + k), with pi computed here from Machin's formula, and that p and
// (p-1)/2 are (probable) primes.
func TestMODPPrimes(t *testing.T) {
	pi := machinPi(4200) // floor(pi * 2^4200)
	for _, c := range []struct {
		group uint16
		n     uint
		k     int64
	}{
		{DHMODP1024, 1024, 129093},
		{DHMODP2048, 2048, 124476},
		{DHMODP3072, 3072, 1690314},
		{DHMODP4096, 4096, 240904},
	} {
		t.Run(GroupName(c.group), func(t *testing.T) {
			one := big.NewInt(1)
			p := new(big.Int).Lsh(one, c.n)
			p.Sub(p, new(big.Int).Lsh(one, c.n-64))
			p.Sub(p, one)
			f := new(big.Int).Rsh(pi, 4200-(c.n-130)) // floor(2^(n-130) pi)
			f.Add(f, big.NewInt(c.k))
			p.Add(p, f.Lsh(f, 64))
			g := modpGroupOf(c.group)
			if g.p.Cmp(p) != 0 {
				t.Fatalf("prime constant differs from the RFC's definition")
			}
			if g.size != int(c.n/8) || KEPublicLen(c.group) != int(c.n/8) {
				t.Errorf("size %d", g.size)
			}
			if testing.Short() && c.n > 2048 {
				return
			}
			q := new(big.Int).Rsh(p, 1)
			if !p.ProbablyPrime(4) || !q.ProbablyPrime(4) {
				t.Error("not a safe prime")
			}
		})
	}
}

// machinPi returns floor(pi * 2^bits) using pi = 16 atan(1/5) - 4 atan(1/239).
func machinPi(bits uint) *big.Int {
	const guard = 64
	one := new(big.Int).Lsh(big.NewInt(1), bits+guard)
	atanInv := func(x int64) *big.Int {
		sum := new(big.Int)
		xx := big.NewInt(x * x)
		term := new(big.Int).Div(one, big.NewInt(x))
		for k := int64(0); term.Sign() != 0; k++ {
			t := new(big.Int).Div(term, big.NewInt(2*k+1))
			if k%2 == 0 {
				sum.Add(sum, t)
			} else {
				sum.Sub(sum, t)
			}
			term.Div(term, xx)
		}
		return sum
	}
	pi := new(big.Int).Mul(atanInv(5), big.NewInt(16))
	pi.Sub(pi, new(big.Int).Mul(atanInv(239), big.NewInt(4)))
	return pi.Rsh(pi, guard)
}

func TestGroupNames(t *testing.T) {
	for _, g := range allGroups {
		got, ok := GroupByName(GroupName(g))
		if !ok || got != g {
			t.Errorf("GroupByName(%q) = %d, %v", GroupName(g), got, ok)
		}
	}
	if g, ok := GroupByName("Curve25519"); !ok || g != DHCurve25519 {
		t.Error("curve25519 alias")
	}
	if _, ok := GroupByName("x448"); ok {
		t.Error("x448 known")
	}
	if GroupName(DHNone) != "none" || GroupName(99) != "group99" || KEPublicLen(99) != 0 {
		t.Error("unknown group naming")
	}
}

// BenchmarkKeyExchange measures what one side of an IKE_SA_INIT costs:
// generating a key pair and computing the shared secret with the peer's
// public value.
func BenchmarkKeyExchange(b *testing.B) {
	for _, g := range allGroups {
		b.Run(GroupName(g), func(b *testing.B) {
			peer, err := NewKeyExchange(g)
			if err != nil {
				b.Fatal(err)
			}
			peerPub := peer.Public()
			b.ReportAllocs()
			for b.Loop() {
				k, err := NewKeyExchange(g)
				if err != nil {
					b.Fatal(err)
				}
				_ = k.Public()
				s, err := k.SharedSecret(peerPub)
				if err != nil {
					b.Fatal(err)
				}
				clear(s)
				k.Wipe()
			}
		})
	}
}
