//go:build interop && linux

package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The connection and child names used on both sides, so that the same
// swanctl and esptun verbs work everywhere.
const (
	connName  = "ix"
	childName = "net"
)

type authKind string

const (
	authPSK    authKind = "psk"
	authECDSA  authKind = "ecdsa"  // ECDSA P-256 certificates
	authRSAPSS authKind = "rsapss" // RSA certificates, RSASSA-PSS signatures (RFC 7427)
)

// connSpec is one side's view of the connection between the lab's hosts;
// swanctlConf and esptunConf render it for either implementation.
type connSpec struct {
	ike, esp   string   // proposals in strongSwan's keyword syntax
	auth       authKind // both ends use the same method
	psk        string   // this side's PSK (authPSK)
	dpd        time.Duration
	start      bool   // initiate as soon as the configuration is loaded
	ikeRekey   string // rekey_time of the IKE SA ("" = the default)
	childRekey string // rekey_time of the Child SA ("" = the default)
}

func defaultSpec() connSpec {
	return connSpec{
		ike:  "aes128gcm16-prfsha256-x25519",
		esp:  "aes128gcm16",
		auth: authPSK,
		psk:  "interop-psk-0123456789abcdef",
	}
}

// strongswanConf is a charon configuration for one instance. The plugin list
// is the one that works with kernel-libipsec on this kind of machine:
// kernel-libipsec before kernel-netlink, and the crypto every cell of the
// matrix needs (openssl covers ECP, MODP, X25519, ChaCha20-Poly1305 and
// RSA-PSS). Retransmissions are short so that failures end in seconds.
func strongswanConf(dir string) string {
	return fmt.Sprintf(`charon {
	load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey constraints kdf sha1 sha2 hmac gcm aes chapoly curve25519 mgf1 kernel-libipsec kernel-netlink socket-default vici
	install_routes = yes
	retransmit_timeout = 1.0
	retransmit_base = 1.4
	retransmit_tries = 3
	rsa_pss = yes
	filelog {
		charon {
			path = %s
			time_format = %%H:%%M:%%S
			default = 1
			ike = 2
			cfg = 2
			append = no
			flush_line = yes
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
`, filepath.Join(dir, "charon.log"))
}

// swanctlConf renders spec as swanctl.conf for the host local talking to
// remote. Certificates and keys are named relative to SWANCTL_DIR's x509,
// x509ca and private folders, where installPKI puts them.
func swanctlConf(local, remote *endpoint, s connSpec) string {
	var b strings.Builder
	auth := "psk"
	if s.auth != authPSK {
		auth = "pubkey"
	}
	fmt.Fprintf(&b, "connections {\n\t%s {\n", connName)
	fmt.Fprintf(&b, "\t\tversion = 2\n\t\tlocal_addrs = %s\n\t\tremote_addrs = %s\n", local.outer, remote.outer)
	fmt.Fprintf(&b, "\t\tproposals = %s\n\t\tencap = yes\n", s.ike)
	if s.dpd > 0 {
		fmt.Fprintf(&b, "\t\tdpd_delay = %ds\n", int(s.dpd.Seconds()))
	}
	if s.ikeRekey != "" {
		fmt.Fprintf(&b, "\t\trekey_time = %s\n", s.ikeRekey)
	}
	fmt.Fprintf(&b, "\t\tlocal {\n\t\t\tauth = %s\n\t\t\tid = %s\n", auth, local.id)
	if s.auth != authPSK {
		fmt.Fprintf(&b, "\t\t\tcerts = %s.pem\n", local.label)
	}
	fmt.Fprintf(&b, "\t\t}\n\t\tremote {\n\t\t\tauth = %s\n\t\t\tid = %s\n", auth, remote.id)
	if s.auth != authPSK {
		fmt.Fprintf(&b, "\t\t\tcacerts = ca.pem\n")
	}
	fmt.Fprintf(&b, "\t\t}\n\t\tchildren {\n\t\t\t%s {\n", childName)
	fmt.Fprintf(&b, "\t\t\t\tlocal_ts = %s\n\t\t\t\tremote_ts = %s\n", local.innerNet, remote.innerNet)
	fmt.Fprintf(&b, "\t\t\t\tesp_proposals = %s\n", s.esp)
	if s.childRekey != "" {
		fmt.Fprintf(&b, "\t\t\t\trekey_time = %s\n", s.childRekey)
	}
	start := "none"
	if s.start {
		start = "start"
	}
	fmt.Fprintf(&b, "\t\t\t\tstart_action = %s\n\t\t\t\tdpd_action = clear\n", start)
	fmt.Fprintf(&b, "\t\t\t}\n\t\t}\n\t}\n}\n")
	if s.auth == authPSK {
		fmt.Fprintf(&b, "secrets {\n\tike-%s {\n\t\tid-a = %s\n\t\tid-b = %s\n\t\tsecret = %q\n\t}\n}\n",
			connName, local.id, remote.id, s.psk)
	}
	return b.String()
}

