//go:build interop && linux

package interop

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4"

	"github.com/esptun/esptun/internal/netns"
)

// secretsNSPrefix names the namespaces of the secrets cells; the process
// ID follows, as with nsPrefix.
const secretsNSPrefix = "esptunfl-"

var secretsSeq int

// TestSecretsNotLogged runs esptun at log_level "debug" against a
// strongSwan that logs its keys (ike and chd at level 4), once with a PSK,
// once as an EAP-MSCHAPv2 road warrior and once as the EAP-MSCHAPv2
// gateway of a strongSwan road warrior, and searches esptun's whole
// log for every secret: the PSK, the EAP password and its NT hash, and
// every key charon derived for the IKE SA and the Child SAs (SKEYSEED,
// SK_d, SK_ai/ar, SK_ei/er, SK_pi/pr, the Diffie-Hellman shared secret,
// the ESP keys), as hex in either case, as hex of their first 8 octets
// and as base64. None may appear.
func TestSecretsNotLogged(t *testing.T) {
	requirePrereq(t)
	t.Run("psk", func(t *testing.T) {
		cell(t)
		secretsPSKCell(t)
	})
	t.Run("eap-mschapv2/esptun-client", func(t *testing.T) {
		cell(t)
		secretsEAPClientCell(t)
	})
	t.Run("eap-mschapv2/esptun-gateway", func(t *testing.T) {
		cell(t)
		secretsEAPGatewayCell(t)
	})
}

// keyLogConf raises charon's ike and chd log levels to 4, where strongSwan
// dumps SKEYSEED, the SK_* keys and the Child SA keys.
func keyLogConf(base func(dir string) string) func(dir string) string {
	return func(dir string) string {
		return strings.Replace(base(dir), "\t\t\tike = 2\n", "\t\t\tike = 4\n\t\t\tchd = 4\n", 1)
	}
}

// newSecretsNS makes one namespace of the secrets cells and a directory
// for its host, both removed when t ends.
func newSecretsNS(t *testing.T, label, suffix string) *endpoint {
	t.Helper()
	ns, dir := newHost(t, fmt.Sprintf("%s%d-%d%s", secretsNSPrefix, os.Getpid(), secretsSeq, suffix), secretsNSPrefix+label+"-")
	return &endpoint{label: label, ns: ns, dir: dir}
}

// secretsPSKCell: esptun initiates to strongSwan with a PSK, pings both
// ways and rekeys the Child SA, so that two sets of ESP keys exist.
func secretsPSKCell(t *testing.T) {
	requireEsptunIKE(t)
	secretsSeq++
	moon, sun := newSecretsNS(t, "moon", "m"), newSecretsNS(t, "sun", "s")
	moon.outer, moon.inner, moon.innerNet, moon.id = netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.78.1.1"), netip.MustParsePrefix("10.78.1.0/24"), "moon.interop.test"
	sun.outer, sun.inner, sun.innerNet, sun.id = netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("10.78.2.1"), netip.MustParsePrefix("10.78.2.0/24"), "sun.interop.test"
	if err := netns.Veth(moon.ns, "ix0", sun.ns, "ix0"); err != nil {
		fatalf(t, "veth: %v", err)
	}
	for _, e := range []*endpoint{moon, sun} {
		if _, err := e.ns.Run("ip", "addr", "add", e.outer.String()+"/24", "dev", "ix0"); err != nil {
			fatalf(t, "%v", err)
		}
	}
	l := &lab{moon: moon, sun: sun}
	sun.innerOnLoopback(t)
	sun.charonConf = keyLogConf(strongswanConf)
	cs := startCharon(t, sun)
	spec := defaultSpec()
	spec.psk = fmt.Sprintf("psk-%d-%x", os.Getpid(), time.Now().UnixNano())
	cs.load(t, moon, spec)
	es := startEsptun(t, moon, sun, spec)
	bringUp(t, esptunPeer{es}, strongSwan{cs}, false)
	pingBoth(t, l, 3)
	rekeyChildIdle(t, esptunPeer{es}, strongSwan{cs})
	pingBoth(t, l, 3)
	if err := es.terminate(15 * time.Second); err != nil {
		errorf(t, "esptun up after SIGTERM: %v", err)
	}
	checkNoSecrets(t, es.log(), cs.log(), []namedSecret{{"the PSK", []byte(spec.psk)}})
}

