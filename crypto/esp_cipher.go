package crypto

import "fmt"

// espHeaderLen is the ESP header in front of the IV: SPI(4) || Sequence
// Number(4) (RFC 4303 2).
const espHeaderLen = 8

// NewESPCipher returns the cipher for one direction of an SA. key is that
// direction's keying material, suite.KeyLen() bytes in the order of RFC 7296
// 2.17: encryption key (with the RFC 4106 / RFC 7634 salt at its end), then
// the integrity key. NewESPCipher copies what it keeps; the caller may wipe
// key afterwards.
func NewESPCipher(suite ESPSuite, key []byte) (ESPCipher, error) {
	if len(key) != suite.KeyLen() {
		return nil, fmt.Errorf("crypto: ESP suite %s takes %d bytes of key, got %d", suite.Name, suite.KeyLen(), len(key))
	}
	// Ciphers point at the registry's copy of their suite rather than
	// carrying one (88 bytes each, two per Child SA).
	var reg *ESPSuite
	for i := range espSuites {
		if espSuites[i] == suite {
			reg = &espSuites[i]
			break
		}
	}
	if reg == nil {
		return nil, fmt.Errorf("crypto: ESP suite %q is not one of ESPSuites()", suite.Name)
	}
	if suite.AEAD {
		return newESPAEAD(reg, key)
	}
	return newESPHMAC(reg, key)
}
