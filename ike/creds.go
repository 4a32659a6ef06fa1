package ike

import (
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/auth"
)

// credentials holds what authentication needs, loaded once at start:
// shared secrets, private keys, certificates and CAs.
type credentials struct {
	psks []pskEntry
	eaps []pskEntry // EAP passwords
	keys []crypto.Signer
	// per connection
	localCerts map[*config.AuthRound][]*x509.Certificate
	cas        map[*config.AuthRound][]*x509.Certificate
	allCAs     []*x509.Certificate
}

type pskEntry struct {
	ids    []auth.Identity
	secret []byte
}

func loadCredentials(cfg *config.Config) (*credentials, error) {
	c := &credentials{
		localCerts: map[*config.AuthRound][]*x509.Certificate{},
		cas:        map[*config.AuthRound][]*x509.Certificate{},
	}
	for _, s := range cfg.Secrets {
		switch s.Type {
		case config.SecretIKE, config.SecretEAP:
			e := pskEntry{secret: s.Data}
			eapSecret := s.Type == config.SecretEAP
			for _, id := range s.IDs {
				pid, err := auth.ParseIdentity(id)
				if err != nil {
					return nil, fmt.Errorf("secrets.%s: id %q: %w", s.Name, id, err)
				}
				e.ids = append(e.ids, pid)
			}
			if eapSecret {
				c.eaps = append(c.eaps, e)
			} else {
				c.psks = append(c.psks, e)
			}
		default:
			if s.Key.Signer != nil {
				c.keys = append(c.keys, s.Key.Signer)
			}
		}
	}
	for _, conn := range cfg.Connections {
		for _, r := range []*config.AuthRound{&conn.Local, &conn.Remote} {
			for _, f := range r.Certs {
				certs, err := auth.LoadCertificates(f)
				if err != nil {
					return nil, fmt.Errorf("connections.%s: %w", conn.Name, err)
				}
				c.localCerts[r] = append(c.localCerts[r], certs...)
			}
			for _, f := range r.CACerts {
				certs, err := auth.LoadCertificates(f)
				if err != nil {
					return nil, fmt.Errorf("connections.%s: %w", conn.Name, err)
				}
				c.cas[r] = append(c.cas[r], certs...)
				c.allCAs = append(c.allCAs, certs...)
			}
		}
	}
	return c, nil
}

func (c *credentials) hasCAs() bool { return len(c.allCAs) > 0 }

func (c *credentials) certReqData() []byte { return auth.CertReqHashes(c.allCAs) }

// psk finds the shared secret for the pair of identities, as strongSwan
// does: the entry that names both wins over one that names one, which wins
// over one that names none.
func (c *credentials) psk(local, remote auth.Identity) ([]byte, error) {
	best, bestScore := []byte(nil), -1
	for _, e := range c.psks {
		score := 0
		ml, mr := false, false
		for _, id := range e.ids {
			if id.Equal(local) {
				ml = true
			}
			if id.Equal(remote) {
				mr = true
			}
		}
		switch {
		case len(e.ids) == 0:
			score = 0
		case ml && mr:
			score = 3
		case mr:
			score = 2
		case ml:
			score = 1
		default:
			continue
		}
		if score > bestScore {
			best, bestScore = e.secret, score
		}
	}
	if best == nil {
		return nil, errors.New("no shared secret for these identities")
	}
	return best, nil
}

// keyFor returns the private key that belongs to cert.
func (c *credentials) keyFor(cert *x509.Certificate) crypto.Signer {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	for _, k := range c.keys {
		if e, ok := k.Public().(equaler); ok && e.Equal(cert.PublicKey) {
			return k
		}
	}
	return nil
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
