package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Addresses of every path: outer on the veth, inner on the tunnel (or, for
// charon, on lo, where kernel-libipsec takes its source address from).
const (
	outerA, outerB = "10.77.0.1", "10.77.0.2"
	innerA, innerB = "10.78.1.1", "10.78.2.1"
	netA, netB     = "10.78.1.0/24", "10.78.2.0/24"
	tunnelMTU      = 1400 // every tunnel's inner MTU (esptun's default)
	benchPSK       = "esptun-bench-psk-0123456789abcdef"
)

// path is one way from namespace a to namespace b that traffic is measured
// over: the bare veth or one of the tunnels.
type path struct {
	key   string // results key: veth, esptun-aes, esptun-chacha, wireguard-go, strongswan
	label string
	a, b  netns
	src   string // source address in a
	dst   string // destination address in b
	procs []*proc
}

// daemonPIDs are the tunnel daemons' PIDs (none for the veth).
func (p *path) daemonPIDs() []int {
	var out []int
	for _, pr := range p.procs {
		out = append(out, pr.pid())
	}
	return out
}

func (p *path) alive() error {
	for _, pr := range p.procs {
		if !pr.alive() {
			return fmt.Errorf("%s: %s exited:\n%s", p.key, pr.name, pr.tail(20))
		}
	}
	return nil
}

// vethPair makes namespaces SUFFIXa and SUFFIXb joined by a veth with the
// outer addresses, and an iperf3 server in b.
func (e *env) vethPair(suffix string) (a, b netns, err error) {
	if a, err = e.newNS(suffix + "a"); err != nil {
		return
	}
	if b, err = e.newNS(suffix + "b"); err != nil {
		return
	}
	for _, args := range [][]string{
		{"ip", "link", "add", "eb0", "type", "veth", "peer", "name", "eb1", "netns", string(b)},
		{"ip", "addr", "add", outerA + "/24", "dev", "eb0"},
		{"ip", "link", "set", "eb0", "up"},
	} {
		if _, err = a.run(args...); err != nil {
			return
		}
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", outerB + "/24", "dev", "eb1"},
		{"ip", "link", "set", "eb1", "up"},
	} {
		if _, err = b.run(args...); err != nil {
			return
		}
	}
	return
}

func (e *env) iperfServer(p *path) error {
	pr, err := e.start(p.key+"-iperf3-server", p.b.command(bgCtx, "iperf3", "-s"))
	if err != nil {
		return err
	}
	_ = pr // not a daemon of the path: its CPU is not counted
	return nil
}

// waitPing waits until a ping from p.src reaches p.dst.
func (p *path) waitPing(d time.Duration) error {
	return waitFor(d, func() error {
		if err := p.alive(); err != nil {
			return err
		}
		_, err := p.a.run("ping", "-n", "-c", "1", "-W", "1", "-I", p.src, p.dst)
		return err
	})
}

func (e *env) setupVeth() (*path, error) {
	a, b, err := e.vethPair("veth")
	if err != nil {
		return nil, err
	}
	p := &path{key: "veth", label: "bare veth", a: a, b: b, src: outerA, dst: outerB}
	if err := e.iperfServer(p); err != nil {
		return nil, err
	}
	return p, p.waitPing(10 * time.Second)
}

// esptunConf is one end of the IKE-keyed tunnel: PSK, the given IKE and ESP
// proposals, ESP in UDP, the inner address on the TUN and the peer's inner
// net routed into it.
func esptunConf(sock, local, remote, inner, localNet, remoteNet, ike, esp string, initiator bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[daemon]\ncontrol_socket = %q\nlog_level = \"warn\"\n\n", sock)
	fmt.Fprintf(&b, "[tun]\nname = \"esptun0\"\nmtu = %d\naddresses = [%q]\n\n", tunnelMTU, inner+"/32")
	fmt.Fprintf(&b, "[ike]\nlisten = [%q]\n\n", local)
	start := "none"
	if initiator {
		start = "start"
	}
	lid, rid := "b.bench", "a.bench"
	if initiator {
		lid, rid = rid, lid
	}
	fmt.Fprintf(&b, "[connections.bench]\nremote_addrs = [%q]\nlocal_addrs = [%q]\nproposals = [%q]\nencap = true\n\n", remote, local, ike)
	fmt.Fprintf(&b, "[connections.bench.local]\nauth = \"psk\"\nid = %q\n\n", lid)
	fmt.Fprintf(&b, "[connections.bench.remote]\nauth = \"psk\"\nid = %q\n\n", rid)
	fmt.Fprintf(&b, "[connections.bench.children.net]\nlocal_ts = [%q]\nremote_ts = [%q]\nesp_proposals = [%q]\nstart_action = %q\n\n",
		localNet, remoteNet, esp, start)
	fmt.Fprintf(&b, "[secrets.ike-bench]\nid = [\"a.bench\", \"b.bench\"]\nsecret = %q\n", benchPSK)
	return b.String()
}

