package eap

import (
	"crypto/des"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/md4"
)

// MS-CHAPv2 opcodes (draft-kamath-pppext-eap-mschapv2-01 2, RFC 2759 3-6).
const (
	mschapChallenge = 1
	mschapResponse  = 2
	mschapSuccess   = 3
	mschapFailure   = 4
)

const (
	mschapHeaderLen    = 4  // OpCode, MS-CHAPv2-ID, MS-Length
	mschapChallengeLen = 16 // RFC 2759 3
	mschapResponseLen  = 49 // RFC 2759 4: Peer-Challenge, Reserved, NT-Response, Flags
	authResponseLen    = 42 // "S=" and 40 hex digits, RFC 2759 5
	maxPasswordRunes   = 256
	mschapServerName   = "esptun"
	errAuthFailure     = 691 // ERROR_AUTHENTICATION_FAILURE
)

// Magic constants of RFC 2759 8.7 and RFC 3079 3.4.
var (
	mschapMagic1 = []byte("Magic server to client signing constant")
	mschapMagic2 = []byte("Pad to make it do more than one iteration")
	mppeMagic1   = []byte("This is the MPPE Master Key")
	mppeMagic2   = []byte("On the client side, this is the send key; on the server side, it is the receive key.")
	mppeMagic3   = []byte("On the client side, this is the receive key; on the server side, it is the send key.")
	shsPad1      = make([]byte, 40)
	shsPad2      = []byte(strings.Repeat("\xf2", 40))
)

// ntPasswordHash is RFC 2759 8.3 NtPasswordHash: MD4 over the password in
// UTF-16LE. password is UTF-8 and at most 256 characters (RFC 2759 4).
func ntPasswordHash(password []byte) ([16]byte, error) {
	var h [16]byte
	if utf8.RuneCount(password) > maxPasswordRunes {
		return h, errors.New("eap: MS-CHAPv2 password longer than 256 characters")
	}
	u := make([]byte, 0, 2*len(password))
	for b := password; len(b) > 0; {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			wipe(u)
			return h, errors.New("eap: MS-CHAPv2 password is not UTF-8")
		}
		b = b[n:]
		if r >= 0x10000 { // UTF-16 surrogate pair
			r -= 0x10000
			u = binary.LittleEndian.AppendUint16(u, uint16(0xd800+(r>>10)))
			u = binary.LittleEndian.AppendUint16(u, uint16(0xdc00+(r&0x3ff)))
			continue
		}
		u = binary.LittleEndian.AppendUint16(u, uint16(r))
	}
	d := md4.New()
	d.Write(u)
	d.Sum(h[:0])
	wipe(u)
	return h, nil
}

// hashNTPasswordHash is RFC 2759 8.4.
func hashNTPasswordHash(h [16]byte) [16]byte {
	var hh [16]byte
	d := md4.New()
	d.Write(h[:])
	d.Sum(hh[:0])
	return hh
}

