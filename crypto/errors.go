package crypto

import "errors"

// ErrAuth is returned by ESPCipher.Open when the ICV does not verify.
var ErrAuth = errors.New("crypto: message authentication failed")

// ErrLength is returned by ESPCipher.Open for a packet that no Seal could
// have produced: too short to hold the ESP header, IV and ICV, or (AES-CBC)
// with ciphertext that is not a whole number of blocks (RFC 3602 3). Open
// checks the length before it spends any work on the ICV.
var ErrLength = errors.New("crypto: ESP packet length invalid for suite")
