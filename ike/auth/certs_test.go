package auth

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// testPKI is a CA with an intermediate and leaves of every key type.
type testPKI struct {
	root, inter, other          *x509.Certificate
	rootKey, interKey           crypto.Signer
	leafECDSA, leafRSAPSS       *x509.Certificate
	leafEd25519, leafRSAPKCS1   *x509.Certificate
	expired, notYet, ipsecIKE   *x509.Certificate
	fromOther, noEKU, clientEKU *x509.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	k := keys()
	var p testPKI
	p.rootKey = k.p384
	p.root = selfSigned(t, certSpec{subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan"}, CommonName: "strongSwan Root CA"}}, p.rootKey)
	p.interKey = k.rsa2
	p.inter = issue(t, certSpec{subject: pkix.Name{CommonName: "Intermediate CA"}, ca: true}, p.interKey.Public(), p.root, p.rootKey)
	p.other = selfSigned(t, certSpec{subject: pkix.Name{CommonName: "Other CA"}}, k.p256b)
	leaf := func(cn string, pub crypto.PublicKey, spec certSpec) *x509.Certificate {
		spec.subject = pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan"}, CommonName: cn}
		spec.dns = []string{cn}
		return issue(t, spec, pub, p.inter, p.interKey)
	}
	p.leafECDSA = leaf("moon.strongswan.org", k.p256.Public(), certSpec{})
	p.leafRSAPSS = leaf("sun.strongswan.org", k.rsa.Public(), certSpec{sigAlg: x509.SHA256WithRSAPSS})
	p.leafRSAPKCS1 = leaf("venus.strongswan.org", k.rsa.Public(), certSpec{sigAlg: x509.SHA256WithRSA})
	p.leafEd25519 = leaf("mars.strongswan.org", k.ed.Public(), certSpec{})
	p.expired = leaf("old.strongswan.org", k.p256.Public(), certSpec{notBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})
	p.notYet = leaf("new.strongswan.org", k.p256.Public(), certSpec{notBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	// id-kp-ipsecIKE (RFC 4945 5.1.3.12), which Go has no constant for.
	p.ipsecIKE = leaf("ike.strongswan.org", k.p256.Public(), certSpec{unknownEKU: []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 17}}})
	p.clientEKU = leaf("client.strongswan.org", k.p256.Public(), certSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.noEKU = p.leafECDSA
	p.fromOther = issue(t, certSpec{subject: pkix.Name{CommonName: "moon.strongswan.org"}}, k.p256.Public(), p.other, k.p256b)
	return &p
}

func TestVerifyChain(t *testing.T) {
	p := newTestPKI(t)
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	roots := []*x509.Certificate{p.root}
	inters := []*x509.Certificate{p.inter}
	tests := []struct {
		name   string
		leaf   *x509.Certificate
		inters []*x509.Certificate
		roots  []*x509.Certificate
		ok     bool
		reason x509.InvalidReason
	}{
		{"ecdsa leaf", p.leafECDSA, inters, roots, true, 0},
		{"rsa-pss leaf", p.leafRSAPSS, inters, roots, true, 0},
		{"rsa pkcs1 leaf", p.leafRSAPKCS1, inters, roots, true, 0},
		{"ed25519 leaf", p.leafEd25519, inters, roots, true, 0},
		{"ipsecIKE eku", p.ipsecIKE, inters, roots, true, 0},
		{"client auth eku", p.clientEKU, inters, roots, true, 0},
		{"intermediate as root", p.leafECDSA, nil, []*x509.Certificate{p.inter}, true, 0},
		{"expired", p.expired, inters, roots, false, x509.Expired},
		{"not yet valid", p.notYet, inters, roots, false, x509.Expired},
		{"missing intermediate", p.leafECDSA, nil, roots, false, 0},
		{"wrong ca", p.leafECDSA, inters, []*x509.Certificate{p.other}, false, 0},
		{"issued by other ca", p.fromOther, inters, roots, false, 0},
		{"no roots", p.leafECDSA, inters, nil, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chains, err := VerifyChain(tc.leaf, tc.inters, tc.roots, now)
			if !tc.ok {
				if err == nil {
					t.Fatal("verified")
				}
				var inv x509.CertificateInvalidError
				if tc.reason != 0 && (!errors.As(err, &inv) || inv.Reason != tc.reason) {
					t.Fatalf("err = %v, want reason %v", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(chains) == 0 || chains[0][0] != tc.leaf {
				t.Fatalf("chains = %v", chains)
			}
		})
	}
	if _, err := VerifyChain(nil, nil, roots, now); err == nil {
		t.Fatal("nil leaf verified")
	}
}

func TestLoadCertificates(t *testing.T) {
	p := newTestPKI(t)
	bundle := append(append(pemBlock("CERTIFICATE", p.leafECDSA.Raw), pemBlock("PRIVATE KEY", []byte{1})...), pemBlock("CERTIFICATE", p.inter.Raw)...)
	certs, err := LoadCertificates(writeFile(t, "bundle.pem", bundle))
	if err != nil || len(certs) != 2 || !certs[0].Equal(p.leafECDSA) || !certs[1].Equal(p.inter) {
		t.Fatalf("PEM bundle: %v, %v", certs, err)
	}
	certs, err = LoadCertificates(writeFile(t, "moon.der", p.leafECDSA.Raw))
	if err != nil || len(certs) != 1 || !certs[0].Equal(p.leafECDSA) {
		t.Fatalf("DER: %v, %v", certs, err)
	}
	bad := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"garbage", "x.der", []byte("not a certificate"), "expected PEM CERTIFICATE blocks or a DER X.509 certificate"},
		{"no certificate blocks", "key.pem", pemBlock("PRIVATE KEY", []byte{1}), "found none"},
		{"broken block", "bad.pem", pemBlock("CERTIFICATE", []byte{0x30, 0}), "PEM block 1"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.data)
			_, err := LoadCertificates(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := LoadCertificates(filepath.Join(t.TempDir(), "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestLoadPrivateKey(t *testing.T) {
	k := keys()
	pkcs8 := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, err := x509.MarshalECPrivateKey(k.p384)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want crypto.Signer
	}{
		{"pkcs1 pem", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)), k.rsa},
		{"pkcs1 der", x509.MarshalPKCS1PrivateKey(k.rsa), k.rsa},
		{"sec1 pem", pemBlock("EC PRIVATE KEY", sec1), k.p384},
		{"sec1 der", sec1, k.p384},
		{"pkcs8 rsa pem", pemBlock("PRIVATE KEY", pkcs8(k.rsa)), k.rsa},
		{"pkcs8 ecdsa pem", pemBlock("PRIVATE KEY", pkcs8(k.p256)), k.p256},
		{"pkcs8 ed25519 pem", pemBlock("PRIVATE KEY", pkcs8(k.ed)), k.ed},
		{"pkcs8 ed25519 der", pkcs8(k.ed), k.ed},
		{"after other blocks", append(pemBlock("CERTIFICATE", []byte{1}), pemBlock("EC PRIVATE KEY", sec1)...), k.p384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadPrivateKey(writeFile(t, "key", tc.data))
			if err != nil {
				t.Fatal(err)
			}
			type equaler interface{ Equal(crypto.PrivateKey) bool }
			if !got.(equaler).Equal(tc.want) {
				t.Fatal("different key")
			}
			// The loaded key signs for the method 14 round trip.
			method, data, err := Sign(got, 0, []byte("octets"), SupportedHashAlgorithms(Policy{}))
			if err != nil || Verify(tc.want.Public(), method, []byte("octets"), data, Policy{}) != nil {
				t.Fatalf("sign with loaded key: %v", err)
			}
		})
	}
	encrypted := &pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}}
	bad := []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("garbage"), "expected a PEM or DER private key"},
		{"certificate only", pemBlock("CERTIFICATE", []byte{1}), "found none"},
		{"encrypted pem", pem.EncodeToMemory(encrypted), "encrypted PEM keys are not supported"},
		{"encrypted pkcs8", pemBlock("ENCRYPTED PRIVATE KEY", []byte{1}), "encrypted PKCS#8"},
		{"broken pkcs1", pemBlock("RSA PRIVATE KEY", []byte{0x30, 0}), "bad PKCS#1 RSA key"},
		{"broken sec1", pemBlock("EC PRIVATE KEY", []byte{0x30, 0}), "bad SEC 1 EC key"},
		{"broken pkcs8", pemBlock("PRIVATE KEY", []byte{0x30, 0}), "bad PKCS#8 key"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "key.pem", tc.data)
			_, err := LoadPrivateKey(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestCertPayload(t *testing.T) {
	p := newTestPKI(t)
	enc, data := CertPayloadData(p.leafRSAPSS)
	if enc != CertEncodingX509Signature || !bytes.Equal(data, p.leafRSAPSS.Raw) {
		t.Fatalf("CertPayloadData = %d, %d bytes", enc, len(data))
	}
	c, err := ParseCertPayload(enc, data)
	if err != nil || !c.Equal(p.leafRSAPSS) {
		t.Fatalf("ParseCertPayload: %v", err)
	}
	if _, err := ParseCertPayload(12, data); !errors.Is(err, ErrUnsupportedMethod) {
		t.Fatalf("encoding 12 (hash and URL): %v", err)
	}
	if _, err := ParseCertPayload(enc, data[:40]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	// The leaf's key verifies an AUTH signature made with its private key.
	k := keys()
	method, auth, err := Sign(k.rsa, 0, []byte("octets"), []HashAlgorithm{HashSHA256})
	if err != nil || Verify(c.PublicKey, method, []byte("octets"), auth, Policy{}) != nil {
		t.Fatalf("verify with certificate key: %v", err)
	}
}

func TestCertReq(t *testing.T) {
	p := newTestPKI(t)
	cas := []*x509.Certificate{p.root, p.inter}
	data := CertReqHashes(cas)
	if len(data) != 40 {
		t.Fatalf("CertReqHashes: %d bytes", len(data))
	}
	// RFC 7296 3.7: SHA-1 of the SubjectPublicKeyInfo.
	h := sha1.Sum(p.root.RawSubjectPublicKeyInfo)
	if !bytes.Equal(data[:20], h[:]) {
		t.Fatal("first hash is not SHA-1 of the root's SubjectPublicKeyInfo")
	}
	tests := []struct {
		name string
		data []byte
		cas  []*x509.Certificate
		want []*x509.Certificate
	}{
		{"both", data, []*x509.Certificate{p.other, p.inter, p.root}, []*x509.Certificate{p.inter, p.root}},
		{"root only", data[:20], cas, []*x509.Certificate{p.root}},
		{"partial hash ignored", data[:39], cas, []*x509.Certificate{p.root}},
		{"none", CertReqHashes([]*x509.Certificate{p.other}), cas, nil},
		{"empty", nil, cas, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MatchCertReq(tc.data, tc.cas...)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d CAs, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("CA %d is %s", i, got[i].Subject)
				}
			}
		})
	}
}

