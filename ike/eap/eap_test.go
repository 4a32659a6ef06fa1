package eap

import (
	"bytes"
	"errors"
	"testing"
)

// converse runs s and c against each other until both are done and returns
// their final errors and the number of round trips.
func converse(t testing.TB, s Server, c Client) (serr, cerr error, rounds int) {
	t.Helper()
	req, err := s.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for rounds = 1; rounds < 10000; rounds++ {
		resp, cdone, cerr := c.Handle(req)
		if cdone {
			if cerr == nil {
				return nil, nil, rounds // client accepted Success
			}
			// The client gave up; a server in IKE would see the SA go.
			return nil, cerr, rounds
		}
		next, sdone, serr := s.Handle(resp)
		if sdone {
			if next == nil {
				t.Fatalf("server done without a final packet (err %v)", serr)
			}
			_, cdone, cerr := c.Handle(next)
			if !cdone {
				t.Fatalf("client not done after %x", next)
			}
			return serr, cerr, rounds
		}
		req = next
	}
	t.Fatal("conversation does not end")
	return nil, nil, 0
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Packet
		err  error
	}{
		{"identity request", []byte{1, 7, 0, 5, 1}, Packet{Code: CodeRequest, Identifier: 7, Type: TypeIdentity, TypeData: []byte{}}, nil},
		{"response with data", []byte{2, 7, 0, 8, 1, 'b', 'o', 'b'}, Packet{Code: CodeResponse, Identifier: 7, Type: TypeIdentity, TypeData: []byte("bob")}, nil},
		{"padding ignored", []byte{3, 9, 0, 4, 0xee, 0xee}, Packet{Code: CodeSuccess, Identifier: 9}, nil},
		{"failure", []byte{4, 9, 0, 4}, Packet{Code: CodeFailure, Identifier: 9}, nil},
		{"short", []byte{1, 2, 0}, Packet{}, ErrMalformed},
		{"length beyond data", []byte{1, 2, 0, 9, 1}, Packet{}, ErrMalformed},
		{"length below header", []byte{1, 2, 0, 3, 1}, Packet{}, ErrMalformed},
		{"request without type", []byte{1, 2, 0, 4}, Packet{}, ErrMalformed},
		{"success with data", []byte{3, 2, 0, 5, 1}, Packet{}, ErrMalformed},
		{"unknown code", []byte{5, 2, 0, 4}, Packet{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if p.Code != tt.want.Code || p.Identifier != tt.want.Identifier || p.Type != tt.want.Type || !bytes.Equal(p.TypeData, tt.want.TypeData) {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
			out, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			n := int(tt.in[2])<<8 | int(tt.in[3])
			if !bytes.Equal(out, tt.in[:n]) {
				t.Fatalf("round trip %x, want %x", out, tt.in[:n])
			}
		})
	}
}

