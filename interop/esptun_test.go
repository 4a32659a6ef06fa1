//go:build interop && linux

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// esptunConf renders spec as esptun's swanctl-shaped TOML for the host
// local talking to remote: esptun's TUN carries local's inner address, and
// the child's remote selector is routed into it.
func esptunConf(local, remote *endpoint, s connSpec, sock string) string {
	var b strings.Builder
	q := strconv.Quote
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %s\nlog_level = \"debug\"\n\n", q(sock))
	fmt.Fprintf(&b, "[tun]\nname = \"esptun0\"\nmtu = 1400\naddresses = [%s]\n\n", q(local.inner.String()+"/32"))
	// The same short retransmission schedule as strongswanConf gives
	// charon, so that a dead peer is declared dead in about ten seconds.
	fmt.Fprintf(&b, "[ike]\nlisten = [%s]\nport = 500\nnatt_port = 4500\n", q(local.outer.String()))
	fmt.Fprintf(&b, "retransmit_timeout = \"1s\"\nretransmit_base = 1.4\nretransmit_tries = 3\n\n")
	c := "connections." + connName
	fmt.Fprintf(&b, "[%s]\nremote_addrs = [%s]\nlocal_addrs = [%s]\nproposals = [%s]\nencap = true\n",
		c, q(remote.outer.String()), q(local.outer.String()), q(s.ike))
	if s.dpd > 0 {
		fmt.Fprintf(&b, "dpd_delay = %s\n", q(s.dpd.String()))
	}
	if s.ikeRekey != "" {
		fmt.Fprintf(&b, "rekey_time = %s\n", q(s.ikeRekey))
	}
	auth := "psk"
	if s.auth != authPSK {
		auth = "pubkey"
	}
	fmt.Fprintf(&b, "\n[%s.local]\nauth = %q\nid = %s\n", c, auth, q(local.id))
	if s.auth != authPSK {
		fmt.Fprintf(&b, "certs = [%s]\n", q(filepath.Join(local.dir, local.label+".pem")))
	}
	fmt.Fprintf(&b, "\n[%s.remote]\nauth = %q\nid = %s\n", c, auth, q(remote.id))
	if s.auth != authPSK {
		fmt.Fprintf(&b, "cacerts = [%s]\n", q(filepath.Join(local.dir, "ca.pem")))
	}
	start := "none"
	if s.start {
		start = "start"
	}
	fmt.Fprintf(&b, "\n[%s.children.%s]\nlocal_ts = [%s]\nremote_ts = [%s]\nesp_proposals = [%s]\nstart_action = %q\n",
		c, childName, q(local.innerNet.String()), q(remote.innerNet.String()), q(s.esp), start)
	if s.childRekey != "" {
		fmt.Fprintf(&b, "rekey_time = %s\n", q(s.childRekey))
	}
	if s.auth == authPSK {
		fmt.Fprintf(&b, "\n[secrets.ike-%s]\nid = [%s, %s]\nsecret = %s\n", connName, q(local.id), q(remote.id), q(s.psk))
	} else {
		fmt.Fprintf(&b, "\n[secrets.private-%s]\nfile = %s\n", connName, q(filepath.Join(local.dir, local.label+".key")))
	}
	return b.String()
}

// esptunProc is `esptun up` running in a namespace.
type esptunProc struct {
	e    *endpoint
	conf string
	sock string
	logf string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // from Wait, valid after done is closed
}

// unsupportedRE matches esptun's refusal of IKE configuration by a version
// that only keys SAs statically ("connections: section not supported: ...").
var unsupportedRE = regexp.MustCompile(`(?i)(connections|secrets)[^\n]*not (supported|accepted)`)

// noIKE remembers, once a cell has found out, why this esptun cannot run
// IKE cells, so that the others skip before building a lab.
var noIKE atomic.Pointer[string]

func skipNoIKE(t *testing.T, out string) {
	t.Helper()
	msg := "esptun does not speak IKE yet: " + firstMatchLine(out, unsupportedRE)
	noIKE.Store(&msg)
	skipf(t, "%s", msg)
}

// requireEsptunIKE skips t if an earlier cell found that esptun refuses
// [connections].
func requireEsptunIKE(t *testing.T) {
	t.Helper()
	requirePrereq(t)
	if msg := noIKE.Load(); msg != nil {
		skipf(t, "%s", *msg)
	}
	if esptunBuildErr != nil {
		fatalf(t, "building esptun: %v", esptunBuildErr)
	}
}