func (e *env) startEsptun(name string, n netns, conf string) (*proc, error) {
	return e.startEsptunEnv(name, n, conf, nil)
}

// startEsptunEnv writes conf, checks it with esptun check and runs esptun
// up in n with extra environment variables.
func (e *env) startEsptunEnv(name string, n netns, conf string, extraEnv []string) (*proc, error) {
	path := filepath.Join(e.work, name+".toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command(e.esptun, "check", "-c", path).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("esptun check -c %s: %v: %s", path, err, out)
	}
	cmd := n.command(bgCtx, e.esptun, "up", "-c", path)
	if extraEnv != nil {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	return e.start(name, cmd)
}

func (e *env) setupEsptun(key, label, ike, esp string) (*path, error) {
	a, b, err := e.vethPair(strings.TrimPrefix(key, "esptun-"))
	if err != nil {
		return nil, err
	}
	p := &path{key: key, label: label, a: a, b: b, src: innerA, dst: innerB}
	if err := e.iperfServer(p); err != nil {
		return nil, err
	}
	pb, err := e.startEsptun(key+"-b", b, esptunConf(filepath.Join(e.work, key+"-b.sock"), outerB, outerA, innerB, netB, netA, ike, esp, false))
	if err != nil {
		return nil, err
	}
	p.procs = append(p.procs, pb)
	time.Sleep(300 * time.Millisecond) // the responder listens before the initiator starts
	pa, err := e.startEsptun(key+"-a", a, esptunConf(filepath.Join(e.work, key+"-a.sock"), outerA, outerB, innerA, netA, netB, ike, esp, true))
	if err != nil {
		return nil, err
	}
	p.procs = append([]*proc{pa}, p.procs...)
	return p, p.waitPing(30 * time.Second)
}

// setupWireGuard runs wireguard-go in both namespaces (interfaces ebwga and
// ebwgb; their UAPI sockets are /var/run/wireguard/ebwg?.sock) and
// configures them with wg: ChaCha20-Poly1305 is WireGuard's only cipher.
func (e *env) setupWireGuard() (*path, error) {
	a, b, err := e.vethPair("wg")
	if err != nil {
		return nil, err
	}
	p := &path{key: "wireguard-go", label: "wireguard-go", a: a, b: b, src: innerA, dst: innerB}
	if err := e.iperfServer(p); err != nil {
		return nil, err
	}
	type end struct {
		n                netns
		ifname, inner    string
		peerNet, peerOut string
		priv, pub        string
	}
	ends := []*end{
		{n: a, ifname: "ebwga", inner: innerA, peerNet: netB, peerOut: outerB},
		{n: b, ifname: "ebwgb", inner: innerB, peerNet: netA, peerOut: outerA},
	}
	if _, err := os.Stat("/var/run/wireguard"); os.IsNotExist(err) {
		// wireguard-go makes it; remove it again if it is empty at the end.
		e.mu.Lock()
		e.files = append(e.files, "/var/run/wireguard")
		e.mu.Unlock()
	}
	for _, x := range ends {
		out, err := exec.Command("wg", "genkey").Output()
		if err != nil {
			return nil, fmt.Errorf("wg genkey: %v", err)
		}
		x.priv = strings.TrimSpace(string(out))
		cmd := exec.Command("wg", "pubkey")
		cmd.Stdin = strings.NewReader(x.priv + "\n")
		out, err = cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("wg pubkey: %v", err)
		}
		x.pub = strings.TrimSpace(string(out))
		cmd = x.n.command(bgCtx, e.wgGo, "-f", x.ifname)
		cmd.Env = append(os.Environ(), "LOG_LEVEL=error")
		pr, err := e.start("wireguard-go-"+x.ifname, cmd)
		if err != nil {
			return nil, err
		}
		p.procs = append(p.procs, pr)
		sock := "/var/run/wireguard/" + x.ifname + ".sock"
		e.mu.Lock()
		e.files = append([]string{sock}, e.files...)
		e.mu.Unlock()
		if err := waitFor(10*time.Second, func() error {
			if !pr.alive() {
				return fmt.Errorf("wireguard-go exited:\n%s", pr.tail(20))
			}
			_, err := os.Stat(sock)
			return err
		}); err != nil {
			return nil, err
		}
	}
	for i, x := range ends {
		peer := ends[1-i]
		keyFile := filepath.Join(e.work, x.ifname+".key")
		if err := os.WriteFile(keyFile, []byte(x.priv+"\n"), 0o600); err != nil {
			return nil, err
		}
		for _, args := range [][]string{
			{"wg", "set", x.ifname, "private-key", keyFile, "listen-port", "51820",
				"peer", peer.pub, "allowed-ips", x.peerNet, "endpoint", x.peerOut + ":51820"},
			{"ip", "addr", "add", x.inner + "/24", "dev", x.ifname},
			{"ip", "link", "set", x.ifname, "mtu", fmt.Sprint(tunnelMTU), "up"},
			{"ip", "route", "add", x.peerNet, "dev", x.ifname}, // what wg-quick does for allowed-ips
		} {
			if _, err := x.n.run(args...); err != nil {
				return nil, err
			}
		}
	}
	return p, p.waitPing(15 * time.Second)
}

