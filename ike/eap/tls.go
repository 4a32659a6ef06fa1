package eap

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// EAP-TLS flags (RFC 5216 3.1).
const (
	tlsFlagL = 0x80 // Length included
	tlsFlagM = 0x40 // More fragments
	tlsFlagS = 0x20 // EAP-TLS Start
)

const (
	// MaxTLSMessage bounds a reassembled EAP-TLS message and a TLS flight
	// this side produces.
	MaxTLSMessage = 64 << 10

	// DefaultFragmentSize is the largest EAP packet EAP-TLS sends unless
	// TLSOptions says otherwise (strongSwan's eap-tls default).
	DefaultFragmentSize = 1024

	// MinFragmentSize is the smallest FragmentSize accepted.
	MinFragmentSize = 64

	tlsHeaderLen = headerLen + 1 + 1 // EAP header, Type, Flags
)

// TLS13Key selects the MSK derivation when TLS 1.3 was negotiated.
type TLS13Key uint8

const (
	// TLS13KeyRFC9190 is RFC 9190 2.3: Key_Material =
	// TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", 0x0D, 128), MSK its
	// first 64 octets. Windows, FreeRADIUS and hostapd do this.
	TLS13KeyRFC9190 TLS13Key = iota
	// TLS13KeyStrongSwan is what strongSwan's libtls (5.9) does with TLS
	// 1.3: TLS-Exporter("client EAP encryption", "", 128), first 64 octets
	// (tls_crypto.c derive_app_keys). strongSwan negotiates TLS 1.3 only
	// when libtls.version_max = 1.3; its default maximum is 1.2.
	TLS13KeyStrongSwan
)

// TLSOptions tunes EAP-TLS; the zero value (or nil) is the default.
type TLSOptions struct {
	// FragmentSize is the largest EAP packet sent (header included);
	// 0 means DefaultFragmentSize. At least MinFragmentSize.
	FragmentSize int
	// TLS13Key selects the MSK derivation for TLS 1.3.
	TLS13Key TLS13Key
}

func (o *TLSOptions) fragmentSize() (int, error) {
	if o == nil || o.FragmentSize == 0 {
		return DefaultFragmentSize, nil
	}
	if o.FragmentSize < MinFragmentSize || o.FragmentSize > 0xffff {
		return 0, fmt.Errorf("eap: EAP-TLS fragment size %d outside [%d, 65535]", o.FragmentSize, MinFragmentSize)
	}
	return o.FragmentSize, nil
}

func (o *TLSOptions) tls13Key() TLS13Key {
	if o == nil {
		return TLS13KeyRFC9190
	}
	return o.TLS13Key
}

// tlsMaxRounds bounds an EAP-TLS conversation: a handful of flights, each
// at most MaxTLSMessage octets, each fragment answered by one round.
func tlsMaxRounds(frag int) int {
	per := frag - tlsHeaderLen - 4
	return 16 + 8*((MaxTLSMessage+per-1)/per)
}

// tlsFramer fragments outgoing and reassembles incoming EAP-TLS messages
// (RFC 5216 2.1.5).
type tlsFramer struct {
	frag int

	out     []byte // rest of the message being sent
	outSent bool   // first fragment of out went already
	outLen  int

	in      []byte
	inMore  bool // inside a fragmented message
	inTotal int  // from the L flag, -1 if not given
}

// sending reports whether fragments of a message are still to go.
func (f *tlsFramer) sending() bool { return len(f.out) > 0 }

// setOut queues a message for sending.
func (f *tlsFramer) setOut(msg []byte) {
	f.out = msg
	f.outLen = len(msg)
	f.outSent = false
}

// nextFragment returns the Type-Data (Flags, [Length], data) of the next
// fragment. The first fragment carries the L flag and the total length
// (RFC 5216 3.1: L set on the first fragment; strongSwan includes it on
// unfragmented messages too, as we do).
func (f *tlsFramer) nextFragment() []byte {
	room := f.frag - tlsHeaderLen
	var hdr []byte
	if !f.outSent {
		room -= 4
		hdr = binary.BigEndian.AppendUint32([]byte{tlsFlagL}, uint32(f.outLen))
	} else {
		hdr = []byte{0}
	}
	n := min(room, len(f.out))
	if n < len(f.out) {
		hdr[0] |= tlsFlagM
	}
	td := append(hdr, f.out[:n]...)
	f.out = f.out[n:]
	f.outSent = true
	if len(f.out) == 0 {
		f.out = nil
	}
	return td
}