// FuzzParseCertificates feeds the certificate and key file parsers and the
// CERTREQ matcher, seeded with real certificates of every key type (DER and
// a PEM chain), private keys in every accepted encoding and a CERTREQ body.
func FuzzParseCertificates(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	p := newTestPKI(f)
	k := keys()
	var chain []byte
	for _, c := range []*x509.Certificate{p.leafECDSA, p.leafRSAPSS, p.leafEd25519, p.ipsecIKE, p.inter, p.root} {
		f.Add(c.Raw)
		chain = append(chain, pemBlock("CERTIFICATE", c.Raw)...)
	}
	f.Add(chain)
	for _, key := range []crypto.Signer{k.p256, k.ed, k.rsa} {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pemBlock("PRIVATE KEY", der))
		f.Add(der)
	}
	ec, err := x509.MarshalECPrivateKey(k.p256)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pemBlock("EC PRIVATE KEY", ec))
	f.Add(pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)))
	rootHash, interHash := CAKeyHash(p.root), CAKeyHash(p.inter)
	f.Add(append(rootHash[:], interHash[:]...))
	cas := []*x509.Certificate{p.root, p.inter, p.other}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseCertificates(data)
		_, _ = ParsePrivateKey(data)
		for _, c := range MatchCertReq(data, cas...) {
			h := CAKeyHash(c)
			if !bytes.Contains(data, h[:]) {
				t.Fatalf("CERTREQ matched %s without its key hash", c.Subject)
			}
		}
	})
}
