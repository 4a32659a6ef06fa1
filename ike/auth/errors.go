package auth

import "errors"

// Sentinel errors. Functions wrap them with %w and context; callers branch
// with errors.Is. An IKE responder maps all of them to the
// AUTHENTICATION_FAILED notify (RFC 7296 2.21.2).
var (
	// ErrAuthFailed: the AUTH data did not verify.
	ErrAuthFailed = errors.New("auth: authentication failed")
	// ErrUnsupportedMethod: an auth method or signature scheme that this
	// package does not implement.
	ErrUnsupportedMethod = errors.New("auth: unsupported authentication method")
	// ErrSHA1NotAllowed: a SHA-1 based scheme refused by Policy.
	ErrSHA1NotAllowed = errors.New("auth: SHA-1 signatures not allowed by policy")
	// ErrKeyMismatch: the key type does not fit the method or scheme.
	ErrKeyMismatch = errors.New("auth: key does not fit the signature scheme")
	// ErrMalformed: AUTH, notify, ID or certificate request data that does
	// not parse.
	ErrMalformed = errors.New("auth: malformed data")
	// ErrNoCommonHash: the peer announced no hash algorithm usable with the
	// local key.
	ErrNoCommonHash = errors.New("auth: no common signature hash algorithm")
)