// isAck reports whether Type-Data is an EAP-TLS acknowledgement: no data,
// no L or M (RFC 5216 2.1.5).
func isAck(data []byte) bool {
	return len(data) == 1 && data[0]&(tlsFlagL|tlsFlagM|tlsFlagS) == 0
}

// receive adds one fragment's Type-Data. It returns the complete message
// when the last fragment arrived, or more == true if an acknowledgement is
// owed.
func (f *tlsFramer) receive(data []byte) (msg []byte, more bool, err error) {
	if len(data) < 1 {
		return nil, false, fmt.Errorf("%w: EAP-TLS without flags", ErrMalformed)
	}
	flags, payload := data[0], data[1:]
	total := -1
	if flags&tlsFlagL != 0 {
		if len(payload) < 4 {
			return nil, false, fmt.Errorf("%w: EAP-TLS L flag without length", ErrMalformed)
		}
		l := binary.BigEndian.Uint32(payload)
		if l > MaxTLSMessage {
			return nil, false, fmt.Errorf("%w: EAP-TLS message of %d octets", ErrTooLarge, l)
		}
		total = int(l)
		payload = payload[4:]
	}
	if !f.inMore {
		f.in = f.in[:0]
		f.inTotal = total
	} else if total >= 0 && total != f.inTotal {
		return nil, false, fmt.Errorf("%w: EAP-TLS length changed between fragments", ErrMalformed)
	}
	if len(f.in)+len(payload) > MaxTLSMessage {
		return nil, false, fmt.Errorf("%w: EAP-TLS reassembly beyond %d octets", ErrTooLarge, MaxTLSMessage)
	}
	if f.inTotal >= 0 && len(f.in)+len(payload) > f.inTotal {
		return nil, false, fmt.Errorf("%w: EAP-TLS fragments exceed the announced %d octets", ErrMalformed, f.inTotal)
	}
	f.in = append(f.in, payload...)
	if flags&tlsFlagM != 0 {
		if len(payload) == 0 {
			return nil, false, fmt.Errorf("%w: empty EAP-TLS fragment with M flag", ErrMalformed)
		}
		f.inMore = true
		return nil, true, nil
	}
	f.inMore = false
	if f.inTotal >= 0 && len(f.in) != f.inTotal {
		return nil, false, fmt.Errorf("%w: EAP-TLS message of %d octets, announced %d", ErrMalformed, len(f.in), f.inTotal)
	}
	msg = f.in
	f.in = nil
	return msg, false, nil
}

// tlsEngine runs crypto/tls over an in-memory transport. The TLS state
// machine runs in routineHandshake, a goroutine the engine owns; the
// conversation feeds it the peer's flight and collects the flight it
// writes, which is complete when the goroutine blocks reading with nothing
// left to read, or finished.
type tlsEngine struct {
	mu       sync.Mutex
	cond     sync.Cond
	in       []byte // peer's bytes not yet read by TLS
	out      []byte // TLS's bytes not yet collected
	waiting  bool   // the goroutine is blocked in Read with in empty
	finished bool   // the goroutine is done (err tells how)
	closed   bool
	err      error
	key      []byte

	started bool
	exited  chan struct{}
	conn    *tls.Conn
	server  bool
	tls13   TLS13Key
}

func newTLSEngine(conf *tls.Config, server bool, k TLS13Key) *tlsEngine {
	e := &tlsEngine{server: server, tls13: k, exited: make(chan struct{})}
	e.cond.L = &e.mu
	c := engineConn{e}
	if server {
		e.conn = tls.Server(c, conf)
	} else {
		e.conn = tls.Client(c, conf)
	}
	return e
}

// feed hands the peer's message to TLS (starting the goroutine on first
// use) and waits until TLS wants more input or is finished. It returns what
// TLS wrote meanwhile.
func (e *tlsEngine) feed(msg []byte) (out []byte, finished bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, true, ErrDone
	}
	if e.finished {
		if len(msg) > 0 {
			return nil, true, fmt.Errorf("%w: EAP-TLS data after the handshake", ErrUnexpected)
		}
	} else {
		e.in = append(e.in, msg...)
		e.waiting = false
		if !e.started {
			e.started = true
			go e.routineHandshake()
		}
		e.cond.Broadcast()
		for !e.finished && !(e.waiting && len(e.in) == 0) {
			e.cond.Wait()
		}
	}
	out, e.out = e.out, nil
	return out, e.finished, e.err
}

