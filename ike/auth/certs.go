package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// Certificate encodings of the CERT and CERTREQ payloads (RFC 7296 3.6).
const (
	// CertEncodingX509Signature is "X.509 Certificate - Signature": the
	// DER certificate in CERT, SHA-1 hashes of CA public keys in CERTREQ.
	CertEncodingX509Signature uint8 = 4
)

// LoadCertificates reads every certificate in a file: PEM with one or more
// CERTIFICATE blocks (other blocks are skipped), or a single DER
// certificate. Errors name the file and never contain its bytes.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: certificate: %w", err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("auth: certificate file %s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificates is LoadCertificates on bytes in memory.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !looksLikePEM(data) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("expected PEM CERTIFICATE blocks or a DER X.509 certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("expected PEM CERTIFICATE blocks, found none")
	}
	return certs, nil
}

func looksLikePEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}

// LoadPrivateKey reads a private key: PEM "RSA PRIVATE KEY" (PKCS#1),
// "EC PRIVATE KEY" (SEC 1) or "PRIVATE KEY" (PKCS#8 with RSA, ECDSA or
// Ed25519), or the same structures as DER. Encrypted keys are refused
// (decrypt them first). Errors name the file and what was expected, never
// key material.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: private key: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("auth: private key file %s: %w", path, err)
	}
	return k, nil
}

// ParsePrivateKey is LoadPrivateKey on bytes in memory.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	if looksLikePEM(data) {
		rest := data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				return nil, errors.New("expected a PEM RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY block, found none")
			}
			switch block.Type {
			case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY":
				if _, encrypted := block.Headers["DEK-Info"]; encrypted {
					return nil, errors.New("encrypted PEM keys are not supported")
				}
				return parseKeyDER(block.Type, block.Bytes)
			case "ENCRYPTED PRIVATE KEY":
				return nil, errors.New("encrypted PKCS#8 keys are not supported")
			}
		}
	}
	return parseKeyDER("", data)
}

// parseKeyDER parses the DER of a key; kind is the PEM type or "" to try
// PKCS#8, PKCS#1 and SEC 1 in turn.
func parseKeyDER(kind string, der []byte) (crypto.Signer, error) {
	switch kind {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("bad PKCS#1 RSA key: %w", err)
		}
		return k, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("bad SEC 1 EC key: %w", err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("bad PKCS#8 key: %w", err)
		}
		return signerOf(k)
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return signerOf(k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("expected a PEM or DER private key (PKCS#8, PKCS#1 RSA or SEC 1 EC)")
}

func signerOf(k any) (crypto.Signer, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T (want RSA, ECDSA or Ed25519)", k)
}

// VerifyChain validates leaf up to one of roots at time now, with
// intermediates as candidates, and returns the chains found (leaf first),
// as x509.Certificate.Verify does.
//
// Extended key usage is not restricted (x509.ExtKeyUsageAny): IKE
// certificates issued by strongSwan's pki tool and most private CAs carry
// no EKU, or serverAuth, clientAuth or ipsecIKE (RFC 4945 5.1.3.12 says
// an IKE peer must not require one). Key usage bits are not checked
// either. No revocation checking is done. A nil or empty roots is an
// error, never "trust the system pool".
func VerifyChain(leaf *x509.Certificate, intermediates []*x509.Certificate, roots []*x509.Certificate, now time.Time) ([][]*x509.Certificate, error) {
	if leaf == nil {
		return nil, errors.New("auth: no certificate to verify")
	}
	if len(roots) == 0 {
		return nil, errors.New("auth: no trusted CA certificates configured")
	}
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	for _, c := range roots {
		opts.Roots.AddCert(c)
	}
	for _, c := range intermediates {
		opts.Intermediates.AddCert(c)
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, fmt.Errorf("auth: certificate %q: %w", leaf.Subject.String(), err)
	}
	return chains, nil
}

// ParseCertPayload returns the certificate in a CERT payload body after
// the encoding octet has been split off. Only encoding 4 (X.509 Certificate
// - Signature) is supported; others are ErrUnsupportedMethod.
func ParseCertPayload(encoding uint8, data []byte) (*x509.Certificate, error) {
	if encoding != CertEncodingX509Signature {
		return nil, fmt.Errorf("%w: certificate encoding %d", ErrUnsupportedMethod, encoding)
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%w: CERT payload: %w", ErrMalformed, err)
	}
	return c, nil
}

// CertPayloadData returns the encoding and data of a CERT payload carrying
// cert (RFC 7296 3.6): encoding 4 and the DER certificate. The data
// aliases cert.Raw.
func CertPayloadData(cert *x509.Certificate) (encoding uint8, data []byte) {
	return CertEncodingX509Signature, cert.Raw
}

// CAKeyHash returns the SHA-1 hash of cert's SubjectPublicKeyInfo, the
// Certification Authority value of a CERTREQ payload (RFC 7296 3.7).
func CAKeyHash(cert *x509.Certificate) [sha1.Size]byte {
	return sha1.Sum(cert.RawSubjectPublicKeyInfo)
}

// CertReqHashes returns the Certification Authority data of a CERTREQ
// payload with encoding 4 for the given CAs: their CAKeyHash values
// concatenated (RFC 7296 3.7).
func CertReqHashes(cas []*x509.Certificate) []byte {
	out := make([]byte, 0, sha1.Size*len(cas))
	for _, c := range cas {
		h := CAKeyHash(c)
		out = append(out, h[:]...)
	}
	return out
}

// MatchCertReq returns the CAs among cas whose hash appears in the data of
// a CERTREQ payload (without its encoding octet), in the order of cas.
// Data whose length is not a multiple of 20 octets is matched as far as it
// goes; empty data (RFC 7296 3.7 allows a CERTREQ without CAs) matches
// nothing.
func MatchCertReq(data []byte, cas ...*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range cas {
		h := CAKeyHash(c)
		for i := 0; i+sha1.Size <= len(data); i += sha1.Size {
			if bytes.Equal(data[i:i+sha1.Size], h[:]) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
