package config

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds are valid and nearly valid configurations.
func fuzzSeeds() []string {
	return []string{
		designExample,
		designExample + designIKE,
		"",
		"[daemon]\nworkers = 2\n[tun]\naddresses = [\"fd00::1/64\"]\n",
		manual("m", map[string]string{"esp": `"aes256-sha512"`, "key_out": `"0x` + strings.Repeat("ab", 96) + `"`,
			"key_in": `"0x` + strings.Repeat("cd", 96) + `"`, "rekey_time": `"1h"`, "life_time": "7200", "life_bytes": `"1G"`}),
		manual("a", nil) + manual("b", map[string]string{"spi_in": "3221225474"}),
		"[manual]\nsite = { mode = \"pass\", local_ts = [\"10.0.0.0/8\"],\n  remote_ts = [\"::/0\"] }\n",
		"tun.mtu = 100\n\"daemon\".'log_level' = \"x\"\n[manual.\"a b\"]\nx = \"\"\"\n[y]\n\"\"\"\n",
		"[[manual.x]]\n[tun\n",
		"[ike]\nretransmit_timeout = \"2s\"\nretransmit_base = 1.5\nretransmit_tries = 3\ncookie_threshold = 0\nhalf_open_limit = 100\nfragment_size = 1400\n",
		"[connections.rw]\nlocal_addrs = [\"10.0.0.0/8\", \"10.1.0.1-10.1.0.9\", \"%any6\"]\nremote_addrs = [\"gw.example.org, fd00::2\"]\n" +
			"proposals = [\"aes256-sha256-modp2048\", \"default\"]\nfragmentation = false\nunique = \"keep\"\n" +
			"[connections.rw.local-1]\nauth = \"eap-mschapv2\"\neap_id = \"carol\"\n[connections.rw.remote]\nauth = \"psk\"\nid = \"fqdn:gw\"\n" +
			"[connections.rw.children.a]\nlocal_ts = [\"dynamic\", \"10.9.0.0/16[udp/53]\"]\nesp_proposals = [\"aes128gcm16-esn\"]\nrekey_bytes = \"1G\"\nstart_action = \"trap\"\n" +
			"[secrets.eap-carol]\nid = \"carol\"\nsecret = \"0sSHVudGVyMg==\"\n[secrets.ike-1]\nid-a = \"gw\"\nsecret = \"0x0102\"\n",
		"[secrets]\nike = { id = [\"a\", \"b\"], secret = \"x\" }\nprivate-k = { file = \"/nonexistent\" }\n",
		// Remote access: a gateway with pools and EAP users, a client
		// asking for virtual IPs with the Windows client's legacy groups.
		"[tun]\naddresses = [\"10.3.0.1/32\"]\n[connections.gw]\npools = [\"v4\", \"v6\"]\n" +
			"[connections.gw.local]\nauth = \"psk\"\n[connections.gw.remote]\nauth = \"eap-mschapv2\"\neap_id = \"%any\"\n" +
			"[connections.gw.children.net]\nlocal_ts = [\"10.1.0.0/16\"]\n" +
			"[pools.v4]\naddrs = \"10.3.0.10-10.3.0.200\"\ndns = [\"10.3.0.1\", \"fd00:3::1\"]\nnbns = [\"10.3.0.1\"]\n" +
			"domains = [\"corp.example.com\"]\nsubnet = [\"10.1.0.0/16\"]\nsplit_include = [\"10.1.0.0/16\"]\nsplit_exclude = [\"192.168.0.0/16\"]\n" +
			"[pools.v6]\naddrs = \"fd00:3::/112\"\n" +
			"[secrets.ike]\nsecret = \"x\"\n[secrets.eap-users]\nusers_file = \"/nonexistent/users.txt\"\n[secrets.eap-carol]\nid = \"carol\"\nsecret = \"y\"\n",
		"[connections.rw]\nremote_addrs = [\"vpn.example.org\"]\nvips = [\"0.0.0.0\", \"::\"]\nallow_legacy_proposals = true\n" +
			"proposals = [\"aes256-sha1-modp1024, aes256-sha256-modp1024\"]\n" +
			"[connections.rw.local]\nauth = \"eap-mschapv2\"\neap_id = \"carol\"\n[connections.rw.remote]\nauth = \"eap\"\n" +
			"[connections.rw.children.home]\nremote_ts = [\"0.0.0.0/0\"]\nesp_proposals = [\"aes256-sha256-modp1024\"]\nstart_action = \"start\"\n" +
			"[secrets.eap-carol]\nid = \"carol\"\nsecret = \"y\"\n[pools.a]\naddrs = \"10.9.0.0/31\"\n",
		"[pools.a]\naddrs = \"10.9.0.0/31\"\n25 = \"x\"\n[connections.c]\npools = [\"a\", \"radius\"]\nvips = [\"::\"]\n",
	}
}

