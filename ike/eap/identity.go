package eap

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// NewIdentityServer asks the peer for its identity (RFC 3748 5.1) and
// succeeds with whatever UTF-8 identity of at most MaxIdentityLen octets it
// gets. On its own it authenticates nothing and derives no MSK; it is meant
// as the first element of NewChainServer.
func NewIdentityServer() Server {
	return newServer(&identityServer{})
}

type identityServer struct {
	got string
}

func (*identityServer) methodType() Type { return TypeIdentity }

func (*identityServer) start(uint8) ([]byte, error) { return nil, nil }

func (m *identityServer) handle(data []byte, _ uint8) ([]byte, bool, error) {
	if err := checkIdentity(data); err != nil {
		return nil, false, err
	}
	m.got = string(data)
	return nil, true, nil
}

// checkIdentity enforces what an identity may be before it reaches logs and
// credential lookups: UTF-8 (RFC 3748 5.1), no NUL, bounded.
func checkIdentity(b []byte) error {
	if len(b) > MaxIdentityLen {
		return fmt.Errorf("%w: identity of %d octets", ErrMalformed, len(b))
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return fmt.Errorf("%w: identity is not NUL-free UTF-8", ErrMalformed)
	}
	return nil
}

func (*identityServer) msk() []byte        { return nil }
func (m *identityServer) identity() string { return m.got }
func (*identityServer) maxRounds() int     { return 1 }
func (*identityServer) close()             {}
