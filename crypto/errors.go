package crypto

import "errors"

// ErrAuth is returned by ESPCipher.Open when the ICV does not verify.
var ErrAuth = errors.New("crypto: message authentication failed")
