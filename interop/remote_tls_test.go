//go:build interop && linux

package interop

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The EAP-TLS lab is the remote-access lab's gateway and client (see
// remote_lab_test.go) without the internet host, in namespaces named
// esptunnat-PID-N{g,c}: a strongSwan road warrior authenticates with EAP-TLS
// (RFC 5216) inside IKE_AUTH (RFC 7296 2.16) to an esptun gateway that
// authenticates itself with its certificate.
const tlsNSPrefix = "esptunnat-"

// rwUntrustedID is the identity of the client whose certificate comes from a
// CA the gateway does not trust.
const rwUntrustedID = "mallory.interop.test"

var tlsSeq int

// newTLSLab builds the gateway and client namespaces joined by a veth pair,
// and the client namespace's own resolv.conf; everything is removed in
// t.Cleanup.
func newTLSLab(t *testing.T) *rwLab { return buildRWLab(t, tlsNSPrefix, &tlsSeq, false) }

// swanctlTLSClient is the strongSwan road warrior's swanctl.conf with
// EAP-TLS: its certificate (x509/cert) and identity id, the gateway's
// certificate checked against the CA in x509ca.
func (l *rwLab) swanctlTLSClient(id, cert string) string {
	ike, esp := rwGatewaySpec{}.proposals()
	return fmt.Sprintf(`connections {
	%s {
		version = 2
		local_addrs = %s
		remote_addrs = %s
		proposals = %s
		encap = yes
		vips = 0.0.0.0
		local {
			auth = eap-tls
			id = %s
			certs = %s
		}
		remote {
			auth = pubkey
			id = %s
		}
		children {
			%s {
				remote_ts = %s
				esp_proposals = %s
				start_action = none
			}
		}
	}
}
`, rwConn, l.client.outer, l.gw.outer, ike, id, cert, rwGwID, rwChild, rwOffice, esp)
}

