package eap

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// serverMethod is one EAP method as the authenticator runs it. The server
// conversation owns Identifiers, round counting, Success and Failure; a
// method only sees the Type-Data of Responses of its own Type.
type serverMethod interface {
	methodType() Type
	// start returns the Type-Data of the method's first Request, which
	// goes out with Identifier id.
	start(id uint8) ([]byte, error)
	// handle processes the Type-Data of a Response. If it returns a next
	// Request (done false), that Request goes out with Identifier nextID.
	// done true means the method authenticated the peer.
	handle(data []byte, nextID uint8) (next []byte, done bool, err error)
	// msk is the method's MSK after success, nil for methods that derive
	// none.
	msk() []byte
	// identity is the identity the method authenticated, "" if none.
	identity() string
	// maxRounds bounds the Responses the method may take.
	maxRounds() int
	close()
}

type serverState uint8

const (
	serverNew serverState = iota
	serverWaiting
	serverOver
)

// server is the conversation every Server constructor returns; a chain is a
// server with more than one method.
type server struct {
	methods []serverMethod
	cur     int
	state   serverState
	id      uint8 // Identifier of the outstanding Request
	rounds  int
	max     int

	ident string
	key   []byte
	ok    bool
}

func newServer(ms ...serverMethod) *server {
	s := &server{methods: ms}
	for _, m := range ms {
		s.max += m.maxRounds()
	}
	return s
}

// NewChainServer runs the methods of several servers, in order, in one
// conversation: each method starts when the previous one succeeded, and
// EAP-Success follows the last. NewChainServer(NewIdentityServer(),
// NewMSCHAPv2Server(lookup)) is strongSwan's eap-identity + eap-mschapv2.
// The servers must come from this package and not have been started; they
// are consumed (their own Start fails afterwards). The chain's MSK is the
// last key-generating method's; its Identity the last one reported.
func NewChainServer(servers ...Server) (Server, error) {
	if len(servers) == 0 {
		return nil, errors.New("eap: chain without methods")
	}
	var ms []serverMethod
	for i, x := range servers {
		s, ok := x.(*server)
		if !ok || s == nil {
			return nil, fmt.Errorf("eap: chain element %d is not a server of this package", i)
		}
		if s.state != serverNew {
			return nil, fmt.Errorf("eap: chain element %d was already started", i)
		}
		ms = append(ms, s.methods...)
	}
	for _, x := range servers {
		x.(*server).state = serverOver
	}
	return newServer(ms...), nil
}

func randomByte() uint8 {
	var b [1]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return b[0]
}

func (s *server) Start() ([]byte, error) {
	if s.state != serverNew {
		return nil, ErrDone
	}
	// RFC 3748 4.1: start from an unpredictable Identifier.
	s.id = randomByte()
	data, err := s.methods[0].start(s.id)
	if err != nil {
		s.finish()
		return nil, err
	}
	s.state = serverWaiting
	return s.request(data)
}

func (s *server) request(data []byte) ([]byte, error) {
	return Packet{Code: CodeRequest, Identifier: s.id, Type: s.methods[s.cur].methodType(), TypeData: data}.Marshal()
}

func (s *server) Handle(resp []byte) ([]byte, bool, error) {
	if s.state != serverWaiting {
		return nil, true, ErrDone
	}
	s.rounds++
	if s.rounds > s.max {
		return s.fail(fmt.Errorf("%w: %d", ErrTooManyRounds, s.rounds))
	}
	p, err := Parse(resp)
	if err != nil {
		return s.fail(err)
	}
	if p.Code != CodeResponse {
		return s.fail(fmt.Errorf("%w: %v from the peer", ErrUnexpected, p.Code))
	}
	if p.Identifier != s.id {
		return s.fail(fmt.Errorf("%w: response %d to request %d", ErrIdentifier, p.Identifier, s.id))
	}
	m := s.methods[s.cur]
	if p.Type == TypeNak {
		// RFC 3748 5.3.1: the peer lists the types it wants instead.
		return s.fail(fmt.Errorf("%w: %v refused, peer wants %v", ErrNak, m.methodType(), nakTypes(p.TypeData)))
	}
	if p.Type != m.methodType() {
		return s.fail(fmt.Errorf("%w: %v response to a %v request", ErrUnexpected, p.Type, m.methodType()))
	}
	next, done, err := m.handle(p.TypeData, s.id+1)
	if err != nil {
		return s.fail(err)
	}
	if !done {
		s.id++
		out, err := s.request(next)
		if err != nil {
			return s.fail(err)
		}
		return out, false, nil
	}
	if id := m.identity(); id != "" {
		s.ident = id
	}
	if k := m.msk(); k != nil {
		s.key = append(s.key[:0], k...)
	}
	if s.cur+1 < len(s.methods) {
		s.cur++
		s.id++
		data, err := s.methods[s.cur].start(s.id)
		if err != nil {
			return s.fail(err)
		}
		out, err := s.request(data)
		if err != nil {
			return s.fail(err)
		}
		return out, false, nil
	}
	// RFC 3748 4.2: Success carries the Identifier of the Response it
	// answers.
	s.ok = true
	s.finish()
	out, _ := Packet{Code: CodeSuccess, Identifier: s.id}.Marshal()
	return out, true, nil
}

func (s *server) fail(err error) ([]byte, bool, error) {
	s.finish()
	wipe(s.key)
	s.key = nil
	out, _ := Packet{Code: CodeFailure, Identifier: s.id}.Marshal()
	return out, true, err
}

func (s *server) finish() {
	s.state = serverOver
	for _, m := range s.methods {
		m.close()
	}
}

func (s *server) MSK() []byte {
	if !s.ok || s.key == nil {
		return nil
	}
	return append([]byte(nil), s.key...)
}

func (s *server) Identity() string {
	if !s.ok {
		return ""
	}
	return s.ident
}

// Close ends the conversation and wipes the MSK; read MSK before.
func (s *server) Close() error {
	if s.state != serverOver || s.ok {
		s.finish()
	}
	wipe(s.key)
	s.key = nil
	return nil
}

// nakTypes renders the desired types of a Legacy Nak for an error message.
func nakTypes(b []byte) []Type {
	if len(b) > 8 {
		b = b[:8]
	}
	ts := make([]Type, len(b))
	for i, t := range b {
		ts[i] = Type(t)
	}
	return ts
}

func wipe(b []byte) {
	clear(b)
}
