// Package crypto is esptun's transform registry and key schedule: IANA
// transform IDs and strongSwan proposal keywords for IKE and ESP, proposal
// selection (RFC 7296 2.7), the PRFs, prf+ and the IKE and Child SA key
// derivations (RFC 7296 2.13, 2.14, 2.17, 2.18), the key exchange groups
// (Curve25519, NIST ECP, MODP), the SK payload ciphers of IKE and the ciphers
// that protect ESP packets. It keeps no per-packet state; everything it
// returns is safe for concurrent use unless a doc comment says otherwise.
//
// All primitives come from Go's standard library and golang.org/x/crypto.
package crypto