// mschapUsername strips a "DOMAIN\" prefix: RFC 2759 8.2 hashes the user
// name without the domain.
func mschapUsername(name string) string {
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// challengeHash is RFC 2759 8.2.
func challengeHash(peer, auth [16]byte, username string) [8]byte {
	d := sha1.New()
	d.Write(peer[:])
	d.Write(auth[:])
	d.Write([]byte(mschapUsername(username)))
	var sum [sha1.Size]byte
	d.Sum(sum[:0])
	return [8]byte(sum[:8])
}

// desEncrypt is RFC 2759 8.6: DES-ECB of one block with a 7-octet key
// spread over 8 octets (parity bits are ignored by crypto/des).
func desEncrypt(key7 []byte, clear [8]byte) [8]byte {
	var k56 uint64
	for _, b := range key7[:7] {
		k56 = k56<<8 | uint64(b)
	}
	var key [8]byte
	for i := range key {
		key[i] = byte(k56>>(49-7*uint(i))) << 1
	}
	c, _ := des.NewCipher(key[:]) // 8-octet key: cannot fail
	var out [8]byte
	c.Encrypt(out[:], clear[:])
	return out
}

// challengeResponse is RFC 2759 8.5.
func challengeResponse(ch [8]byte, pwHash [16]byte) [24]byte {
	var z [21]byte
	copy(z[:], pwHash[:])
	var r [24]byte
	for i := 0; i < 3; i++ {
		b := desEncrypt(z[7*i:7*i+7], ch)
		copy(r[8*i:], b[:])
	}
	return r
}

// generateNTResponse is RFC 2759 8.1.
func generateNTResponse(auth, peer [16]byte, username string, pwHash [16]byte) [24]byte {
	return challengeResponse(challengeHash(peer, auth, username), pwHash)
}

// generateAuthenticatorResponse is RFC 2759 8.7 (the 20 octets behind
// "S=").
func generateAuthenticatorResponse(pwHash [16]byte, nt [24]byte, peer, auth [16]byte, username string) [20]byte {
	hh := hashNTPasswordHash(pwHash)
	d := sha1.New()
	d.Write(hh[:])
	d.Write(nt[:])
	d.Write(mschapMagic1)
	digest := d.Sum(nil)
	ch := challengeHash(peer, auth, username)
	d.Reset()
	d.Write(digest)
	d.Write(ch[:])
	d.Write(mschapMagic2)
	var out [20]byte
	d.Sum(out[:0])
	return out
}

// mppeMasterKey is RFC 3079 3.4 GetMasterKey.
func mppeMasterKey(pwHashHash [16]byte, nt [24]byte) [16]byte {
	d := sha1.New()
	d.Write(pwHashHash[:])
	d.Write(nt[:])
	d.Write(mppeMagic1)
	var sum [sha1.Size]byte
	d.Sum(sum[:0])
	return [16]byte(sum[:16])
}

// mppeStartKey is RFC 3079 3.4 GetAsymmetricStartKey for a 128-bit key,
// given the magic the role and direction select.
func mppeStartKey(master [16]byte, magic []byte) [16]byte {
	d := sha1.New()
	d.Write(master[:])
	d.Write(shsPad1)
	d.Write(magic)
	d.Write(shsPad2)
	var sum [sha1.Size]byte
	d.Sum(sum[:0])
	return [16]byte(sum[:16])
}

// mschapMSK derives the EAP-MSCHAPv2 MSK as Windows ([MS-CHAP] 3.1.5.1)
// and strongSwan (eap_mschapv2.c GenerateMSK) do: the authenticator's
// MasterReceiveKey (Magic2), its MasterSendKey (Magic3), 32 zero octets.
// Both sides compute the same 64 octets.
func mschapMSK(pwHash [16]byte, nt [24]byte) []byte {
	master := mppeMasterKey(hashNTPasswordHash(pwHash), nt)
	recv := mppeStartKey(master, mppeMagic2)
	send := mppeStartKey(master, mppeMagic3)
	msk := make([]byte, MSKLen)
	copy(msk, recv[:])
	copy(msk[16:], send[:])
	wipe(master[:])
	return msk
}

// mschapPacket builds OpCode, MS-CHAPv2-ID, MS-Length and body. MS-Length
// covers the whole MS-CHAPv2 packet from OpCode on, that is EAP Length - 5.
func mschapPacket(op, msID uint8, body ...[]byte) []byte {
	n := mschapHeaderLen
	for _, b := range body {
		n += len(b)
	}
	out := make([]byte, mschapHeaderLen, n)
	out[0], out[1] = op, msID
	binary.BigEndian.PutUint16(out[2:], uint16(n))
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// checkMSCHAPHeader validates the MS-Length of a full-header packet.
func checkMSCHAPHeader(data []byte, min int) error {
	if len(data) < mschapHeaderLen+min {
		return fmt.Errorf("%w: MS-CHAPv2 opcode %d in %d octets", ErrMalformed, data[0], len(data))
	}
	if n := int(binary.BigEndian.Uint16(data[2:4])); n != len(data) {
		return fmt.Errorf("%w: MS-Length %d, packet %d", ErrMalformed, n, len(data))
	}
	return nil
}

// NewMSCHAPv2Server authenticates the peer with EAP-MSCHAPv2. lookup
// returns the cleartext password (UTF-8) for the MS-CHAPv2 Name the peer
// sends, as written (with any "DOMAIN\" prefix); the slice is neither
// retained nor modified. An unknown user and a wrong password fail alike,
// with EAP-Failure and no retry (as strongSwan after its retries, and what
// Windows clients handle best).
func NewMSCHAPv2Server(lookup func(user string) (password []byte, ok bool)) Server {
	return newServer(&mschapServer{lookup: lookup})
}

type mschapServer struct {
	lookup func(string) ([]byte, bool)

	msID      uint8
	auth      [16]byte
	sentOK    bool
	name      string
	key       []byte
	succeeded bool
}

func (*mschapServer) methodType() Type { return TypeMSCHAPv2 }
func (*mschapServer) maxRounds() int   { return 2 }

func (m *mschapServer) start(id uint8) ([]byte, error) {
	rand.Read(m.auth[:])
	// The MS-CHAPv2-ID follows the EAP Identifier of the Challenge and
	// stays for the Success request (draft-kamath 2).
	m.msID = id
	return mschapPacket(mschapChallenge, m.msID, []byte{mschapChallengeLen}, m.auth[:], []byte(mschapServerName)), nil
}

func (m *mschapServer) handle(data []byte, _ uint8) ([]byte, bool, error) {
	if len(data) < 1 {
		return nil, false, fmt.Errorf("%w: empty MS-CHAPv2 packet", ErrMalformed)
	}
	if !m.sentOK {
		if data[0] != mschapResponse {
			return nil, false, fmt.Errorf("%w: MS-CHAPv2 opcode %d, want Response", ErrUnexpected, data[0])
		}
		return m.handleResponse(data)
	}
	// RFC 2759 / draft-kamath: the peer acknowledges our Success request
	// with a one-octet Success response.
	if len(data) != 1 || data[0] != mschapSuccess {
		return nil, false, fmt.Errorf("%w: MS-CHAPv2 opcode %d after Success request", ErrUnexpected, data[0])
	}
	m.succeeded = true
	return nil, true, nil
}

func (m *mschapServer) handleResponse(data []byte) ([]byte, bool, error) {
	if err := checkMSCHAPHeader(data, 1+mschapResponseLen); err != nil {
		return nil, false, err
	}
	if data[1] != m.msID {
		return nil, false, fmt.Errorf("%w: MS-CHAPv2-ID %d, challenge had %d", ErrIdentifier, data[1], m.msID)
	}
	if data[4] != mschapResponseLen {
		return nil, false, fmt.Errorf("%w: MS-CHAPv2 Value-Size %d", ErrMalformed, data[4])
	}
	v := data[5 : 5+mschapResponseLen]
	name := data[5+mschapResponseLen:]
	if err := checkIdentity(name); err != nil {
		return nil, false, err
	}
	peer := [16]byte(v[0:16])
	nt := [24]byte(v[24:48])

	pw, ok := m.lookup(string(name))
	if !ok {
		return nil, false, fmt.Errorf("%w: EAP-MSCHAPv2 for %q", ErrAuthFailed, name)
	}
	pwHash, err := ntPasswordHash(pw)
	if err != nil {
		return nil, false, fmt.Errorf("%w: EAP-MSCHAPv2 for %q: %v", ErrAuthFailed, name, err)
	}
	defer wipe(pwHash[:])
	want := generateNTResponse(m.auth, peer, string(name), pwHash)
	if subtle.ConstantTimeCompare(want[:], nt[:]) != 1 {
		return nil, false, fmt.Errorf("%w: EAP-MSCHAPv2 for %q: wrong NT-Response", ErrAuthFailed, name)
	}
	ar := generateAuthenticatorResponse(pwHash, nt, peer, m.auth, string(name))
	m.key = mschapMSK(pwHash, nt)
	m.name = string(name)
	m.sentOK = true
	// RFC 2759 5: "S=<auth_string> M=<message>", hex in upper case.
	msg := "S=" + strings.ToUpper(hex.EncodeToString(ar[:])) + " M=Welcome to esptun"
	return mschapPacket(mschapSuccess, m.msID, []byte(msg)), false, nil
}

func (m *mschapServer) msk() []byte {
	if !m.succeeded {
		return nil
	}
	return m.key
}

func (m *mschapServer) identity() string {
	if !m.succeeded {
		return ""
	}
	return m.name
}

func (m *mschapServer) close() {
	wipe(m.key)
	m.key = nil
	m.succeeded = false
}

// MSCHAPv2Error is the content of an MS-CHAPv2 Failure request (RFC 2759
// 6): "E=eeeeeeeeee R=r C=cccc... V=vvvvvvvvvv M=<msg>". It wraps
// ErrFailure.
type MSCHAPv2Error struct {
	Code    int    // E=, for example 691 (authentication failure)
	Retry   bool   // R=1
	Message string // M=, sanitised to printable ASCII
}

func (e *MSCHAPv2Error) Error() string {
	s := "eap: server sent MS-CHAPv2 failure E=" + strconv.Itoa(e.Code)
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	return s
}

func (e *MSCHAPv2Error) Unwrap() error { return ErrFailure }

// parseMSCHAPFailure reads the fields of a Failure request it knows.
func parseMSCHAPFailure(msg []byte) *MSCHAPv2Error {
	e := &MSCHAPv2Error{}
	s := string(msg)
	if i := strings.Index(s, "M="); i >= 0 {
		e.Message = sanitize(s[i+2:], 64)
		s = s[:i]
	}
	for _, f := range strings.Fields(s) {
		switch {
		case strings.HasPrefix(f, "E="):
			e.Code, _ = strconv.Atoi(f[2:])
		case f == "R=1":
			e.Retry = true
		}
	}
	return e
}

// sanitize keeps printable ASCII of attacker-controlled text, bounded, so
// it is safe in logs.
func sanitize(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// NewMSCHAPv2Client answers EAP-Identity with user and EAP-MSCHAPv2 with
// user and password (UTF-8, at most 256 characters). It keeps only the NT
// password hash, not password, and verifies the server's authenticator
// response (RFC 2759 5) before it accepts EAP-Success.
func NewMSCHAPv2Client(user string, password []byte) (Client, error) {
	if err := checkIdentity([]byte(user)); err != nil {
		return nil, fmt.Errorf("eap: MS-CHAPv2 user: %w", err)
	}
	h, err := ntPasswordHash(password)
	if err != nil {
		return nil, err
	}
	return newClient(user, &mschapClient{user: user, pwHash: h}), nil
}

type mschapClientState uint8

const (
	mschapWaitChallenge mschapClientState = iota
	mschapWaitSuccess
	mschapDone
)

type mschapClient struct {
	user   string
	pwHash [16]byte
	state  mschapClientState
	ar     [20]byte
	key    []byte
}

func (*mschapClient) methodType() Type { return TypeMSCHAPv2 }
func (*mschapClient) maxRounds() int   { return 2 }

func (m *mschapClient) handle(data []byte, _ uint8) ([]byte, error) {
	if len(data) < 1 {
		return nil, fmt.Errorf("%w: empty MS-CHAPv2 packet", ErrMalformed)
	}
	switch {
	case data[0] == mschapChallenge && m.state == mschapWaitChallenge:
		return m.handleChallenge(data)
	case data[0] == mschapSuccess && m.state == mschapWaitSuccess:
		return m.handleSuccess(data)
	case data[0] == mschapFailure:
		if err := checkMSCHAPHeader(data, 0); err != nil {
			return nil, err
		}
		return nil, parseMSCHAPFailure(data[mschapHeaderLen:])
	}
	return nil, fmt.Errorf("%w: MS-CHAPv2 opcode %d in state %d", ErrUnexpected, data[0], m.state)
}

func (m *mschapClient) handleChallenge(data []byte) ([]byte, error) {
	if err := checkMSCHAPHeader(data, 1+mschapChallengeLen); err != nil {
		return nil, err
	}
	if data[4] != mschapChallengeLen {
		return nil, fmt.Errorf("%w: MS-CHAPv2 Value-Size %d", ErrMalformed, data[4])
	}
	msID := data[1]
	auth := [16]byte(data[5:21])
	var peer [16]byte
	rand.Read(peer[:])
	nt := generateNTResponse(auth, peer, m.user, m.pwHash)
	m.ar = generateAuthenticatorResponse(m.pwHash, nt, peer, auth, m.user)
	m.key = mschapMSK(m.pwHash, nt)
	m.state = mschapWaitSuccess
	var v [mschapResponseLen]byte // Peer-Challenge, 8 reserved, NT-Response, Flags 0
	copy(v[0:16], peer[:])
	copy(v[24:48], nt[:])
	return mschapPacket(mschapResponse, msID, []byte{mschapResponseLen}, v[:], []byte(m.user)), nil
}

func (m *mschapClient) handleSuccess(data []byte) ([]byte, error) {
	// strongSwan counts a trailing NUL into the message; only the
	// "S=" + 40 hex digits prefix matters.
	if err := checkMSCHAPHeader(data, authResponseLen); err != nil {
		return nil, err
	}
	s := data[mschapHeaderLen : mschapHeaderLen+authResponseLen]
	var got [20]byte
	if s[0] != 'S' || s[1] != '=' {
		return nil, fmt.Errorf("%w: MS-CHAPv2 success without S=", ErrMalformed)
	}
	if _, err := hex.Decode(got[:], s[2:]); err != nil {
		return nil, fmt.Errorf("%w: MS-CHAPv2 authenticator response is not hex", ErrMalformed)
	}
	// RFC 2759 5: the server proves it knows the password too.
	if subtle.ConstantTimeCompare(got[:], m.ar[:]) != 1 {
		return nil, fmt.Errorf("%w: server's MS-CHAPv2 authenticator response is wrong", ErrAuthFailed)
	}
	m.state = mschapDone
	return []byte{mschapSuccess}, nil
}

func (m *mschapClient) succeeded() bool { return m.state == mschapDone }

func (m *mschapClient) msk() []byte {
	if m.state != mschapDone {
		return nil
	}
	return m.key
}

func (m *mschapClient) close() {
	wipe(m.key)
	wipe(m.pwHash[:])
	m.key = nil
}