// newSecretsRWLab makes a remote-access lab of two hosts: gw (moon,
// 10.77.0.1, the office 10.78.2.0/24) and client (sun, 10.77.0.2, with a
// resolv.conf of its own namespace).
func newSecretsRWLab(t *testing.T) *rwLab {
	t.Helper()
	secretsSeq++
	l := &rwLab{
		gw:       newSecretsNS(t, "moon", "g"),
		client:   newSecretsNS(t, "sun", "c"),
		password: fmt.Sprintf("pw-%d-%x", os.Getpid(), time.Now().UnixNano()),
	}
	l.gw.outer, l.gw.inner, l.gw.innerNet, l.gw.id = netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.78.2.1"), rwOffice, rwGwID
	l.client.outer, l.client.id = netip.MustParseAddr("10.77.0.2"), rwTLSID
	// A client applies the pool's DNS server: give its namespace a
	// resolv.conf of its own (ip netns exec bind-mounts it).
	etc := filepath.Join("/etc/netns", l.client.ns.Name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		fatalf(t, "%v", err)
	}
	l.resolv = filepath.Join(etc, "resolv.conf")
	if err := os.WriteFile(l.resolv, []byte(rwOrigResolv), 0o644); err != nil {
		fatalf(t, "%v", err)
	}
	if err := netns.Veth(l.client.ns, "ix0", l.gw.ns, "ix0"); err != nil {
		fatalf(t, "veth: %v", err)
	}
	if _, err := l.gw.ns.Run("ip", "addr", "add", "10.77.0.1/24", "dev", "ix0"); err != nil {
		fatalf(t, "%v", err)
	}
	if _, err := l.client.ns.Run("ip", "addr", "add", "10.77.0.2/24", "dev", "ix0"); err != nil {
		fatalf(t, "%v", err)
	}
	return l
}

// startKeyLogRWCharon is startRWCharon with charon's key-logging levels.
func startKeyLogRWCharon(t *testing.T, e *endpoint) *charon {
	t.Helper()
	e.charonConf = keyLogConf(rwCharonConf)
	c := startCharon(t, e)
	p := pkiFor(t, authECDSA)
	sw := filepath.Join(e.dir, "swanctl")
	copyFile(t, p.cert(e.label), filepath.Join(sw, "x509", e.label+".pem"))
	copyFile(t, p.key(e.label), filepath.Join(sw, "private", e.label+".key"))
	copyFile(t, p.caCert(), filepath.Join(sw, "x509ca", "ca.pem"))
	return c
}

// eapSecrets are the EAP-MSCHAPv2 secrets of l.
func eapSecrets(l *rwLab) []namedSecret {
	return []namedSecret{
		{"the EAP password", []byte(l.password)},
		{"the EAP password's NT hash", ntHash(l.password)},
	}
}

// secretsEAPClientCell: esptun, an EAP-MSCHAPv2 road warrior, connects to
// a strongSwan gateway and pings the office.
func secretsEAPClientCell(t *testing.T) {
	requireEsptunIKE(t)
	l := newSecretsRWLab(t)
	l.gw.innerOnLoopback(t)
	gw := startKeyLogRWCharon(t, l.gw)
	gw.loadConf(t, l.swanctlGateway(rwGatewaySpec{auth: "eap-mschapv2", localTS: rwOffice.String()}))
	es := startEsptunConf(t, l.client, func(sock string) string {
		return l.esptunClient(rwClientSpec{auth: "eap-mschapv2", remoteTS: rwOffice.String()}, sock)
	})
	vip := es.waitVIP(t, upTimeout)
	pingOK(t, at(l.client, vip), l.gw, 3)
	if err := es.terminate(15 * time.Second); err != nil {
		errorf(t, "esptun up after SIGTERM: %v", err)
	}
	checkNoSecrets(t, es.log(), gw.log(), eapSecrets(l))
}

// secretsEAPGatewayCell: a strongSwan road warrior authenticates with
// EAP-MSCHAPv2 to an esptun gateway, which holds the password, and pings
// the office.
func secretsEAPGatewayCell(t *testing.T) {
	requireEsptunIKE(t)
	l := newSecretsRWLab(t)
	gw := startEsptunConf(t, l.gw, func(sock string) string {
		return l.esptunGateway(rwGatewaySpec{auth: "eap-mschapv2", localTS: rwOffice.String()}, sock)
	})
	c := startKeyLogRWCharon(t, l.client)
	c.loadConf(t, l.swanctlClient(rwClientSpec{remoteTS: rwOffice.String()}))
	if _, err := c.swanctl("--initiate", "--child", rwChild, "--timeout", "30"); err != nil {
		fatalf(t, "%v", err)
	}
	vip := c.charonVIP(t, upTimeout)
	pingOK(t, at(l.client, vip), l.gw, 3)
	if err := gw.terminate(15 * time.Second); err != nil {
		errorf(t, "esptun up after SIGTERM: %v", err)
	}
	checkNoSecrets(t, gw.log(), c.log(), eapSecrets(l))
}

