package wire

import (
	"iter"
	"strings"
)

// Message is an IKE message: the header and its cleartext payload chain. In
// a protected message the chain ends with an *Encrypted (or
// *EncryptedFragment) whose contents DecryptSK (or a Reassembler) yields.
type Message struct {
	Header
	Payloads []Payload
}

// Parse decodes a whole IKE message, b being exactly one UDP datagram (after
// any non-ESP marker) or one stream-framed message. The header Length must
// equal len(b), the payload chain must end exactly at the end of b, and an
// SK or SKF payload must be the last one; it is kept raw.
//
// The result aliases b: the caller must not modify b while it uses the
// Message, and DecryptSK decrypts in place inside b. Errors match
// ErrInvalidSyntax or ErrInvalidMajorVersion, or are an
// *UnsupportedCriticalPayloadError.
func Parse(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if int64(h.Length) != int64(len(b)) {
		return nil, errSyntax(PayloadNone, "header length differs from message length")
	}
	ps, err := parseChain(h.NextPayload, b[HeaderLen:], true)
	if err != nil {
		return nil, err
	}
	return &Message{Header: h, Payloads: ps}, nil
}

// ParsePayloads decodes a payload chain whose first payload has type first,
// such as the decrypted contents of an SK payload. The chain must end
// exactly at the end of b and must not contain SK or SKF payloads. The
// result aliases b.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	return parseChain(first, b, false)
}

// walkChain checks the generic headers of the chain starting with type t and
// returns the number of payloads.
func walkChain(t PayloadType, b []byte, outer bool) (int, error) {
	n := 0
	for t != PayloadNone {
		if len(b) < GenericHeaderLen {
			return 0, errSyntax(t, "payload chain overruns message")
		}
		l := int(be16(b[2:]))
		if l < GenericHeaderLen || l > len(b) {
			return 0, errSyntax(t, "bad payload length")
		}
		n++
		if t == PayloadSK || t == PayloadSKF {
			if !outer {
				return 0, errSyntax(t, "encrypted payload inside encrypted payload")
			}
			// RFC 7296 3.14, RFC 7383 2.5: the Encrypted (Fragment)
			// payload is the last one; its Next Payload field names the
			// first inner payload.
			if l != len(b) {
				return 0, errSyntax(t, "encrypted payload is not last")
			}
			return n, nil
		}
		t = PayloadType(b[0])
		b = b[l:]
	}
	if len(b) != 0 {
		return 0, errSyntax(PayloadNone, "trailing octets after last payload")
	}
	return n, nil
}

func parseChain(t PayloadType, b []byte, outer bool) ([]Payload, error) {
	n, err := walkChain(t, b, outer)
	if err != nil || n == 0 {
		return nil, err
	}
	ps := make([]Payload, 0, n)
	for range n {
		l := int(be16(b[2:]))
		next := PayloadType(b[0])
		critical := b[1]&0x80 != 0 // the other 7 bits are RESERVED, ignored
		p, err := decodeBody(t, critical, next, b[GenericHeaderLen:l:l])
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
		t = next
		b = b[l:]
	}
	return ps, nil
}

// Encode encodes m as a cleartext message, such as an IKE_SA_INIT exchange
// or one whose last payload is an already encrypted *Encrypted. It computes
// the header's Next Payload and Length and every payload's Next Payload and
// Payload Length; m.Header.NextPayload and m.Header.Length are ignored and m
// is not modified. The result is a new buffer of exactly the message length.
func (m *Message) Encode() ([]byte, error) {
	if err := m.Header.checkEncode(); err != nil {
		return nil, err
	}
	n, err := chainLen(m.Payloads, true)
	if err != nil {
		return nil, err
	}
	b := make([]byte, HeaderLen, HeaderLen+n)
	m.Header.put(b, firstType(m.Payloads), HeaderLen+n)
	return appendChain(b, m.Payloads)
}

// EncodePayloads encodes a payload chain for the inside of an SK payload and
// returns the type of its first payload (PayloadNone for an empty chain).
// SK and SKF payloads are not allowed in it.
func EncodePayloads(ps []Payload) (first PayloadType, body []byte, err error) {
	n, err := chainLen(ps, false)
	if err != nil {
		return PayloadNone, nil, err
	}
	body, err = appendChain(make([]byte, 0, n), ps)
	if err != nil {
		return PayloadNone, nil, err
	}
	return firstType(ps), body, nil
}