func (e *tlsEngine) routineHandshake() {
	defer close(e.exited)
	err := e.conn.Handshake()
	var key []byte
	if err == nil {
		cs := e.conn.ConnectionState()
		if cs.Version == tls.VersionTLS13 {
			// RFC 9190 2.5: the server commits to ending the handshake
			// with one octet 0x00 of application data; the peer waits for
			// it before it may take EAP-Success.
			if e.server {
				_, err = e.conn.Write([]byte{0})
			} else {
				var b [1]byte
				if _, err = io.ReadFull(e.conn, b[:]); err == nil && b[0] != 0 {
					err = errors.New("tls 1.3 commitment message is not 0x00")
				}
			}
		}
		if err == nil {
			key, err = exportMSK(&cs, e.tls13)
		}
	}
	e.mu.Lock()
	e.finished = true
	e.err = err
	e.key = key
	e.cond.Broadcast()
	e.mu.Unlock()
}

// exportMSK derives the EAP-TLS MSK (first 64 octets of 128 of key
// material; the rest would be the EMSK, which IKE does not use).
func exportMSK(cs *tls.ConnectionState, k TLS13Key) ([]byte, error) {
	label, context := "client EAP encryption", []byte(nil) // RFC 5216 2.3
	if cs.Version == tls.VersionTLS13 && k == TLS13KeyRFC9190 {
		label, context = "EXPORTER_EAP_TLS_Key_Material", []byte{byte(TypeTLS)} // RFC 9190 2.3
	}
	km, err := cs.ExportKeyingMaterial(label, context, 2*MSKLen)
	if err != nil {
		// crypto/tls refuses TLS 1.2 without Extended Master Secret
		// (RFC 7627) unless GODEBUG=tlsunsafeekm=1.
		return nil, fmt.Errorf("eap: EAP-TLS key export: %w", err)
	}
	msk := append([]byte(nil), km[:MSKLen]...)
	wipe(km)
	return msk, nil
}

// close stops the goroutine and waits for it.
func (e *tlsEngine) close() {
	e.mu.Lock()
	e.closed = true
	started := e.started
	wipe(e.key)
	e.key = nil
	e.cond.Broadcast()
	e.mu.Unlock()
	if started {
		<-e.exited
	}
}

func (e *tlsEngine) msk() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.finished || e.err != nil {
		return nil
	}
	return e.key
}

// engineConn is the net.Conn crypto/tls reads and writes.
type engineConn struct{ e *tlsEngine }

func (c engineConn) Read(p []byte) (int, error) {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.in) == 0 && !e.closed {
		e.waiting = true
		e.cond.Broadcast()
		e.cond.Wait()
	}
	e.waiting = false
	if e.closed {
		return 0, io.EOF
	}
	n := copy(p, e.in)
	e.in = e.in[n:]
	return n, nil
}

func (c engineConn) Write(p []byte) (int, error) {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, net.ErrClosed
	}
	if len(e.out)+len(p) > MaxTLSMessage {
		return 0, ErrTooLarge
	}
	e.out = append(e.out, p...)
	return len(p), nil
}

func (c engineConn) Close() error {
	c.e.mu.Lock()
	c.e.closed = true
	c.e.cond.Broadcast()
	c.e.mu.Unlock()
	return nil
}

type eapAddr struct{}

func (eapAddr) Network() string { return "eap" }
func (eapAddr) String() string  { return "eap" }

func (engineConn) LocalAddr() net.Addr              { return eapAddr{} }
func (engineConn) RemoteAddr() net.Addr             { return eapAddr{} }
func (engineConn) SetDeadline(time.Time) error      { return nil }
func (engineConn) SetReadDeadline(time.Time) error  { return nil }
func (engineConn) SetWriteDeadline(time.Time) error { return nil }

