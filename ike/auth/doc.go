// Package auth implements IKEv2 peer authentication (RFC 7296 2.15, 2.16,
// 3.5, 3.6, 3.7, 3.8) for the IKE_AUTH exchange: the signed octets, the
// shared-key and EAP-MSK AUTH values, public-key signatures for the legacy
// methods and the RFC 7427 Digital Signature method, the
// SIGNATURE_HASH_ALGORITHMS notify data, certificates (loading, chain
// validation, CERT and CERTREQ payload data) and identities (ID payloads
// parsed from and printed to swanctl-style strings, compared and matched
// against certificates).
//
// The package deals in payload bodies and raw bytes only; it does not know
// the IKE message codec, so the IKE state machine can import it without a
// cycle. Nothing here is stateful; every function is safe for concurrent
// use. Secrets (shared keys, MSKs, SK_p, private keys) never appear in an
// error string.
package auth
