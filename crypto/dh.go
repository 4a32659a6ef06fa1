package crypto

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// KeyExchange is one side of an ephemeral Diffie-Hellman exchange (RFC 7296
// 1.2, 3.4). It is used by one goroutine at a time.
type KeyExchange interface {
	// Group is the IANA transform ID of the group (DHCurve25519, ...).
	Group() uint16
	// Public returns the Key Exchange Data to send in a KE payload, exactly
	// KEPublicLen(Group()) bytes. The slice is fresh on every call.
	Public() []byte
	// SharedSecret validates the peer's Key Exchange Data and returns g^ir
	// in a fresh slice the caller owns and should wipe once the keys are
	// derived. Invalid peer values return an error wrapping
	// ErrInvalidPublic (answer with INVALID_SYNTAX, RFC 7296 2.21).
	SharedSecret(peer []byte) ([]byte, error)
	// Wipe destroys the private key as far as Go allows (the private
	// scalar inside crypto/ecdh cannot be reached; the reference is
	// dropped). The KeyExchange must not be used afterwards.
	Wipe()
}

// ErrInvalidPublic is wrapped by KeyExchange.SharedSecret for a peer public
// value that has the wrong length, is not on the curve or in the group, or
// yields a degenerate shared secret.
var ErrInvalidPublic = errors.New("crypto: invalid key exchange public value")

// NewKeyExchange generates a fresh private key for the group, from
// crypto/rand. Supported groups: DHCurve25519 (RFC 8031), DHECP256,
// DHECP384, DHECP521 (RFC 5903), DHMODP2048, DHMODP3072, DHMODP4096 (RFC
// 3526) and DHMODP1024 (RFC 2409; weak, for peers configured to use it).
func NewKeyExchange(group uint16) (KeyExchange, error) {
	if curve := ecdhCurve(group); curve != nil {
		priv, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("crypto: generating %s key: %w", GroupName(group), err)
		}
		return &ecdhKE{group: group, priv: priv}, nil
	}
	if g := modpGroupOf(group); g != nil {
		return newMODPKE(g)
	}
	return nil, fmt.Errorf("crypto: unsupported Diffie-Hellman group %d", group)
}

// KEPublicLen is the length of the Key Exchange Data of a group (RFC 7296
// 3.4: a KE payload whose length does not match is answered with
// INVALID_SYNTAX, one of another group with INVALID_KE_PAYLOAD), or 0 for an
// unsupported group.
func KEPublicLen(group uint16) int {
	switch group {
	case DHCurve25519:
		return 32 // RFC 8031 2
	case DHECP256:
		return 64 // RFC 5903 7: x | y, each 32 bytes
	case DHECP384:
		return 96
	case DHECP521:
		return 132 // two 66-byte coordinates
	}
	if g := modpGroupOf(group); g != nil {
		return g.size
	}
	return 0
}

// groupNames are the canonical strongSwan keywords of the supported groups.
var groupNames = map[uint16]string{
	DHCurve25519: "x25519",
	DHECP256:     "ecp256",
	DHECP384:     "ecp384",
	DHECP521:     "ecp521",
	DHMODP1024:   "modp1024",
	DHMODP2048:   "modp2048",
	DHMODP3072:   "modp3072",
	DHMODP4096:   "modp4096",
}

// GroupName returns the strongSwan keyword of a group ("x25519", "ecp256",
// "modp2048", ...), "none" for DHNone, or "group<N>" for others.
func GroupName(group uint16) string {
	if group == DHNone {
		return "none"
	}
	if n, ok := groupNames[group]; ok {
		return n
	}
	return fmt.Sprintf("group%d", group)
}

// GroupByName returns the supported group a strongSwan keyword names
// (case-insensitive; "curve25519" is an alias of "x25519").
func GroupByName(name string) (uint16, bool) {
	g, ok := dhKeywords[strings.ToLower(name)]
	return g, ok
}

func ecdhCurve(group uint16) ecdh.Curve {
	switch group {
	case DHCurve25519:
		return ecdh.X25519()
	case DHECP256:
		return ecdh.P256()
	case DHECP384:
		return ecdh.P384()
	case DHECP521:
		return ecdh.P521()
	}
	return nil
}

// ecdhKE is Curve25519 (RFC 8031) or a NIST curve (RFC 5903) through
// crypto/ecdh, which validates peer points (length, on the curve, not the
// point at infinity) and refuses an all-zero X25519 result (RFC 8031 2.3).
type ecdhKE struct {
	group uint16
	priv  *ecdh.PrivateKey
}

func (k *ecdhKE) Group() uint16 { return k.group }

func (k *ecdhKE) Public() []byte {
	pub := k.priv.PublicKey().Bytes()
	if k.group == DHCurve25519 {
		return pub
	}
	// RFC 5903 7: the KE data is x | y, without SEC1's 0x04 prefix.
	return pub[1:]
}

func (k *ecdhKE) SharedSecret(peer []byte) ([]byte, error) {
	if k.priv == nil {
		return nil, errors.New("crypto: key exchange used after Wipe")
	}
	if len(peer) != KEPublicLen(k.group) {
		return nil, fmt.Errorf("%w: %s takes %d bytes, got %d", ErrInvalidPublic, GroupName(k.group), KEPublicLen(k.group), len(peer))
	}
	enc := peer
	if k.group != DHCurve25519 {
		enc = make([]byte, 1+len(peer))
		enc[0] = 4 // SEC1 uncompressed point
		copy(enc[1:], peer)
	}
	pub, err := k.priv.Curve().NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not a valid point", ErrInvalidPublic, GroupName(k.group))
	}
	// RFC 5903 7 / RFC 8031 2: the shared secret is the x coordinate
	// (Curve25519: the u coordinate), which is what ECDH returns. ECDH
	// fails for an all-zero X25519 output (low-order peer point).
	secret, err := k.priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: degenerate shared secret", ErrInvalidPublic, GroupName(k.group))
	}
	return secret, nil
}

func (k *ecdhKE) Wipe() { k.priv = nil }