// makeUntrustedCert makes, in dir, a CA of its own (unknown to the gateway)
// and a certificate for rwUntrustedID issued by it, with strongSwan's pki as
// makePKI does; it returns the certificate and the PKCS#8 key.
func makeUntrustedCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	run := func(out string, args ...string) {
		cmd := exec.Command(args[0], args[1:]...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			fatalf(t, "%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		if out != "" {
			if err := os.WriteFile(out, b, 0o600); err != nil {
				fatalf(t, "%v", err)
			}
		}
	}
	caKey, caCert := filepath.Join(dir, "rogue-ca.key"), filepath.Join(dir, "rogue-ca.pem")
	raw, pub := filepath.Join(dir, "mallory.raw.key"), filepath.Join(dir, "mallory.pub")
	cert, key = filepath.Join(dir, "mallory.pem"), filepath.Join(dir, "mallory.key")
	run(caKey, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem")
	run(caCert, "pki", "--self", "--ca", "--lifetime", "30", "--in", caKey, "--type", "priv",
		"--dn", "O=esptun, CN=esptun interop untrusted CA", "--outform", "pem", "--digest", "sha256")
	run(raw, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem")
	run("", "openssl", "pkey", "-in", raw, "-out", key)
	run(pub, "pki", "--pub", "--in", raw, "--type", "priv", "--outform", "pem")
	run(cert, "pki", "--issue", "--lifetime", "30", "--cacert", caCert, "--cakey", caKey, "--type", "pub", "--in", pub,
		"--dn", "O=esptun, CN="+rwUntrustedID, "--san", rwUntrustedID, "--outform", "pem", "--digest", "sha256")
	return cert, key
}

// TestRemoteAccessEAPTLS runs a strongSwan road warrior with EAP-TLS
// (eap-tls plugin, its certificate from the test CA, vips = 0.0.0.0)
// against an esptun gateway whose remote round is auth = "eap-tls" with
// cacerts and whose local round is pubkey (docs/remote-access.md):
//
//   - untrusted: a client whose certificate comes from another CA is refused
//     with an EAP-Failure (RFC 3748 4.2) or AUTHENTICATION_FAILED, named in
//     both logs, and the gateway keeps no IKE SA and no address for it;
//   - trusted: the client gets its virtual IP from esptun's pool (the
//     pool's first address, which the refused client therefore does not
//     hold), and ping and TCP pass both ways.
func TestRemoteAccessEAPTLS(t *testing.T) {
	requirePrereq(t)
	t.Run("strongswan-client/eap-tls", func(t *testing.T) {
		cell(t)
		requireEsptunIKE(t)
		l := newTLSLab(t)
		gw := startEsptunConf(t, l.gw, func(sock string) string {
			return l.esptunGateway(rwGatewaySpec{auth: "eap-tls", localTS: rwOffice.String()}, sock)
		})
		if !strings.Contains(readFile(t, gw.conf), `auth = "eap-tls"`) || !strings.Contains(readFile(t, gw.conf), "cacerts") {
			fatalf(t, "the gateway's configuration lacks auth = \"eap-tls\" with cacerts:\n%s", readFile(t, gw.conf))
		}

		// The untrusted client first: when it is refused, the pool's
		// first address must still be free for the trusted one.
		rogueCert, rogueKey := makeUntrustedCert(t, l.client.dir)
		c := startRWCharon(t, l.client)
		sw := filepath.Join(l.client.dir, "swanctl")
		copyFile(t, rogueCert, filepath.Join(sw, "x509", "mallory.pem"))
		copyFile(t, rogueKey, filepath.Join(sw, "private", "mallory.key"))
		c.loadConf(t, l.swanctlTLSClient(rwUntrustedID, "mallory.pem"))
		if out, err := c.swanctl("--initiate", "--child", rwChild, "--timeout", "30"); err == nil {
			fatalf(t, "the gateway accepted a certificate from an untrusted CA:\n%s", out)
		}
		ss, es := strongSwan{c}, esptunPeer{gw}
		ssSaw := ss.sawNotify("AUTHENTICATION_FAILED") || strings.Contains(c.log(), "EAP_FAILURE")
		esSaw := es.sawNotify("AUTHENTICATION_FAILED") || strings.Contains(gw.log(), "EAP authentication failed")
		if !ssSaw || !esSaw {
			errorf(t, "untrusted CA: AUTHENTICATION_FAILED or the EAP failure not in both logs: strongSwan %v, esptun %v", ssSaw, esSaw)
		}
		deadline := time.Now().Add(goneTimeout)
		for {
			sas, err := gw.rwState()
			ike := gatewayIKECounters(t, gw)
			if err == nil && len(sas) == 0 && ike.HalfOpen == 0 {
				if ike.AuthFailed == 0 {
					errorf(t, "untrusted CA: the gateway's ike.auth_failed is 0")
				}
				break
			}
			if time.Now().After(deadline) {
				fatalf(t, "untrusted CA: the gateway still holds IKE SAs %+v, half_open %d (%v)", sas, ike.HalfOpen, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("untrusted CA refused: strongSwan %q; esptun %q",
			firstLine(c.log(), "EAP_FAILURE", "AUTHENTICATION_FAILED", "AUTH_FAILED"),
			firstLine(gw.log(), "EAP authentication failed", "AUTHENTICATION_FAILED", "authentication failed"))

		// The trusted client: sun's certificate from the test CA.
		c.loadConf(t, l.swanctlTLSClient(rwTLSID, l.client.label+".pem"))
		if out, err := c.swanctl("--initiate", "--child", rwChild, "--timeout", "30"); err != nil {
			fatalf(t, "%v\n%s", err, out)
		}
		vip := c.charonVIP(t, upTimeout)
		pool := netip.MustParsePrefix(rwPool)
		if !pool.Contains(vip) {
			errorf(t, "strongSwan's virtual IP %s is not from esptun's pool %s", vip, rwPool)
		}
		if first := pool.Addr().Next(); vip != first {
			errorf(t, "strongSwan got %s, not the pool's first address %s: did the refused client keep a lease?", vip, first)
		}
		sas, err := gw.rwState()
		if err != nil || len(sas) != 1 {
			fatalf(t, "esptun gateway: %+v (%v)", sas, err)
		}
		if s := sas[0]; len(s.VIPs) != 1 || s.VIPs[0] != vip.String() || !strings.HasPrefix(s.RemoteAddr, l.client.outer.String()+":") || !s.Established {
			errorf(t, "esptun gateway lists %+v; want vips [%s], remote_addr %s:port, established", s, vip, l.client.outer)
		} else if s.EAPID != "" && s.EAPID != rwTLSID {
			errorf(t, "esptun gateway lists eap_id %q, want %q or none", s.EAPID, rwTLSID)
		} else {
			t.Logf("esptun gateway lists %+v", s)
		}
		const size = 2 << 20
		l.trafficThenDelete(t, gw, c, vip, size)
		if r := l.resolvConf(t); r != rwOrigResolv {
			errorf(t, "the client namespace's resolv.conf changed:\n%s", r)
		}
		t.Logf("EAP-TLS: strongSwan got %s from esptun's pool; ping and %d MiB of TCP each way", vip, size>>20)
	})
}

// ikeCounters is the "ike" object of esptun status --json.
type ikeCounters struct {
	AuthFailed uint64 `json:"auth_failed"`
	HalfOpen   int64  `json:"half_open"`
}

func gatewayIKECounters(t *testing.T, p *esptunProc) ikeCounters {
	t.Helper()
	raw, err := p.statusJSON()
	if err != nil {
		fatalf(t, "esptun status: %v", err)
	}
	var doc struct {
		IKE ikeCounters `json:"ike"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		fatalf(t, "esptun status: %v", err)
	}
	return doc.IKE
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		fatalf(t, "%v", err)
	}
	return string(b)
}

// firstLine returns the first line of s that contains any of subs.
func firstLine(s string, subs ...string) string {
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				return strings.TrimSpace(l)
			}
		}
	}
	return ""
}