// NewTLSServer authenticates the peer with EAP-TLS (RFC 5216; RFC 9190 for
// TLS 1.3). config needs the server's certificate and ClientCAs: the peer
// must present a certificate that verifies against them (ClientAuth is
// forced to RequireAndVerifyClientCert). TLS versions below 1.2 are refused
// and session tickets disabled. config is cloned; opts may be nil.
//
// With TLS 1.2 the MSK needs the Extended Master Secret (RFC 7627): Go's
// crypto/tls refuses to export keys without it unless the binary runs with
// GODEBUG=tlsunsafeekm=1, which peers lacking the extension require.
func NewTLSServer(config *tls.Config, opts *TLSOptions) (Server, error) {
	if config == nil {
		return nil, errors.New("eap: EAP-TLS server without tls.Config")
	}
	if len(config.Certificates) == 0 && config.GetCertificate == nil {
		return nil, errors.New("eap: EAP-TLS server without a certificate")
	}
	if config.ClientCAs == nil {
		return nil, errors.New("eap: EAP-TLS server without ClientCAs to verify peers")
	}
	frag, err := opts.fragmentSize()
	if err != nil {
		return nil, err
	}
	c := config.Clone()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	c.SessionTicketsDisabled = true
	return newServer(&tlsServer{
		engine: newTLSEngine(c, true, opts.tls13Key()),
		f:      tlsFramer{frag: frag},
	}), nil
}

// PeerCertificate returns the verified leaf certificate the peer presented
// in an EAP-TLS method of s, once s succeeded; nil otherwise. The
// EAP-Identity a chain reports is what the peer claimed, not what it
// proved: bind the two here (RFC 5216 5.2) before using either for policy.
func PeerCertificate(s Server) *x509.Certificate {
	srv, ok := s.(*server)
	if !ok || !srv.ok {
		return nil
	}
	for _, m := range srv.methods {
		if t, ok := m.(*tlsServer); ok && t.leaf != nil {
			return t.leaf
		}
	}
	return nil
}

type tlsServer struct {
	leaf   *x509.Certificate // verified peer certificate, after success
	engine *tlsEngine
	f      tlsFramer
	got    bool // the peer's first message arrived
}

func (*tlsServer) methodType() Type { return TypeTLS }
func (m *tlsServer) maxRounds() int { return tlsMaxRounds(m.f.frag) }
func (m *tlsServer) msk() []byte    { return m.engine.msk() }
func (*tlsServer) identity() string { return "" }
func (m *tlsServer) close()         { m.engine.close() }
func (*tlsServer) start(uint8) ([]byte, error) {
	return []byte{tlsFlagS}, nil // RFC 5216 2.1.1: EAP-TLS Start, no data
}

