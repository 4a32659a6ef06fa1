package eap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"runtime"
	"sync"
	"testing"
	"time"
)

// testPKI is a throw-away CA with a server and a client certificate, plus
// a client certificate from a CA nobody trusts.
type testPKI struct {
	pool      *x509.CertPool
	server    tls.Certificate
	client    tls.Certificate
	untrusted tls.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func newCert(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func getPKI(t testing.TB) testPKI {
	pkiOnce.Do(func() {
		now := time.Now()
		ca := func(cn string, serial int64) (*x509.Certificate, *ecdsa.PrivateKey) {
			return newCert(t, &x509.Certificate{
				SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
				IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
			}, nil, nil)
		}
		leaf := func(cn string, serial int64, eku x509.ExtKeyUsage, caCert *x509.Certificate, caKey *ecdsa.PrivateKey) tls.Certificate {
			c, k := newCert(t, &x509.Certificate{
				SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku},
			}, caCert, caKey)
			return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}
		}
		caCert, caKey := ca("esptun test CA", 1)
		otherCert, otherKey := ca("someone else's CA", 2)
		pki.pool = x509.NewCertPool()
		pki.pool.AddCert(caCert)
		pki.server = leaf("gw.example.org", 3, x509.ExtKeyUsageServerAuth, caCert, caKey)
		pki.client = leaf("carol@example.org", 4, x509.ExtKeyUsageClientAuth, caCert, caKey)
		pki.untrusted = leaf("mallory@example.org", 5, x509.ExtKeyUsageClientAuth, otherCert, otherKey)
	})
	return pki
}