func firstType(ps []Payload) PayloadType {
	if len(ps) == 0 {
		return PayloadNone
	}
	return ps[0].Type()
}

// chainLen returns the encoded length of ps and checks where SK and SKF may
// appear.
func chainLen(ps []Payload, outer bool) (int, error) {
	n := 0
	for i, p := range ps {
		if p == nil {
			return 0, errEncode("nil payload")
		}
		switch p.(type) {
		case *Encrypted, *EncryptedFragment:
			if !outer || i != len(ps)-1 {
				return 0, errEncode("encrypted payload must be the last outer payload")
			}
		}
		l := GenericHeaderLen + p.bodyLen()
		if l > MaxPayloadLen {
			return 0, errEncode(p.Type().String() + " payload too long")
		}
		n += l
	}
	return n, nil
}

// appendChain appends ps, already checked by chainLen.
func appendChain(b []byte, ps []Payload) ([]byte, error) {
	for i, p := range ps {
		next := PayloadNone
		switch p := p.(type) {
		case *Encrypted:
			next = p.NextPayload
		case *EncryptedFragment:
			next = p.NextPayload
		default:
			if i+1 < len(ps) {
				next = ps[i+1].Type()
			}
		}
		var c byte
		if p.CriticalBit() {
			c = 0x80
		}
		start := len(b)
		b = append(b, byte(next), c, 0, 0)
		var err error
		if b, err = p.appendBody(b); err != nil {
			return nil, err
		}
		l := len(b) - start
		b[start+2], b[start+3] = byte(l>>8), byte(l)
	}
	return b, nil
}

// Get returns the first payload of type t in ps, or nil.
func Get(ps []Payload, t PayloadType) Payload {
	for _, p := range ps {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// Find returns the first payload of concrete type T (for example *SA) in
// ps.
func Find[T Payload](ps []Payload) (T, bool) {
	for _, p := range ps {
		if v, ok := p.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// All yields the payloads of concrete type T in ps, in order.
func All[T Payload](ps []Payload) iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, p := range ps {
			if v, ok := p.(T); ok && !yield(v) {
				return
			}
		}
	}
}

// GetNotify returns the first Notify payload of type t in ps, or nil.
func GetNotify(ps []Payload, t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// FirstError returns the first Notify payload in ps whose type is an error
// type (RFC 7296 3.10.1), or nil.
func FirstError(ps []Payload) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType.IsError() {
			return n
		}
	}
	return nil
}

// Get returns the first payload of type t in m.Payloads, or nil.
func (m *Message) Get(t PayloadType) Payload { return Get(m.Payloads, t) }

// GetNotify returns the first Notify payload of type t in m.Payloads, or nil.
func (m *Message) GetNotify(t NotifyType) *Notify { return GetNotify(m.Payloads, t) }

// String summarises m for logs, naming payloads in the style of strongSwan:
// "IKE_SA_INIT request 0 [ SA KE No N(NAT_DETECTION_SOURCE_IP) ]". It prints
// no payload contents.
func (m *Message) String() string {
	return m.Header.String() + " " + PayloadsString(m.Payloads)
}

// PayloadsString summarises a payload chain for logs; see Message.String.
func PayloadsString(ps []Payload) string {
	var sb strings.Builder
	sb.WriteString("[")
	for _, p := range ps {
		sb.WriteString(" ")
		switch p := p.(type) {
		case *Notify:
			sb.WriteString("N(" + p.NotifyType.String() + ")")
		case *EncryptedFragment:
			sb.WriteString("SKF(")
			sb.WriteString(itoa(int(p.FragmentNumber)) + "/" + itoa(int(p.TotalFragments)) + ")")
		case *EAP:
			sb.WriteString("EAP")
			if m, ok := p.Method(); ok {
				sb.WriteString("/" + itoa(int(m)))
			}
		default:
			sb.WriteString(p.Type().String())
		}
	}
	sb.WriteString(" ]")
	return sb.String()
}