func (m *tlsServer) handle(data []byte, _ uint8) ([]byte, bool, error) {
	if len(data) < 1 {
		return nil, false, fmt.Errorf("%w: EAP-TLS without flags", ErrMalformed)
	}
	if data[0]&tlsFlagS != 0 {
		return nil, false, fmt.Errorf("%w: EAP-TLS Start from the peer", ErrUnexpected)
	}
	if m.f.sending() {
		if !isAck(data) {
			return nil, false, fmt.Errorf("%w: EAP-TLS data while the peer owes an acknowledgement", ErrUnexpected)
		}
		return m.f.nextFragment(), false, nil
	}
	if isAck(data) {
		// The peer acknowledges our last flight. RFC 5216 2.1.1 (TLS 1.2:
		// after our Finished) and RFC 9190 2.1.1 (TLS 1.3: after the
		// commitment message): then EAP-Success.
		if !m.got {
			return nil, false, fmt.Errorf("%w: EAP-TLS acknowledgement of Start", ErrUnexpected)
		}
		out, fin, err := m.engine.feed(nil)
		if fin && err == nil && len(out) == 0 {
			if chains := m.engine.conn.ConnectionState().VerifiedChains; len(chains) > 0 && len(chains[0]) > 0 {
				m.leaf = chains[0][0]
			}
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("%w: EAP-TLS acknowledgement before the handshake completed", ErrUnexpected)
	}
	msg, more, err := m.f.receive(data)
	if err != nil {
		return nil, false, err
	}
	if more {
		return []byte{0}, false, nil // acknowledge the fragment
	}
	m.got = true
	out, fin, err := m.engine.feed(msg)
	if err != nil {
		return nil, false, fmt.Errorf("%w: EAP-TLS: %v", ErrAuthFailed, err)
	}
	if len(out) == 0 {
		if fin {
			return nil, false, fmt.Errorf("%w: EAP-TLS handshake ended without a final flight", ErrUnexpected)
		}
		return nil, false, fmt.Errorf("%w: EAP-TLS peer message left TLS wanting more", ErrUnexpected)
	}
	m.f.setOut(out)
	return m.f.nextFragment(), false, nil
}

// NewTLSClient answers EAP-Identity with identity and authenticates with
// EAP-TLS: config must hold the client certificate (Certificates or
// GetClientCertificate) and what verifies the server (RootCAs and
// ServerName, or a VerifyConnection with InsecureSkipVerify). TLS versions
// below 1.2 are refused. config is cloned; opts may be nil.
func NewTLSClient(identity string, config *tls.Config, opts *TLSOptions) (Client, error) {
	if err := checkIdentity([]byte(identity)); err != nil {
		return nil, fmt.Errorf("eap: EAP-TLS identity: %w", err)
	}
	if config == nil {
		return nil, errors.New("eap: EAP-TLS client without tls.Config")
	}
	if len(config.Certificates) == 0 && config.GetClientCertificate == nil {
		return nil, errors.New("eap: EAP-TLS client without a certificate")
	}
	if config.ServerName == "" && !config.InsecureSkipVerify {
		return nil, errors.New("eap: EAP-TLS client without ServerName to verify the server")
	}
	if config.InsecureSkipVerify && config.VerifyConnection == nil && config.VerifyPeerCertificate == nil {
		return nil, errors.New("eap: EAP-TLS client would not verify the server")
	}
	frag, err := opts.fragmentSize()
	if err != nil {
		return nil, err
	}
	c := config.Clone()
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	return newClient(identity, &tlsClient{
		engine: newTLSEngine(c, false, opts.tls13Key()),
		f:      tlsFramer{frag: frag},
	}), nil
}

type tlsClient struct {
	engine  *tlsEngine
	f       tlsFramer
	started bool
	fin     bool
}

func (*tlsClient) methodType() Type { return TypeTLS }
func (m *tlsClient) maxRounds() int { return tlsMaxRounds(m.f.frag) }
func (m *tlsClient) msk() []byte    { return m.engine.msk() }
func (m *tlsClient) close()         { m.engine.close() }

// succeeded: the handshake (and for TLS 1.3 the commitment message) is
// done, keys are derived and our last flight went out completely.
func (m *tlsClient) succeeded() bool {
	return m.fin && !m.f.sending() && m.engine.msk() != nil
}

func (m *tlsClient) handle(data []byte, _ uint8) ([]byte, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("%w: EAP-TLS without flags", ErrMalformed)
	}
	var msg []byte
	switch {
	case !m.started:
		// RFC 5216 2.1.1: the conversation opens with a Start request.
		if data[0]&tlsFlagS == 0 {
			return nil, fmt.Errorf("%w: EAP-TLS request before Start", ErrUnexpected)
		}
		m.started = true
	case data[0]&tlsFlagS != 0:
		return nil, fmt.Errorf("%w: second EAP-TLS Start", ErrUnexpected)
	case m.f.sending():
		if !isAck(data) {
			return nil, fmt.Errorf("%w: EAP-TLS data while the server owes an acknowledgement", ErrUnexpected)
		}
		return m.f.nextFragment(), nil
	case isAck(data):
		return nil, fmt.Errorf("%w: EAP-TLS acknowledgement with nothing sent", ErrUnexpected)
	default:
		var more bool
		var err error
		msg, more, err = m.f.receive(data)
		if err != nil {
			return nil, err
		}
		if more {
			return []byte{0}, nil
		}
		if m.fin {
			return nil, fmt.Errorf("%w: EAP-TLS data after the handshake", ErrUnexpected)
		}
	}
	out, fin, err := m.engine.feed(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: EAP-TLS: %v", ErrAuthFailed, err)
	}
	m.fin = fin
	if len(out) > 0 {
		m.f.setOut(out)
		return m.f.nextFragment(), nil
	}
	if !fin {
		return nil, fmt.Errorf("%w: EAP-TLS server message left TLS wanting more", ErrUnexpected)
	}
	// Handshake done and nothing to send: acknowledge, the server answers
	// with EAP-Success (RFC 5216 2.1.1, RFC 9190 2.1.1).
	return []byte{0}, nil
}