// charon is one strongSwan daemon running in a namespace with its own
// strongswan.conf, pid file and vici socket.
type charon struct {
	e    *endpoint
	dir  string // e.dir/charon: bind-mounted over /run inside charon's mount namespace
	cmd  *exec.Cmd
	done chan struct{}
	err  error // from Wait, valid after done is closed
}

// startCharon runs charon in e's namespace and waits until its vici socket
// answers. The daemon is stopped in t.Cleanup.
//
// ip netns exec gives the command its own mount namespace, so binding a
// private directory over /run there moves charon's pid file and its default
// vici socket (/var/run -> /run) into that directory without touching the
// host's /run; STRONGSWAN_CONF points at the instance's own configuration.
func startCharon(t *testing.T, e *endpoint) *charon {
	t.Helper()
	dir := filepath.Join(e.dir, "charon")
	for _, d := range []string{dir, filepath.Join(e.dir, "swanctl", "x509"), filepath.Join(e.dir, "swanctl", "x509ca"), filepath.Join(e.dir, "swanctl", "private")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			fatalf(t, "%v", err)
		}
	}
	conf := filepath.Join(e.dir, "strongswan.conf")
	text := strongswanConf(e.dir)
	if e.charonConf != nil {
		text = e.charonConf(e.dir)
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		fatalf(t, "%v", err)
	}
	out, err := os.Create(filepath.Join(e.dir, "charon.out"))
	if err != nil {
		fatalf(t, "%v", err)
	}
	defer out.Close()
	cmd := e.ns.Command(context.Background(), "sh", "-c", `mount --bind "$1" /run && exec `+charonBin, "sh", dir)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := startChild(cmd); err != nil {
		fatalf(t, "starting charon: %v", err)
	}
	c := &charon{e: e, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() {
			t.Logf("%s charon log (tail):\n%s", e.label, tail(c.log(), 60))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := viciListSAs(c.vici()); err == nil {
			break
		}
		select {
		case <-c.done:
			fatalf(t, "%s: charon exited at start: %v\n%s", e.label, c.err, tail(c.log(), 40))
		default:
		}
		if time.Now().After(deadline) {
			fatalf(t, "%s: charon's vici socket did not answer within 15s\n%s", e.label, tail(c.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

func (c *charon) vici() string { return filepath.Join(c.dir, "charon.vici") }

// alive reports whether the daemon is still running.
func (c *charon) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and, if charon has not exited within 10s, SIGKILL.
func (c *charon) stop(t *testing.T) {
	if !c.alive() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Logf("%s: charon ignored SIGTERM for 10s; killing it", c.e.label)
		c.kill()
	}
}

// kill ends charon at once (SIGKILL): it sends nothing to its peer.
func (c *charon) kill() {
	if !c.alive() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// log returns charon's log file and whatever it wrote to stdout/stderr.
func (c *charon) log() string {
	b, _ := os.ReadFile(filepath.Join(c.e.dir, "charon.log"))
	o, _ := os.ReadFile(filepath.Join(c.e.dir, "charon.out"))
	return string(b) + string(o)
}

// swanctl runs swanctl against this charon with a 60s limit and returns its
// combined output; a non-zero exit is an error carrying the output.
func (c *charon) swanctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "--uri", "unix://"+c.vici())
	cmd := exec.CommandContext(ctx, swanctlBin, args...)
	cmd.Env = append(os.Environ(),
		"STRONGSWAN_CONF="+filepath.Join(c.e.dir, "strongswan.conf"),
		"SWANCTL_DIR="+filepath.Join(c.e.dir, "swanctl"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("swanctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// load writes swanctl.conf (and, for certificate authentication, this
// host's certificate, key and the CA) and loads everything into charon.
func (c *charon) load(t *testing.T, remote *endpoint, s connSpec) {
	t.Helper()
	sw := filepath.Join(c.e.dir, "swanctl")
	if s.auth != authPSK {
		p := pkiFor(t, s.auth)
		copyFile(t, p.cert(c.e.label), filepath.Join(sw, "x509", c.e.label+".pem"))
		copyFile(t, p.key(c.e.label), filepath.Join(sw, "private", c.e.label+".key"))
		copyFile(t, p.caCert(), filepath.Join(sw, "x509ca", "ca.pem"))
	}
	if err := os.WriteFile(filepath.Join(sw, "swanctl.conf"), []byte(swanctlConf(c.e, remote, s)), 0o600); err != nil {
		fatalf(t, "%v", err)
	}
	if out, err := c.swanctl("--load-all", "--noprompt"); err != nil {
		fatalf(t, "%s: %v", c.e.label, err)
	} else if !strings.Contains(out, "loaded connection '"+connName+"'") {
		fatalf(t, "%s: swanctl --load-all did not load the connection: %s", c.e.label, out)
	}
}

// state reads charon's IKE and Child SAs over vici.
func (c *charon) state() (peerState, error) {
	msgs, err := viciListSAs(c.vici())
	if err != nil {
		return peerState{}, err
	}
	return stateFromVici(msgs), nil
}

// stateFromVici turns list-sa events into the suite's common view.
func stateFromVici(msgs []viciMsg) peerState {
	var st peerState
	for _, m := range msgs {
		for name, v := range m {
			ike, ok := v.(viciMsg)
			if !ok {
				continue
			}
			sa := ikeSA{
				Name:     name,
				State:    ike.str("state"),
				LocalID:  ike.str("local-id"),
				RemoteID: ike.str("remote-id"),
				SPIi:     normSPI(ike.str("initiator-spi"), 16),
				SPIr:     normSPI(ike.str("responder-spi"), 16),
				Proposal: strings.Join(nonEmpty(ike.str("encr-alg")+keySize(ike.str("encr-keysize")), ike.str("integ-alg"), ike.str("prf-alg"), ike.str("dh-group")), "/"),
			}
			st.IKE = append(st.IKE, sa)
			for _, cv := range ike.sect("child-sas") {
				ch, ok := cv.(viciMsg)
				if !ok {
					continue
				}
				esp := strings.Join(nonEmpty(ch.str("encr-alg")+keySize(ch.str("encr-keysize")), ch.str("integ-alg"), ch.str("dh-group")), "/")
				st.Child = append(st.Child,
					childSA{Name: ch.str("name"), State: ch.str("state"), Dir: "in", SPI: normSPI(ch.str("spi-in"), 8), ESP: esp,
						Packets: atou(ch.str("packets-in")), Bytes: atou(ch.str("bytes-in"))},
					childSA{Name: ch.str("name"), State: ch.str("state"), Dir: "out", SPI: normSPI(ch.str("spi-out"), 8), ESP: esp,
						Packets: atou(ch.str("packets-out")), Bytes: atou(ch.str("bytes-out"))})
			}
		}
	}
	return st
}

func keySize(s string) string {
	if s == "" {
		return ""
	}
	return "-" + s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// strongSwan is the peer interface for a charon.
type strongSwan struct{ c *charon }

func (s strongSwan) String() string            { return "strongSwan(" + s.c.e.label + ")" }
func (s strongSwan) endpoint() *endpoint       { return s.c.e }
func (s strongSwan) state() (peerState, error) { return s.c.state() }
func (s strongSwan) alive() bool               { return s.c.alive() }
func (s strongSwan) kill()                     { s.c.kill() }
func (s strongSwan) log() string               { return s.c.log() }

// sawNotify reports whether charon's log shows notify name (RFC 7296
// 3.10.1) sent or received: it logs received errors by name and sent ones
// in the message summary by a short form.
func (s strongSwan) sawNotify(name string) bool {
	short := map[string]string{
		"NO_PROPOSAL_CHOSEN":    "NO_PROP",
		"AUTHENTICATION_FAILED": "AUTH_FAILED",
		"TS_UNACCEPTABLE":       "TS_UNACCEPT",
		"INVALID_KE_PAYLOAD":    "INVAL_KE",
	}[name]
	log := s.c.log()
	return strings.Contains(log, name) || (short != "" && strings.Contains(log, "N("+short+")"))
}

func (s strongSwan) initiate() error {
	_, err := s.c.swanctl("--initiate", "--child", childName, "--timeout", "30")
	return err
}

func (s strongSwan) terminateIKE() error {
	_, err := s.c.swanctl("--terminate", "--ike", connName, "--timeout", "30")
	return err
}

func (s strongSwan) rekeyChild() error {
	_, err := s.c.swanctl("--rekey", "--child", childName)
	return err
}

func (s strongSwan) rekeyIKE() error {
	_, err := s.c.swanctl("--rekey", "--ike", connName)
	return err
}