// ntHash is MD4 of the password in UTF-16LE (RFC 2759 8.3).
func ntHash(password string) []byte {
	h := md4.New()
	for _, u := range utf16.Encode([]rune(password)) {
		h.Write([]byte{byte(u), byte(u >> 8)})
	}
	return h.Sum(nil)
}

type namedSecret struct {
	name  string
	value []byte
}

// charon's %B dumps (strongSwan's chunk printf hook): a header line
// "NAME => N bytes @ 0x..." and lines of up to 16 octets "  16: 0A 1B ...",
// every line with the logger's prefix.
var (
	dumpHeadRE   = regexp.MustCompile(`\[(?:IKE|CHD)\]\s+(.*?)\s*=>\s*(\d+) bytes`)
	dumpLineRE   = regexp.MustCompile(`\[(?:IKE|CHD)\]\s+\d+: ((?:[0-9A-F]{2} ){1,16})`)
	secretDumpRE = regexp.MustCompile(`(?i)SKEYSEED|Sk_(?:d|ai|ar|ei|er|pi|pr) secret|shared Diffie.Hellman secret|(?:encryption|integrity) (?:initiator|responder) key|\bMSK\b`)
)

// charonKeys extracts the secret dumps from charon's log.
func charonKeys(log string) []namedSecret {
	var (
		out  []namedSecret
		cur  *namedSecret
		want int
	)
	for _, line := range strings.Split(log, "\n") {
		if m := dumpHeadRE.FindStringSubmatch(line); m != nil {
			cur = nil
			if n, _ := strconv.Atoi(m[2]); n > 0 && secretDumpRE.MatchString(m[1]) {
				out = append(out, namedSecret{name: "charon's " + m[1]})
				cur, want = &out[len(out)-1], n
			}
			continue
		}
		if cur == nil {
			continue
		}
		m := dumpLineRE.FindStringSubmatch(line)
		if m == nil {
			cur = nil
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if err != nil {
			cur = nil
			continue
		}
		cur.value = append(cur.value, b...)
		if len(cur.value) >= want {
			cur = nil
		}
	}
	// Keep whole dumps of at least 8 octets only.
	keep := out[:0]
	for _, s := range out {
		if len(s.value) >= 8 {
			keep = append(keep, s)
		}
	}
	return keep
}

// checkNoSecrets fails t if esptunLog holds any of secrets or of the keys
// in charonLog, in any of the forms a log line could carry them.
func checkNoSecrets(t *testing.T, esptunLog, charonLog string, secrets []namedSecret) {
	t.Helper()
	// Both cells run esptun at log_level "debug" (esptunConf,
	// esptunClient); the log must at least cover the exchange.
	if !strings.Contains(esptunLog, "IKE SA established") {
		errorf(t, "esptun's log does not show the IKE SA established:\n%s", tail(esptunLog, 20))
	}
	keys := charonKeys(charonLog)
	if len(keys) == 0 {
		errorf(t, "charon logged no keys at ike/chd level 4; nothing to search esptun's log for but %d configured secrets", len(secrets))
	}
	names := map[string]int{}
	for _, k := range keys {
		names[fmt.Sprintf("%s (%d octets)", k.name, len(k.value))]++
	}
	t.Logf("searching %d lines of esptun's log for %d configured secrets and %d keys from charon's log: %v",
		strings.Count(esptunLog, "\n"), len(secrets), len(keys), names)
	for _, f := range findSecrets(esptunLog, append(secrets, keys...)) {
		errorf(t, "%s", f)
	}
}

// findSecrets returns one line per secret found in log: as text (secrets
// not from charon), as hex in either case, as hex of its first 8 octets,
// or as base64.
func findSecrets(log string, secrets []namedSecret) []string {
	var found []string
	lower := strings.ToLower(log)
	for _, s := range secrets {
		forms := map[string]string{
			"hex":          hex.EncodeToString(s.value),
			"base64":       base64.StdEncoding.EncodeToString(s.value),
			"base64 (raw)": base64.RawStdEncoding.EncodeToString(s.value),
		}
		if len(s.value) > 8 {
			forms["hex of the first 8 octets"] = hex.EncodeToString(s.value[:8])
		}
		if !strings.HasPrefix(s.name, "charon's ") {
			forms["text"] = string(s.value)
		}
		for form, v := range forms {
			hay := log
			if strings.HasPrefix(form, "hex") {
				hay = lower // either case
			}
			if i := strings.Index(hay, v); i >= 0 {
				start := strings.LastIndexByte(log[:i], '\n') + 1
				end := strings.IndexByte(log[i:], '\n')
				if end < 0 {
					end = len(log) - i
				}
				found = append(found, fmt.Sprintf("esptun's log holds %s (%s): %s", s.name, form, log[start:i+end]))
			}
		}
	}
	return found
}

// TestCharonKeys checks the dump parser and the search on a log in
// charon's format (strongSwan 5.9, filelog with time_format %H:%M:%S).
func TestCharonKeys(t *testing.T) {
	charonLog := `10:45:54 01[IKE] Sk_ei secret => 20 bytes @ 0x7f715000de40
10:45:54 01[IKE]    0: 00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF  ..."3DUfw........
10:45:54 01[IKE]   16: 01 02 03 04                                      ....
10:45:54 01[IKE] Ni => 8 bytes @ 0x7f715000de00
10:45:54 01[IKE]    0: 0A 0B 0C 0D 0E 0F 10 11                          ........
10:45:54 01[CHD] encryption initiator key => 20 bytes @ 0x7f715000de20
10:45:54 01[CHD]    0: F0 E1 D2 C3 B4 A5 96 87 78 69 5A 4B 3C 2D 1E 0F  ........xiZK<-..
10:45:54 01[CHD]   16: AB CD EF 01                                      ....
`
	keys := charonKeys(charonLog)
	want := map[string]string{
		"charon's Sk_ei secret":             "00112233445566778899aabbccddeeff01020304",
		"charon's encryption initiator key": "f0e1d2c3b4a5968778695a4b3c2d1e0fabcdef01",
	}
	if len(keys) != len(want) {
		t.Fatalf("charonKeys found %d keys, want %d: %v", len(keys), len(want), keys)
	}
	for _, k := range keys {
		if got := hex.EncodeToString(k.value); got != want[k.name] {
			t.Errorf("%s = %s, want %s", k.name, got, want[k.name])
		}
	}
	clean := "time=x level=INFO msg=\"Child SA installed\" spi_in=e6a210bd\n"
	if f := findSecrets(clean, keys); len(f) != 0 {
		t.Errorf("findSecrets on a clean log: %v", f)
	}
	for _, leak := range []string{"key=F0E1D2C3B4A5968778695A4B3C2D1E0FABCDEF01", "k=00112233445566778899aabb", "k=ABEiM0RVZneImaq7zN3u/wECAwQ="} {
		if f := findSecrets(clean+leak+"\n", keys); len(f) == 0 {
			t.Errorf("findSecrets misses %q", leak)
		}
	}
	if f := findSecrets("secret=pw-1\n", []namedSecret{{"the EAP password", []byte("pw-1")}}); len(f) != 1 {
		t.Errorf("findSecrets on the password as text: %v", f)
	}
}

// TestSecretsConfigMode checks that `esptun check -c` warns about a
// configuration holding a PSK that group or others can read, names the
// file and not the secret, and says nothing when the mode is 0600.
func TestSecretsConfigMode(t *testing.T) {
	bin := esptunBin
	if bin == "" {
		var err error
		if bin, err = buildEsptun(t.TempDir()); err != nil {
			t.Fatalf("%v", err)
		}
	}
	dir := t.TempDir()
	moon := &endpoint{label: "moon", outer: netip.MustParseAddr("10.77.0.1"), inner: netip.MustParseAddr("10.78.1.1"),
		innerNet: netip.MustParsePrefix("10.78.1.0/24"), id: "moon.interop.test", dir: dir}
	sun := &endpoint{label: "sun", outer: netip.MustParseAddr("10.77.0.2"), inner: netip.MustParseAddr("10.78.2.1"),
		innerNet: netip.MustParsePrefix("10.78.2.0/24"), id: "sun.interop.test", dir: dir}
	spec := defaultSpec()
	spec.psk = fmt.Sprintf("mode-psk-%x", time.Now().UnixNano())
	conf := filepath.Join(dir, "esptun.toml")
	if err := os.WriteFile(conf, []byte(esptunConf(moon, sun, spec, filepath.Join(dir, "esptun.sock"))), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o640, true}, {0o604, true}, {0o600, false}} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			if err := os.Chmod(conf, tc.mode); err != nil {
				t.Fatal(err)
			}
			out, err := runOut(bin, "check", "-c", conf)
			if err != nil {
				t.Fatalf("esptun check -c %s: %v\n%s", conf, err, out)
			}
			warned := regexp.MustCompile(`(?m)^warning: .*` + regexp.QuoteMeta(conf) + `.*readable by group or others`).MatchString(out)
			if warned != tc.warn {
				t.Errorf("mode %04o: warning %v, want %v; output:\n%s", tc.mode, warned, tc.warn, out)
			}
			if strings.Contains(out, spec.psk) {
				t.Errorf("esptun check prints the PSK:\n%s", out)
			}
		})
	}
}

// runOut runs bin with args and returns its combined output.
func runOut(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