func TestMarshalTooLarge(t *testing.T) {
	_, err := Packet{Code: CodeRequest, Type: TypeTLS, TypeData: make([]byte, 0x10000)}.Marshal()
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func passwords(m map[string]string) func(string) ([]byte, bool) {
	return func(u string) ([]byte, bool) {
		p, ok := m[u]
		return []byte(p), ok
	}
}

// mustClient adapts a (Client, error) constructor for one-line use.
func mustClient(t testing.TB) func(Client, error) Client {
	return func(c Client, err error) Client {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

func TestMSCHAPv2RoundTrip(t *testing.T) {
	users := passwords(map[string]string{"alice": "wonderland", `CORP\bob`: "sesame"})
	tests := []struct {
		name      string
		chain     bool
		user, pw  string
		serr      error
		cerr      error
		wantIdent string
	}{
		{"good password", false, "alice", "wonderland", nil, nil, "alice"},
		{"good password after identity", true, "alice", "wonderland", nil, nil, "alice"},
		{"domain user", true, `CORP\bob`, "sesame", nil, nil, `CORP\bob`},
		{"wrong password", true, "alice", "looking-glass", ErrAuthFailed, ErrFailure, ""},
		{"unknown user", true, "mallory", "x", ErrAuthFailed, ErrFailure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewMSCHAPv2Server(users)
			if tt.chain {
				var err error
				s, err = NewChainServer(NewIdentityServer(), s)
				if err != nil {
					t.Fatal(err)
				}
			}
			c := mustClient(t)(NewMSCHAPv2Client(tt.user, []byte(tt.pw)))
			serr, cerr, _ := converse(t, s, c)
			if !errors.Is(serr, tt.serr) || !errors.Is(cerr, tt.cerr) {
				t.Fatalf("server err %v (want %v), client err %v (want %v)", serr, tt.serr, cerr, tt.cerr)
			}
			if tt.serr != nil {
				if s.MSK() != nil || c.MSK() != nil {
					t.Fatal("MSK after failure")
				}
				return
			}
			if got := s.Identity(); got != tt.wantIdent {
				t.Errorf("Identity = %q, want %q", got, tt.wantIdent)
			}
			sk, ck := s.MSK(), c.MSK()
			if len(sk) != MSKLen || !bytes.Equal(sk, ck) {
				t.Fatalf("MSKs differ or wrong length: %x / %x", sk, ck)
			}
			s.Close()
			c.Close()
			if s.MSK() != nil || c.MSK() != nil {
				t.Fatal("MSK survives Close")
			}
		})
	}
}

func TestIdentityServer(t *testing.T) {
	s := NewIdentityServer()
	c := mustClient(t)(NewMSCHAPv2Client("carol@example.org", []byte("pw")))
	req, _ := s.Start()
	resp, done, err := c.Handle(req)
	if err != nil || done {
		t.Fatal(err)
	}
	next, done, err := s.Handle(resp)
	if err != nil || !done || next[0] != byte(CodeSuccess) {
		t.Fatalf("next %x done %v err %v", next, done, err)
	}
	if s.Identity() != "carol@example.org" || s.MSK() != nil {
		t.Fatalf("identity %q msk %x", s.Identity(), s.MSK())
	}
	// Without the method, the client refuses the Success.
	if _, _, err := c.Handle(next); !errors.Is(err, ErrPrematureSuccess) {
		t.Fatalf("client err %v", err)
	}
}

func TestIdentityRejected(t *testing.T) {
	for _, id := range [][]byte{{'a', 0, 'b'}, {0xff}, bytes.Repeat([]byte("a"), MaxIdentityLen+1)} {
		s := NewIdentityServer()
		req, _ := s.Start()
		resp, _ := Packet{Code: CodeResponse, Identifier: req[1], Type: TypeIdentity, TypeData: id}.Marshal()
		next, done, err := s.Handle(resp)
		if !errors.Is(err, ErrMalformed) || !done || next[0] != byte(CodeFailure) {
			t.Fatalf("%q: next %x done %v err %v", id, next, done, err)
		}
	}
}

func TestServerRejects(t *testing.T) {
	tests := []struct {
		name string
		resp func(req []byte) []byte
		err  error
	}{
		{"identifier mismatch", func(req []byte) []byte {
			b, _ := Packet{Code: CodeResponse, Identifier: req[1] + 1, Type: TypeIdentity, TypeData: []byte("x")}.Marshal()
			return b
		}, ErrIdentifier},
		{"garbage", func([]byte) []byte { return []byte{0xde, 0xad} }, ErrMalformed},
		{"request instead of response", func(req []byte) []byte { return req }, ErrUnexpected},
		{"wrong type", func(req []byte) []byte {
			b, _ := Packet{Code: CodeResponse, Identifier: req[1], Type: TypeMSCHAPv2, TypeData: []byte{2}}.Marshal()
			return b
		}, ErrUnexpected},
		{"nak", func(req []byte) []byte {
			b, _ := Packet{Code: CodeResponse, Identifier: req[1], Type: TypeNak, TypeData: []byte{4}}.Marshal()
			return b
		}, ErrNak},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewIdentityServer()
			req, _ := s.Start()
			next, done, err := s.Handle(tt.resp(req))
			if !errors.Is(err, tt.err) || !done {
				t.Fatalf("done %v err %v, want %v", done, err, tt.err)
			}
			if p, perr := Parse(next); perr != nil || p.Code != CodeFailure || p.Identifier != req[1] {
				t.Fatalf("final packet %x", next)
			}
			if _, _, err := s.Handle(tt.resp(req)); !errors.Is(err, ErrDone) {
				t.Fatalf("after the end: %v", err)
			}
		})
	}
}

