package config

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// fuzzSeeds are valid and nearly valid configurations.
func fuzzSeeds() []string {
	return []string{
		designExample,
		designExample + designUnsupported,
		"",
		"[daemon]\nworkers = 2\n[tun]\naddresses = [\"fd00::1/64\"]\n",
		manual("m", map[string]string{"esp": `"aes256-sha512"`, "key_out": `"0x` + strings.Repeat("ab", 96) + `"`,
			"key_in": `"0x` + strings.Repeat("cd", 96) + `"`, "rekey_time": `"1h"`, "life_time": "7200", "life_bytes": `"1G"`}),
		manual("a", nil) + manual("b", map[string]string{"spi_in": "3221225474"}),
		"[manual]\nsite = { mode = \"pass\", local_ts = [\"10.0.0.0/8\"],\n  remote_ts = [\"::/0\"] }\n",
		"tun.mtu = 100\n\"daemon\".'log_level' = \"x\"\n[manual.\"a b\"]\nx = \"\"\"\n[y]\n\"\"\"\n",
		"[[manual.x]]\n[tun\n",
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
		return
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
	}
	last := 0
	for _, e := range errs {
		if e.Line < 1 || !strings.HasPrefix(e.Error(), "f.toml:") || e.Line < last {
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
