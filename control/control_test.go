package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe: what a handler returns reaches Call: data (streamed into the
// connection), no data, an error, and data that cannot be encoded, which
// becomes an error instead of half an answer. Every answer is one JSON
// object on its own line.
func TestServe(t *testing.T) {
	type entry struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	big := make([]entry, 20000)
	for i := range big {
		big[i] = entry{Name: strings.Repeat("x", i%40), N: i}
	}
	path := filepath.Join(t.TempDir(), "ctl.sock")
	srv, err := Listen(path, func(ctx context.Context, req Request) (any, error) {
		switch req.Cmd {
		case "big":
			return big, nil
		case "none":
			return nil, nil
		case "fail":
			return nil, errors.New("no such thing")
		case "nan":
			return map[string]float64{"x": math.NaN()}, nil
		}
		return nil, errors.New("unknown command")
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var got []entry
	if err := Call(path, Request{Cmd: "big"}, &got); err != nil {
		t.Fatalf("big: %v", err)
	}
	if len(got) != len(big) || got[len(got)-1] != big[len(big)-1] || got[123] != big[123] {
		t.Fatalf("big: got %d entries, want %d equal ones", len(got), len(big))
	}
	if err := Call(path, Request{Cmd: "none"}, &got); err != nil {
		t.Fatalf("none: %v", err)
	}
	if err := Call(path, Request{Cmd: "fail"}, nil); err == nil || err.Error() != "no such thing" {
		t.Fatalf("fail: error %v, want the handler's", err)
	}
	if err := Call(path, Request{Cmd: "nan"}, nil); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("nan: error %v, want the encoder's", err)
	}

	// On the wire: one object per answer, then the connection ends.
	for _, cmd := range []string{"big", "none", "fail", "nan"} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.NewEncoder(c).Encode(Request{Cmd: cmd}); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		dec := json.NewDecoder(r)
		var resp Response
		if err := dec.Decode(&resp); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" {
			t.Errorf("%s: %q after the answer", cmd, rest)
		}
		if rest, _ := io.ReadAll(r); len(rest) != 0 {
			t.Errorf("%s: %d more bytes after the answer", cmd, len(rest))
		}
		if resp.OK != (cmd == "big" || cmd == "none") {
			t.Errorf("%s: ok %v", cmd, resp.OK)
		}
		c.Close()
	}
}

// BenchmarkServeStatus: a large answer (about 2 MB of JSON) through the
// socket; the server's copies show in B/op (with the client's decoding).
func BenchmarkServeStatus(b *testing.B) {
	type entry struct {
		Name, Local, Remote string
		Packets, Bytes      uint64
	}
	big := make([]entry, 20000)
	for i := range big {
		big[i] = entry{Name: "conn/child", Local: "10.0.0.1/32", Remote: "192.0.2.1/32", Packets: uint64(i), Bytes: uint64(i) << 10}
	}
	path := filepath.Join(b.TempDir(), "ctl.sock")
	srv, err := Listen(path, func(ctx context.Context, req Request) (any, error) { return big, nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := Call(path, Request{Cmd: "status"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