func TestClientBehaviour(t *testing.T) {
	c := mustClient(t)(NewMSCHAPv2Client("dave", []byte("pw")))
	idReq := []byte{1, 42, 0, 5, 1}
	r1, _, err := c.Handle(idReq)
	if err != nil || !bytes.Equal(r1, []byte{2, 42, 0, 9, 1, 'd', 'a', 'v', 'e'}) {
		t.Fatalf("identity response %x err %v", r1, err)
	}
	// RFC 3748 4.1: a retransmitted request gets the same response.
	r2, _, err := c.Handle(idReq)
	if err != nil || !bytes.Equal(r1, r2) {
		t.Fatalf("retransmission answered %x err %v", r2, err)
	}
	// Notification acknowledged with an empty Notification.
	r3, _, err := c.Handle([]byte{1, 43, 0, 7, 2, 'h', 'i'})
	if err != nil || !bytes.Equal(r3, []byte{2, 43, 0, 5, 2}) {
		t.Fatalf("notification response %x err %v", r3, err)
	}
	// Other methods get a Legacy Nak naming MS-CHAPv2.
	r4, _, err := c.Handle([]byte{1, 44, 0, 6, 13, 0x20})
	if err != nil || !bytes.Equal(r4, []byte{2, 44, 0, 6, 3, 26}) {
		t.Fatalf("nak %x err %v", r4, err)
	}
	// Success with a stale identifier is refused.
	if _, done, err := c.Handle([]byte{3, 40, 0, 4}); !done || !errors.Is(err, ErrIdentifier) {
		t.Fatalf("stale success: done %v err %v", done, err)
	}
	if _, _, err := c.Handle(idReq); !errors.Is(err, ErrDone) {
		t.Fatalf("after the end: %v", err)
	}
}

func TestClientRejectsBadAuthenticatorResponse(t *testing.T) {
	s := NewMSCHAPv2Server(passwords(map[string]string{"erin": "pw"}))
	c := mustClient(t)(NewMSCHAPv2Client("erin", []byte("pw")))
	req, _ := s.Start()
	resp, _, _ := c.Handle(req)
	next, _, err := s.Handle(resp)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one hex digit of S=.
	next = append([]byte(nil), next...)
	i := 5 + 4 + 2
	if next[i] == '0' {
		next[i] = '1'
	} else {
		next[i] = '0'
	}
	if _, done, err := c.Handle(next); !done || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("done %v err %v", done, err)
	}
}

func TestChainErrors(t *testing.T) {
	if _, err := NewChainServer(); err == nil {
		t.Fatal("empty chain accepted")
	}
	s := NewIdentityServer()
	s.Start()
	if _, err := NewChainServer(s); err == nil {
		t.Fatal("started server accepted")
	}
	a := NewIdentityServer()
	if _, err := NewChainServer(a); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Start(); !errors.Is(err, ErrDone) {
		t.Fatal("consumed server still starts")
	}
}

func TestTooManyRounds(t *testing.T) {
	c := mustClient(t)(NewMSCHAPv2Client("frank", []byte("pw")))
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, _, err = c.Handle([]byte{1, byte(i), 0, 5, 1})
	}
	if !errors.Is(err, ErrTooManyRounds) {
		t.Fatalf("err %v", err)
	}
}
