// Package crypto is esptun's transform registry: IANA transform IDs and
// strongSwan proposal keywords, and the construction of the ciphers that
// protect ESP packets. It keeps no per-packet state; everything it returns is
// safe for concurrent use unless a doc comment says otherwise.
//
// All primitives come from Go's standard library and golang.org/x/crypto.
package crypto
