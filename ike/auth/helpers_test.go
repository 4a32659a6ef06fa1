package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsa2         *rsa.PrivateKey
	p256, p256b, p384 *ecdsa.PrivateKey
	p521              *ecdsa.PrivateKey
	ed, ed2           ed25519.PrivateKey
}

var keys = sync.OnceValue(func() *testKeys {
	must := func(k crypto.Signer, err error) crypto.Signer {
		if err != nil {
			panic(err)
		}
		return k
	}
	var k testKeys
	k.rsa = must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey)
	k.rsa2 = must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey)
	k.p256 = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)).(*ecdsa.PrivateKey)
	k.p256b = must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)).(*ecdsa.PrivateKey)
	k.p384 = must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)).(*ecdsa.PrivateKey)
	k.p521 = must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader)).(*ecdsa.PrivateKey)
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	_, k.ed2, _ = ed25519.GenerateKey(rand.Reader)
	return &k
})

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var serial int64

// certSpec describes a test certificate.
type certSpec struct {
	subject    pkix.Name
	dns        []string
	emails     []string
	ips        []net.IP
	ca         bool
	notBefore  time.Time
	notAfter   time.Time
	eku        []x509.ExtKeyUsage
	unknownEKU []asn1.ObjectIdentifier
	sigAlg     x509.SignatureAlgorithm
}

// issue creates a certificate for pub signed by parent and parentKey.
func issue(t testing.TB, spec certSpec, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial++
	if spec.notBefore.IsZero() {
		spec.notBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               spec.subject,
		DNSNames:              spec.dns,
		EmailAddresses:        spec.emails,
		IPAddresses:           spec.ips,
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
		ExtKeyUsage:           spec.eku,
		UnknownExtKeyUsage:    spec.unknownEKU,
		SignatureAlgorithm:    spec.sigAlg,
	}
	if spec.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// selfSigned creates a self-signed CA certificate.
func selfSigned(t testing.TB, spec certSpec, key crypto.Signer) *x509.Certificate {
	t.Helper()
	spec.ca = true
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               spec.subject,
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SignatureAlgorithm:    spec.sigAlg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