// checkParse is the property every input must have: Parse does not panic,
// and either returns a config or Errors whose every entry has a line and
// the FILE:LINE: prefix, in line order.
func checkParse(t *testing.T, data []byte) {
	cfg, err := Parse("f.toml", data)
	if err == nil {
		if cfg == nil {
			t.Fatal("nil config without error")
		}
		for _, m := range cfg.Manual {
			if m.Mode != ModeTunnel {
				continue
			}
			if len(m.KeyOut) != m.ESP.KeyLen() || len(m.KeyIn) != m.ESP.KeyLen() || m.SPIIn < MinSPI || m.SPIOut < MinSPI ||
				!m.RemoteAddr.IsValid() || len(m.LocalTS) == 0 || len(m.RemoteTS) == 0 {
				t.Fatalf("accepted an incomplete tunnel: %+v", m)
			}
		}
		for _, c := range cfg.Connections {
			if c.Version != 2 || len(c.Proposals) == 0 || len(c.LocalAddrs) == 0 || len(c.RemoteAddrs) == 0 || c.Local.Auth == "" || c.Remote.Auth == "" {
				t.Fatalf("accepted an incomplete connection: %+v", c)
			}
			for _, ch := range c.Children {
				if len(ch.ESPProposals) == 0 || (!ch.LocalTS.Dynamic && len(ch.LocalTS.Selectors) == 0) || (!ch.RemoteTS.Dynamic && len(ch.RemoteTS.Selectors) == 0) {
					t.Fatalf("accepted an incomplete child: %+v", ch)
				}
			}
		}
		for _, p := range cfg.Pools {
			if !p.First.IsValid() || p.First.Is4() != p.Last.Is4() || p.First.Compare(p.Last) > 0 || p.Size() > MaxPoolSize ||
				!p.Prefix.Contains(p.First) || !p.Prefix.Contains(p.Last) {
				t.Fatalf("accepted a broken pool: %+v", p)
			}
		}
		for _, c := range cfg.Connections {
			for _, name := range c.Pools {
				if !slices.ContainsFunc(cfg.Pools, func(p *Pool) bool { return p.Name == name }) {
					t.Fatalf("connection %s lists the undefined pool %q", c.Name, name)
				}
			}
			if c.VIPs != nil && c.Pools != nil {
				t.Fatalf("connection %s has both vips and pools", c.Name)
			}
		}
		for _, s := range cfg.Secrets {
			if (s.Type == SecretIKE || s.Type == SecretEAP) && len(s.Data) == 0 || s.Type != SecretIKE && s.Type != SecretEAP && s.Key.Signer == nil {
				t.Fatalf("accepted an incomplete secret: %+v", s)
			}
		}
		return
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
	}
	// Errors in f.toml come first, in line order; a users file named by
	// the input may follow with errors of its own.
	last, file := 0, "f.toml"
	for _, e := range errs {
		if e.File != file {
			if file != "f.toml" && e.File < file {
				t.Fatalf("bad error %q: files out of order", e.Error())
			}
			last, file = 0, e.File
		}
		if e.Line < 1 || !strings.HasPrefix(e.Error(), e.File+":") || e.Line < last {
			t.Fatalf("bad error %q (line %d after %d)", e.Error(), e.Line, last)
		}
		last = e.Line
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParse)
}

// TestParseMutations is a short, deterministic stand-in for the fuzzer that
// runs with every go test: it mutates the seeds by deleting, duplicating and
// replacing bytes with TOML punctuation.
func TestParseMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const punct = "[]{}\"'=.,#\n \\0x:/-_"
	n := 3000
	if testing.Short() {
		n = 300
	}
	seeds := fuzzSeeds()
	for i := 0; i < n; i++ {
		b := []byte(seeds[r.IntN(len(seeds))])
		for m := r.IntN(4) + 1; m > 0 && len(b) > 0; m-- {
			p := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b = append(b[:p], b[p+1:]...)
			case 1:
				b[p] = punct[r.IntN(len(punct))]
			case 2:
				q := p + r.IntN(min(16, len(b)-p))
				b = append(b[:q], append(append([]byte(nil), b[p:q]...), b[q:]...)...)
			}
		}
		checkParse(t, b)
	}
}