func tlsPair(t testing.TB, version uint16, frag int, clientCert tls.Certificate, serverRoots *x509.CertPool, sOpts, cOpts *TLSOptions) (Server, Client) {
	t.Helper()
	p := getPKI(t)
	if sOpts == nil {
		sOpts = &TLSOptions{}
	}
	if cOpts == nil {
		cOpts = &TLSOptions{}
	}
	sOpts.FragmentSize, cOpts.FragmentSize = frag, frag
	s, err := NewTLSServer(&tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, MaxVersion: version,
	}, sOpts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewTLSClient("carol@example.org", &tls.Config{
		Certificates: []tls.Certificate{clientCert}, RootCAs: serverRoots,
		ServerName: "gw.example.org", MaxVersion: version,
	}, cOpts)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestTLSRoundTrip(t *testing.T) {
	p := getPKI(t)
	for _, v := range []struct {
		name string
		ver  uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		for _, frag := range []int{MinFragmentSize, 100, 1000, 0} {
			t.Run(v.name+"/frag"+itoa(frag), func(t *testing.T) {
				s, c := tlsPair(t, v.ver, frag, p.client, p.pool, nil, nil)
				chain, err := NewChainServer(NewIdentityServer(), s)
				if err != nil {
					t.Fatal(err)
				}
				serr, cerr, rounds := converse(t, chain, c)
				if serr != nil || cerr != nil {
					t.Fatalf("server %v, client %v", serr, cerr)
				}
				sk, ck := chain.MSK(), c.MSK()
				if len(sk) != MSKLen || !bytes.Equal(sk, ck) || bytes.Equal(sk, make([]byte, MSKLen)) {
					t.Fatalf("MSK server %x client %x", sk, ck)
				}
				if chain.Identity() != "carol@example.org" {
					t.Fatalf("identity %q", chain.Identity())
				}
				if leaf := PeerCertificate(chain); leaf == nil || leaf.Subject.CommonName != "carol@example.org" {
					t.Fatalf("peer certificate %v", leaf)
				}
				t.Logf("%d round trips", rounds)
				chain.Close()
				c.Close()
			})
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "default"
	}
	return string(rune('0'+i/1000%10)) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func TestTLSUntrusted(t *testing.T) {
	p := getPKI(t)
	t.Run("client certificate", func(t *testing.T) {
		s, c := tlsPair(t, tls.VersionTLS13, 0, p.untrusted, p.pool, nil, nil)
		serr, cerr, _ := converse(t, s, c)
		if !errors.Is(serr, ErrAuthFailed) || !errors.Is(cerr, ErrFailure) {
			t.Fatalf("server %v, client %v", serr, cerr)
		}
		if s.MSK() != nil || c.MSK() != nil || PeerCertificate(s) != nil {
			t.Fatal("MSK or certificate after failure")
		}
	})
	t.Run("server certificate", func(t *testing.T) {
		s, c := tlsPair(t, tls.VersionTLS12, 0, p.client, x509.NewCertPool(), nil, nil)
		_, cerr, _ := converse(t, s, c)
		if !errors.Is(cerr, ErrAuthFailed) {
			t.Fatalf("client %v", cerr)
		}
		s.Close()
	})
}

// TestTLS13KeyDerivations: the RFC 9190 and the strongSwan 5.9 derivations
// give different keys, and each side agrees with itself.
func TestTLS13KeyDerivations(t *testing.T) {
	p := getPKI(t)
	msk := func(sk, ck TLS13Key) ([]byte, []byte) {
		s, c := tlsPair(t, tls.VersionTLS13, 0, p.client, p.pool, &TLSOptions{TLS13Key: sk}, &TLSOptions{TLS13Key: ck})
		if serr, cerr, _ := converse(t, s, c); serr != nil || cerr != nil {
			t.Fatalf("server %v, client %v", serr, cerr)
		}
		return s.MSK(), c.MSK()
	}
	a, b := msk(TLS13KeyStrongSwan, TLS13KeyStrongSwan)
	if !bytes.Equal(a, b) || a == nil {
		t.Fatal("strongSwan derivation disagrees")
	}
	a, b = msk(TLS13KeyRFC9190, TLS13KeyStrongSwan)
	if bytes.Equal(a, b) {
		t.Fatal("derivations coincide")
	}
}

func TestTLSConfigChecks(t *testing.T) {
	p := getPKI(t)
	if _, err := NewTLSServer(&tls.Config{Certificates: []tls.Certificate{p.server}}, nil); err == nil {
		t.Error("server without ClientCAs accepted")
	}
	if _, err := NewTLSServer(&tls.Config{ClientCAs: p.pool}, nil); err == nil {
		t.Error("server without certificate accepted")
	}
	if _, err := NewTLSServer(&tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool}, &TLSOptions{FragmentSize: 10}); err == nil {
		t.Error("tiny fragment size accepted")
	}
	if _, err := NewTLSClient("x", &tls.Config{Certificates: []tls.Certificate{p.client}}, nil); err == nil {
		t.Error("client without ServerName accepted")
	}
	if _, err := NewTLSClient("x", &tls.Config{Certificates: []tls.Certificate{p.client}, InsecureSkipVerify: true}, nil); err == nil {
		t.Error("client that verifies nothing accepted")
	}
	if _, err := NewTLSClient("x", &tls.Config{ServerName: "gw"}, nil); err == nil {
		t.Error("client without certificate accepted")
	}
}

func TestTLSFramer(t *testing.T) {
	msg := make([]byte, 5000)
	rand.Read(msg)
	for _, frag := range []int{MinFragmentSize, 333, 1024, 6000} {
		var tx, rx tlsFramer
		tx.frag = frag
		tx.setOut(msg)
		var got []byte
		n := 0
		for tx.sending() {
			td := tx.nextFragment()
			if len(td)+tlsHeaderLen-1 > frag {
				t.Fatalf("frag %d: fragment of %d octets", frag, len(td)+tlsHeaderLen-1)
			}
			m, more, err := rx.receive(td)
			if err != nil {
				t.Fatal(err)
			}
			if more == !tx.sending() {
				t.Fatalf("M flag wrong at fragment %d", n)
			}
			got = m
			n++
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("frag %d: reassembly differs", frag)
		}
	}
}

func TestTLSFramerRejects(t *testing.T) {
	tests := []struct {
		name string
		frag [][]byte
		err  error
	}{
		{"L without length", [][]byte{{tlsFlagL, 0}}, ErrMalformed},
		{"too large", [][]byte{{tlsFlagL | tlsFlagM, 0, 1, 0, 1, 1}}, ErrTooLarge},
		{"more than announced", [][]byte{{tlsFlagL | tlsFlagM, 0, 0, 0, 2, 1}, {0, 1, 2}}, ErrMalformed},
		{"less than announced", [][]byte{{tlsFlagL, 0, 0, 0, 3, 1}}, ErrMalformed},
		{"length changes", [][]byte{{tlsFlagL | tlsFlagM, 0, 0, 0, 3, 1}, {tlsFlagL, 0, 0, 0, 4, 1}}, ErrMalformed},
		{"empty M fragment", [][]byte{{tlsFlagM}}, ErrMalformed},
		{"no flags", [][]byte{{}}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f tlsFramer
			var err error
			for _, fr := range tt.frag {
				if _, _, err = f.receive(fr); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
		})
	}
	// Unannounced lengths still stop at MaxTLSMessage.
	var f tlsFramer
	chunk := append([]byte{tlsFlagM}, make([]byte, 60000)...)
	if _, _, err := f.receive(chunk); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.receive(chunk); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
}

// waitGoroutines waits until the goroutine count is back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSAbandonedNoLeak abandons conversations after every possible number
// of round trips and checks Close stops the TLS goroutines.
func TestTLSAbandonedNoLeak(t *testing.T) {
	p := getPKI(t)
	base := runtime.NumGoroutine()
	for _, ver := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for stop := 0; stop < 12; stop++ {
			s, c := tlsPair(t, ver, 300, p.client, p.pool, nil, nil)
			req, err := s.Start()
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < stop; i++ {
				resp, done, _ := c.Handle(req)
				if done {
					break
				}
				next, done, _ := s.Handle(resp)
				if done {
					break
				}
				req = next
			}
			s.Close()
			c.Close()
			s.Close() // idempotent
		}
	}
	waitGoroutines(t, base)
}

// TestTLSHostileMidHandshake feeds garbage to both sides in the middle of a
// handshake: they fail, and no goroutine stays behind.
func TestTLSHostileMidHandshake(t *testing.T) {
	p := getPKI(t)
	base := runtime.NumGoroutine()
	s, c := tlsPair(t, tls.VersionTLS13, 0, p.client, p.pool, nil, nil)
	req, _ := s.Start()
	resp, _, err := c.Handle(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Handle(resp); err != nil {
		t.Fatal(err)
	}
	// A ClientHello-shaped record of garbage as the peer's next flight.
	bad, _ := Packet{Code: CodeResponse, Identifier: resp[1] + 1, Type: TypeTLS, TypeData: []byte{0, 0x16, 3, 3, 0, 2, 1, 2}}.Marshal()
	next, done, err := s.Handle(bad)
	if !done || err == nil || next[0] != byte(CodeFailure) {
		t.Fatalf("server: done %v err %v", done, err)
	}
	badReq, _ := Packet{Code: CodeRequest, Identifier: req[1] + 1, Type: TypeTLS, TypeData: []byte{0, 0x17, 3, 3, 0, 1, 0}}.Marshal()
	if _, done, err := c.Handle(badReq); !done || err == nil {
		t.Fatalf("client: done %v err %v", done, err)
	}
	waitGoroutines(t, base)
}

func BenchmarkTLSConversation(b *testing.B) {
	p := getPKI(b)
	b.ReportAllocs()
	for b.Loop() {
		s, c := tlsPair(b, tls.VersionTLS13, 0, p.client, p.pool, nil, nil)
		if serr, cerr, _ := converse(b, s, c); serr != nil || cerr != nil {
			b.Fatal(serr, cerr)
		}
	}
}

func BenchmarkMSCHAPv2Conversation(b *testing.B) {
	users := passwords(map[string]string{"alice": "wonderland"})
	b.ReportAllocs()
	for b.Loop() {
		s, _ := NewChainServer(NewIdentityServer(), NewMSCHAPv2Server(users))
		c, _ := NewMSCHAPv2Client("alice", []byte("wonderland"))
		if serr, cerr, _ := converse(b, s, c); serr != nil || cerr != nil {
			b.Fatal(serr, cerr)
		}
	}
}
