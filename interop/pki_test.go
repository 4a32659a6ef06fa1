//go:build interop && linux

package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// pkiSet is a CA and one certificate per lab host, made at test time with
// strongSwan's pki: the subjectAltName of each host's certificate is its
// identity (a dNSName), private keys are PEM PKCS#8 (openssl pkey), which
// both strongSwan and Go's crypto/x509 read.
type pkiSet struct{ dir string }

func (p pkiSet) caCert() string          { return filepath.Join(p.dir, "ca.pem") }
func (p pkiSet) cert(host string) string { return filepath.Join(p.dir, host+".pem") }
func (p pkiSet) key(host string) string  { return filepath.Join(p.dir, host+".key") }

var (
	pkiMu    sync.Mutex
	pkiCache = map[authKind]pkiSet{}
)

// pkiFor returns the run's PKI for kind (authECDSA or authRSAPSS), making
// it on first use.
func pkiFor(t *testing.T, kind authKind) pkiSet {
	t.Helper()
	pkiMu.Lock()
	defer pkiMu.Unlock()
	if p, ok := pkiCache[kind]; ok {
		return p
	}
	p, err := makePKI(filepath.Join(runDir, "pki-"+string(kind)), kind)
	if err != nil {
		fatalf(t, "making the %s PKI: %v", kind, err)
	}
	pkiCache[kind] = p
	return p
}

func makePKI(dir string, kind authKind) (pkiSet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pkiSet{}, err
	}
	var gen, sig []string
	switch kind {
	case authECDSA:
		gen = []string{"--type", "ecdsa", "--size", "256"}
		sig = []string{"--digest", "sha256"}
	case authRSAPSS:
		gen = []string{"--type", "rsa", "--size", "2048"}
		sig = []string{"--digest", "sha256", "--rsa-padding", "pss"}
	default:
		return pkiSet{}, fmt.Errorf("no PKI for auth %q", kind)
	}
	p := pkiSet{dir}
	run := func(out string, args ...string) error {
		cmd := exec.Command(args[0], args[1:]...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		if out != "" {
			return os.WriteFile(out, b, 0o600)
		}
		return nil
	}
	caKey := filepath.Join(dir, "ca.raw.key")
	if err := run(caKey, append([]string{"pki", "--gen", "--outform", "pem"}, gen...)...); err != nil {
		return p, err
	}
	if err := run(p.caCert(), append([]string{"pki", "--self", "--ca", "--lifetime", "30", "--in", caKey, "--type", "priv",
		"--dn", "O=esptun, CN=esptun interop " + string(kind) + " CA", "--outform", "pem"}, sig...)...); err != nil {
		return p, err
	}
	for _, host := range []string{"moon", "sun"} {
		id := host + ".interop.test"
		raw := filepath.Join(dir, host+".raw.key")
		pub := filepath.Join(dir, host+".pub")
		if err := run(raw, append([]string{"pki", "--gen", "--outform", "pem"}, gen...)...); err != nil {
			return p, err
		}
		if err := run("", "openssl", "pkey", "-in", raw, "-out", p.key(host)); err != nil {
			return p, err
		}
		if err := run(pub, "pki", "--pub", "--in", raw, "--type", "priv", "--outform", "pem"); err != nil {
			return p, err
		}
		if err := run(p.cert(host), append([]string{"pki", "--issue", "--lifetime", "30", "--cacert", p.caCert(), "--cakey", caKey,
			"--type", "pub", "--in", pub, "--dn", "O=esptun, CN=" + id, "--san", id, "--outform", "pem"}, sig...)...); err != nil {
			return p, err
		}
	}
	return p, nil
}
