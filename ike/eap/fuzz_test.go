package eap

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"testing"
)

// transcript records a real conversation: the Requests the server sent and
// the Responses the client answered, each concatenated (every EAP packet
// carries its own Length, so the concatenation splits again).
func transcript(t testing.TB, s Server, c Client) (reqs, resps []byte) {
	req, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		reqs = append(reqs, req...)
		resp, done, _ := c.Handle(req)
		if done {
			break
		}
		resps = append(resps, resp...)
		next, done, _ := s.Handle(resp)
		if done {
			reqs = append(reqs, next...)
			break
		}
		req = next
	}
	s.Close()
	c.Close()
	return reqs, resps
}

// splitPackets cuts b into packets by their Length fields; a bad length
// takes the rest. At most max packets.
func splitPackets(b []byte, max int) [][]byte {
	var out [][]byte
	for len(b) > 0 && len(out) < max {
		n := len(b)
		if len(b) >= 4 {
			if l := int(binary.BigEndian.Uint16(b[2:4])); l >= 4 && l <= len(b) {
				n = l
			}
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// driveServer feeds the packets in data to s, giving each the Identifier
// the server expects so the fuzzer reaches past the identifier check.
func driveServer(t *testing.T, s Server, data []byte) {
	defer s.Close()
	req, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range splitPackets(data, 200) {
		p = append([]byte(nil), p...)
		if len(p) >= 2 {
			p[1] = req[1]
		}
		next, done, err := s.Handle(p)
		if done {
			if err != nil && next != nil && next[0] != byte(CodeFailure) {
				t.Fatalf("error %v with a non-Failure packet %x", err, next)
			}
			if err == nil && (len(next) != 4 || next[0] != byte(CodeSuccess)) {
				t.Fatalf("done without error but final packet %x", next)
			}
			return
		}
		if err != nil {
			t.Fatalf("error %v but not done", err)
		}
		if _, perr := Parse(next); perr != nil {
			t.Fatalf("server produced an unparsable request: %v", perr)
		}
		req = next
	}
}

// driveClient feeds the packets in data to c.
func driveClient(t *testing.T, c Client, data []byte) {
	defer c.Close()
	for _, p := range splitPackets(data, 200) {
		resp, done, err := c.Handle(p)
		if done {
			if resp != nil {
				t.Fatalf("done with a response %x (err %v)", resp, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("error %v but not done", err)
		}
		if _, perr := Parse(resp); perr != nil {
			t.Fatalf("client produced an unparsable response: %v", perr)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{1, 7, 0, 5, 1})
	f.Add([]byte{2, 7, 0, 8, 1, 'b', 'o', 'b'})
	f.Add([]byte{3, 9, 0, 4})
	f.Add([]byte{1, 9, 0, 6, 13, 0x20})
	// Every packet of real MSCHAPv2 and EAP-TLS conversations.
	reqs, resps := mschapFixtures(f)
	convs := [][]byte{reqs, resps}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		reqs, resps := tlsFixtures(f, v)
		convs = append(convs, reqs, resps)
	}
	for _, conv := range convs {
		for _, p := range splitPackets(conv, 1000) {
			if _, err := Parse(p); err != nil {
				f.Fatalf("packet of a real conversation does not parse: %v", err)
			}
			f.Add(p)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if !bytes.Equal(out, b[:n]) {
			t.Fatalf("round trip %x, want %x", out, b[:n])
		}
	})
}

func mschapFixtures(f *testing.F) (reqs, resps []byte) {
	users := passwords(map[string]string{"alice": "wonderland"})
	s, _ := NewChainServer(NewIdentityServer(), NewMSCHAPv2Server(users))
	c, _ := NewMSCHAPv2Client("alice", []byte("wonderland"))
	return transcript(f, s, c)
}

func tlsFixtures(f *testing.F, ver uint16) (reqs, resps []byte) {
	p := getPKI(f)
	s, c := tlsPair(f, ver, 200, p.client, p.pool, nil, nil)
	return transcript(f, s, c)
}

func FuzzMSCHAPv2ServerHandle(f *testing.F) {
	_, resps := mschapFixtures(f)
	f.Add(resps)
	f.Add(resps[:len(resps)/2])
	users := passwords(map[string]string{"alice": "wonderland"})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := NewChainServer(NewIdentityServer(), NewMSCHAPv2Server(users))
		driveServer(t, s, data)
	})
}

func FuzzMSCHAPv2ClientHandle(f *testing.F) {
	reqs, _ := mschapFixtures(f)
	f.Add(reqs)
	f.Add([]byte{1, 1, 0, 9, 26, 4, 1, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _ := NewMSCHAPv2Client("alice", []byte("wonderland"))
		driveClient(t, c, data)
	})
}

func FuzzTLSServerHandle(f *testing.F) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		_, resps := tlsFixtures(f, v)
		f.Add(resps)
	}
	p := getPKI(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewTLSServer(&tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool}, &TLSOptions{FragmentSize: 200})
		if err != nil {
			t.Fatal(err)
		}
		driveServer(t, s, data)
	})
}

func FuzzTLSClientHandle(f *testing.F) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		reqs, _ := tlsFixtures(f, v)
		f.Add(reqs)
	}
	p := getPKI(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := NewTLSClient("carol", &tls.Config{
			Certificates: []tls.Certificate{p.client}, RootCAs: p.pool, ServerName: "gw.example.org",
		}, &TLSOptions{FragmentSize: 200})
		if err != nil {
			t.Fatal(err)
		}
		driveClient(t, c, data)
	})
}

func FuzzTLSFramer(f *testing.F) {
	f.Add([]byte{tlsFlagL | tlsFlagM, 0, 0, 0, 3, 1}, []byte{0, 2, 3})
	f.Add([]byte{tlsFlagL, 0, 0, 0, 1, 9}, []byte{})
	// Consecutive EAP-TLS Type-Data of real conversations, fragmented at
	// 200 octets: the first fragments of a flight and the ones after.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		reqs, resps := tlsFixtures(f, v)
		for _, conv := range [][]byte{reqs, resps} {
			var frags [][]byte
			for _, p := range splitPackets(conv, 1000) {
				if len(p) > 5 && Type(p[4]) == TypeTLS {
					frags = append(frags, p[5:])
				}
			}
			for i := 0; i+1 < len(frags); i++ {
				f.Add(frags[i], frags[i+1])
			}
		}
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var fr tlsFramer
		for _, x := range [][]byte{a, b, a} {
			msg, _, err := fr.receive(x)
			if err != nil {
				return
			}
			if len(msg) > MaxTLSMessage || len(fr.in) > MaxTLSMessage {
				t.Fatal("reassembly beyond bound")
			}
		}
	})
}