// strongswanConf is charon with kernel-libipsec (userspace ESP over its
// ipsec0 TUN device), the plugin list of the interop suite.
func strongswanConf(dir string) string {
	return fmt.Sprintf(`charon {
	load = random nonce openssl pem pkcs1 x509 pubkey kdf sha1 sha2 hmac gcm aes chapoly curve25519 kernel-libipsec kernel-netlink socket-default vici
	install_routes = yes
	retransmit_timeout = 1.0
	retransmit_base = 1.4
	retransmit_tries = 3
	plugins {
		kernel-libipsec {
			mtu = %d
		}
	}
	filelog {
		charon {
			path = %s
			default = 0
			append = no
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
`, tunnelMTU, filepath.Join(dir, "charon.log"))
}

// charonInst is one Debian charon in a namespace with its own
// strongswan.conf; ip netns exec gives it a private mount namespace, where
// dir/run is bound over /run so that its pid file and vici socket stay in
// dir.
type charonInst struct {
	dir  string
	proc *proc
}

func (e *env) startCharon(name string, n netns, conf string) (*charonInst, error) {
	dir := filepath.Join(e.work, name)
	for _, d := range []string{filepath.Join(dir, "run"), filepath.Join(dir, "swanctl")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if conf == "" {
		conf = strongswanConf(dir)
	}
	cf := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := n.command(bgCtx, "sh", "-c", `mount --bind "$1" /run && exec /usr/lib/ipsec/charon`, "sh", filepath.Join(dir, "run"))
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+cf)
	pr, err := e.start(name, cmd)
	if err != nil {
		return nil, err
	}
	c := &charonInst{dir: dir, proc: pr}
	err = waitFor(15*time.Second, func() error {
		if !pr.alive() {
			return fmt.Errorf("charon %s exited:\n%s", name, pr.tail(20))
		}
		_, err := os.Stat(filepath.Join(dir, "run", "charon.vici"))
		return err
	})
	return c, err
}

func (c *charonInst) swanctl(args ...string) (string, error) {
	args = append(args, "--uri", "unix://"+filepath.Join(c.dir, "run", "charon.vici"))
	cmd := exec.Command("swanctl", args...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(c.dir, "strongswan.conf"), "SWANCTL_DIR="+filepath.Join(c.dir, "swanctl"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("swanctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *charonInst) load(swanctlConf string) error {
	if err := os.WriteFile(filepath.Join(c.dir, "swanctl", "swanctl.conf"), []byte(swanctlConf), 0o600); err != nil {
		return err
	}
	_, err := c.swanctl("--load-all", "--noprompt")
	return err
}

func swanctlSite(local, remote, lid, rid, localNet, remoteNet string) string {
	return fmt.Sprintf(`connections {
	bench {
		version = 2
		local_addrs = %s
		remote_addrs = %s
		proposals = aes128gcm16-prfsha256-x25519
		encap = yes
		local {
			auth = psk
			id = %s
		}
		remote {
			auth = psk
			id = %s
		}
		children {
			net {
				local_ts = %s
				remote_ts = %s
				esp_proposals = aes128gcm16
				start_action = none
			}
		}
	}
}
secrets {
	ike-bench {
		id-a = a.bench
		id-b = b.bench
		secret = %q
	}
}
`, local, remote, lid, rid, localNet, remoteNet, benchPSK)
}

func (e *env) setupStrongSwan() (*path, error) {
	a, b, err := e.vethPair("swan")
	if err != nil {
		return nil, err
	}
	p := &path{key: "strongswan", label: "strongSwan libipsec", a: a, b: b, src: innerA, dst: innerB}
	a.mustRun("ip", "addr", "add", innerA+"/32", "dev", "lo")
	b.mustRun("ip", "addr", "add", innerB+"/32", "dev", "lo")
	if err := e.iperfServer(p); err != nil {
		return nil, err
	}
	ca, err := e.startCharon("charon-a", a, "")
	if err != nil {
		return nil, err
	}
	cb, err := e.startCharon("charon-b", b, "")
	if err != nil {
		return nil, err
	}
	p.procs = []*proc{ca.proc, cb.proc}
	if err := ca.load(swanctlSite(outerA, outerB, "a.bench", "b.bench", netA, netB)); err != nil {
		return nil, err
	}
	if err := cb.load(swanctlSite(outerB, outerA, "b.bench", "a.bench", netB, netA)); err != nil {
		return nil, err
	}
	if _, err := ca.swanctl("--initiate", "--child", "net", "--timeout", "30"); err != nil {
		return nil, err
	}
	return p, p.waitPing(15 * time.Second)
}
