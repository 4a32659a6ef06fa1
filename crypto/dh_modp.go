package crypto

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// modpGroup is a finite-field Diffie-Hellman group with a safe prime
// p = 2q + 1 and generator 2 (RFC 2409 6, RFC 3526).
type modpGroup struct {
	id      uint16
	p       *big.Int
	pMinus1 *big.Int
	size    int // bytes of p: the KE data and shared secret length (RFC 7296 3.4)
	expBits int // private exponent length in bits
}

// The primes of RFC 2409 6.2 (group 2) and RFC 3526 3, 4, 5 (groups 14, 15,
// 16), as published there, verified by TestMODPPrimes against the RFCs'
// defining formula p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) pi) + k).
var (
	modp1024Hex = strings.Join([]string{
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
	}, "")
	modp2048Hex = strings.Join([]string{
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
		"3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
	}, "")
	modp3072Hex = strings.Join([]string{
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
		"3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
		"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
		"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
		"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
		"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
	}, "")
	modp4096Hex = strings.Join([]string{
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
		"020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
		"4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
		"EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
		"98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
		"9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
		"E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
		"3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
		"A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
		"ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
		"D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
		"08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
		"88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
		"DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
		"233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
		"93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
	}, "")
)

// Private exponent lengths: at least twice the group's security strength
// (NIST SP 800-57 part 1 table 2: 2048 bits ~ 112, 3072 ~ 128, 4096 ~ 150),
// and never below 256 bits. A short exponent is what RFC 3526 8 allows and
// what strongSwan and Libreswan do; it keeps MODP exchanges affordable.
var modpGroups = map[uint16]*modpGroup{
	DHMODP1024: newMODPGroup(DHMODP1024, modp1024Hex, 256),
	DHMODP2048: newMODPGroup(DHMODP2048, modp2048Hex, 256),
	DHMODP3072: newMODPGroup(DHMODP3072, modp3072Hex, 256),
	DHMODP4096: newMODPGroup(DHMODP4096, modp4096Hex, 320),
}

func newMODPGroup(id uint16, hexPrime string, expBits int) *modpGroup {
	p, ok := new(big.Int).SetString(hexPrime, 16)
	if !ok {
		panic("crypto: bad MODP prime constant")
	}
	return &modpGroup{
		id:      id,
		p:       p,
		pMinus1: new(big.Int).Sub(p, big.NewInt(1)),
		size:    (p.BitLen() + 7) / 8,
		expBits: expBits,
	}
}

func modpGroupOf(group uint16) *modpGroup { return modpGroups[group] }

var modpGenerator = big.NewInt(2)

// modpKE is classic Diffie-Hellman over a MODP group using math/big, the
// only finite-field arithmetic Go offers: the standard library has no
// finite-field DH. math/big is NOT constant time, so the private exponent
// may leak through timing to an attacker who can measure this process
// closely; prefer the elliptic-curve groups (Curve25519, ECP), which
// crypto/ecdh computes in constant time. Keys are ephemeral (one per
// exchange), which limits what such a leak is worth.
type modpKE struct {
	g   *modpGroup
	x   *big.Int // private exponent
	pub []byte
}

func newMODPKE(g *modpGroup) (*modpKE, error) {
	buf := make([]byte, g.expBits/8)
	defer clear(buf)
	x := new(big.Int)
	for x.Cmp(big.NewInt(1)) <= 0 {
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("crypto: generating %s key: %w", GroupName(g.id), err)
		}
		buf[0] |= 0x80 // full length, so every exponent costs the same number of squarings
		x.SetBytes(buf)
	}
	y := new(big.Int).Exp(modpGenerator, x, g.p)
	return &modpKE{g: g, x: x, pub: y.FillBytes(make([]byte, g.size))}, nil
}

func (k *modpKE) Group() uint16 { return k.g.id }

func (k *modpKE) Public() []byte { return append([]byte(nil), k.pub...) }

// SharedSecret checks 1 < y < p-1 (RFC 7296 2.12 / NIST SP 800-56A
// 5.6.2.3.1 partial public-key validation; with a safe prime that excludes
// the small subgroup {1, p-1}) and returns y^x mod p left-padded with zeros
// to the length of p (RFC 7296 2.14).
func (k *modpKE) SharedSecret(peer []byte) ([]byte, error) {
	if k.x == nil {
		return nil, errors.New("crypto: key exchange used after Wipe")
	}
	if len(peer) != k.g.size {
		return nil, fmt.Errorf("%w: %s takes %d bytes, got %d", ErrInvalidPublic, GroupName(k.g.id), k.g.size, len(peer))
	}
	y := new(big.Int).SetBytes(peer)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(k.g.pMinus1) >= 0 {
		return nil, fmt.Errorf("%w: %s: public value outside 1 < y < p-1", ErrInvalidPublic, GroupName(k.g.id))
	}
	z := new(big.Int).Exp(y, k.x, k.g.p)
	defer clear(z.Bits())
	if z.Cmp(big.NewInt(1)) <= 0 {
		return nil, fmt.Errorf("%w: %s: degenerate shared secret", ErrInvalidPublic, GroupName(k.g.id))
	}
	return z.FillBytes(make([]byte, k.g.size)), nil
}

// Wipe clears the words of the private exponent (intermediate values inside
// math/big cannot be reached).
func (k *modpKE) Wipe() {
	if k.x != nil {
		clear(k.x.Bits())
		k.x = nil
	}
}