// startEsptun writes spec as esptun's configuration for local, checks it
// with `esptun check` and runs `esptun up` in local's namespace until
// t.Cleanup (SIGTERM; exit 0 is required). It skips t when esptun rejects
// [connections] as unsupported (a version without IKE).
func startEsptun(t *testing.T, local, remote *endpoint, s connSpec) *esptunProc {
	t.Helper()
	if esptunBuildErr != nil {
		fatalf(t, "building esptun: %v", esptunBuildErr)
	}
	if s.auth != authPSK {
		p := pkiFor(t, s.auth)
		copyFile(t, p.cert(local.label), filepath.Join(local.dir, local.label+".pem"))
		copyFile(t, p.key(local.label), filepath.Join(local.dir, local.label+".key"))
		copyFile(t, p.caCert(), filepath.Join(local.dir, "ca.pem"))
	}
	p := &esptunProc{
		e:    local,
		conf: filepath.Join(local.dir, "esptun.toml"),
		sock: filepath.Join(local.dir, "esptun.sock"),
		logf: filepath.Join(local.dir, "esptun.log"),
		done: make(chan struct{}),
	}
	if err := os.WriteFile(p.conf, []byte(esptunConf(local, remote, s, p.sock)), 0o600); err != nil {
		fatalf(t, "%v", err)
	}
	out, code := p.cli(30*time.Second, "check", "-c", p.conf)
	if code != 0 {
		if unsupportedRE.MatchString(out) {
			skipNoIKE(t, out)
		}
		fatalf(t, "esptun check -c %s: exit %d:\n%s", p.conf, code, out)
	}

	logFile, err := os.Create(p.logf)
	if err != nil {
		fatalf(t, "%v", err)
	}
	defer logFile.Close()
	p.cmd = local.ns.Command(context.Background(), esptunBin, "up", "-c", p.conf)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := startChild(p.cmd); err != nil {
		fatalf(t, "starting esptun: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.alive() {
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
				if p.err != nil {
					errorf(t, "esptun up did not exit 0 after SIGTERM: %v", p.err)
				}
			case <-time.After(15 * time.Second):
				errorf(t, "esptun up ignored SIGTERM for 15s; killing it")
				p.kill()
			}
		}
		if t.Failed() {
			t.Logf("%s esptun log (tail):\n%s", local.label, tail(p.log(), 80))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := p.statusJSON(); err == nil {
			break
		}
		if !p.alive() {
			if unsupportedRE.MatchString(p.log()) {
				skipNoIKE(t, p.log())
			}
			fatalf(t, "esptun up exited at start: %v\n%s", p.err, tail(p.log(), 40))
		}
		if time.Now().After(deadline) {
			fatalf(t, "esptun's control socket did not answer within 15s\n%s", tail(p.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func firstMatchLine(s string, re *regexp.Regexp) string {
	for _, l := range strings.Split(s, "\n") {
		if loc := re.FindStringIndex(l); loc != nil {
			return strings.TrimSpace(l[loc[0]:])
		}
	}
	return ""
}

// cli runs the esptun binary in the root namespace (the control socket is a
// path, reachable from there) and returns its combined output and exit code
// (-1 if it could not run or timed out).
func (p *esptunProc) cli(limit time.Duration, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, esptunBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return string(out), ee.ExitCode()
	default:
		return string(out) + err.Error(), -1
	}
}

// verb runs an esptun verb against the daemon and turns a non-zero exit
// into an error.
func (p *esptunProc) verb(args ...string) error {
	args = append(args, "-s", p.sock)
	out, code := p.cli(60*time.Second, args...)
	if code != 0 {
		return fmt.Errorf("esptun %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(out))
	}
	return nil
}

func (p *esptunProc) statusJSON() ([]byte, error) {
	out, code := p.cli(10*time.Second, "status", "--json", "-s", p.sock)
	if code != 0 {
		return nil, fmt.Errorf("esptun status --json: exit %d: %s", code, strings.TrimSpace(out))
	}
	return []byte(out), nil
}

func (p *esptunProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *esptunProc) kill() {
	if p.alive() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// terminate sends SIGTERM and returns the exit error (nil for exit 0).
func (p *esptunProc) terminate(limit time.Duration) error {
	if !p.alive() {
		return fmt.Errorf("esptun exited already: %v", p.err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		return fmt.Errorf("esptun did not exit within %v of SIGTERM", limit)
	}
}

func (p *esptunProc) log() string {
	b, _ := os.ReadFile(p.logf)
	return string(b)
}

// esptunPeer is the peer interface for esptun.
type esptunPeer struct{ p *esptunProc }

func (e esptunPeer) String() string      { return "esptun(" + e.p.e.label + ")" }
func (e esptunPeer) endpoint() *endpoint { return e.p.e }
func (e esptunPeer) alive() bool         { return e.p.alive() }
func (e esptunPeer) kill()               { e.p.kill() }
func (e esptunPeer) log() string         { return e.p.log() }
func (e esptunPeer) initiate() error     { return e.p.verb("initiate", "--child", childName) }
func (e esptunPeer) terminateIKE() error { return e.p.verb("terminate", "--ike", connName) }
func (e esptunPeer) rekeyChild() error   { return e.p.verb("rekey", "--child", childName) }
func (e esptunPeer) rekeyIKE() error     { return e.p.verb("rekey", "--ike", connName) }

// sawNotify looks for the notify's RFC 7296 3.10.1 name in esptun's log,
// or the words esptun uses for it ("no ESP proposal chosen").
func (e esptunPeer) sawNotify(name string) bool {
	pat := strings.ReplaceAll(name, "_", "[_ ]")
	switch name {
	case "NO_PROPOSAL_CHOSEN":
		pat = `no[_ ](\w+[_ ])?proposal[_ ]chosen`
	case "AUTHENTICATION_FAILED":
		pat = `authentication[_ ]failed`
	}
	return regexp.MustCompile(`(?i)` + pat).MatchString(e.p.log())
}

func (e esptunPeer) state() (peerState, error) {
	raw, err := e.p.statusJSON()
	if err != nil {
		return peerState{}, err
	}
	return parseEsptunStatus(raw)
}

// parseEsptunStatus reads `esptun status --json` into the suite's common
// view. It is the one place that knows the JSON's field names: "ike_sas"
// entries with name, state, local_id, remote_id, spi_i, spi_r, proposal;
// "sas" entries (one per direction) with name ("CONN/CHILD"), direction,
// spi, esp, packets, bytes and optionally state. Static [manual] SAs are
// left out. A few alternative spellings are accepted while the format
// settles.
func parseEsptunStatus(raw []byte) (peerState, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // 64-bit IKE SPIs, should they come as numbers
	if err := dec.Decode(&doc); err != nil {
		return peerState{}, fmt.Errorf("esptun status --json: %w: %.200s", err, raw)
	}
	var st peerState
	for _, v := range list(doc, "ike_sas", "ike", "ikesas") {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		st.IKE = append(st.IKE, ikeSA{
			Name:     str(m, "name", "connection"),
			State:    str(m, "state"),
			LocalID:  str(m, "local_id", "local-id"),
			RemoteID: str(m, "remote_id", "remote-id"),
			SPIi:     spi(m, 16, "spi_i", "initiator_spi", "spi_initiator"),
			SPIr:     spi(m, 16, "spi_r", "responder_spi", "spi_responder"),
			Proposal: str(m, "proposal"),
		})
	}
	for _, v := range list(doc, "sas", "child_sas") {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		name := str(m, "name")
		if strings.HasPrefix(name, "manual/") {
			continue
		}
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		} else if c := str(m, "child"); c != "" {
			name = c
		}
		if b, ok := m["dead"].(bool); ok && b {
			continue
		}
		st.Child = append(st.Child, childSA{
			Name:    name,
			State:   str(m, "state"),
			Dir:     strings.ToLower(str(m, "direction", "dir")),
			SPI:     spi(m, 8, "spi"),
			ESP:     str(m, "esp", "proposal"),
			Packets: num(m, "packets"),
			Bytes:   num(m, "bytes"),
		})
	}
	return st, nil
}

func list(m map[string]any, keys ...string) []any {
	for _, k := range keys {
		if l, ok := m[k].([]any); ok {
			return l
		}
	}
	return nil
}

func str(m map[string]any, keys ...string) string {
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		}
	}
	return ""
}

func num(m map[string]any, keys ...string) uint64 {
	for _, k := range keys {
		switch v := m[k].(type) {
		case json.Number:
			n, _ := strconv.ParseUint(v.String(), 10, 64)
			return n
		case string:
			return atou(v)
		}
	}
	return 0
}

// spi reads an SPI given as a hex string ("0xc0000001") or a number.
func spi(m map[string]any, digits int, keys ...string) string {
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			return normSPI(v, digits)
		case json.Number:
			n, _ := strconv.ParseUint(v.String(), 10, 64)
			return fmt.Sprintf("%0*x", digits, n)
		}
	}
	return ""
}
