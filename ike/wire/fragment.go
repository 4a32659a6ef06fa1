package wire

import (
	"encoding/binary"
	"fmt"
)

// Fragment encodes inner as an IKE message split into Encrypted Fragment
// payloads (RFC 7383 2.5), one message per fragment, each at most maxSize
// octets including the IKE header (RFC 7383 2.5.1: maxSize is the IKE
// message size the path takes, without IP and UDP headers). Every fragment
// carries h (NextPayload and Length computed), is padded and encrypted on
// its own by c, and has the same Total Fragments; only fragment 1 carries
// the first inner payload's type. An empty chain gives one fragment.
//
// The returned messages share one backing array. maxSize too small for one
// octet of content per fragment, or more than 65535 fragments, is ErrEncode.
func Fragment(h Header, inner []Payload, c SKCipher, maxSize int) ([][]byte, error) {
	if err := h.checkEncode(); err != nil {
		return nil, err
	}
	first, content, err := EncodePayloads(inner)
	if err != nil {
		return nil, err
	}
	ivLen, icvLen, bs := c.IVLen(), c.ICVLen(), blockSize(c)
	if maxSize > HeaderLen+MaxPayloadLen {
		maxSize = HeaderLen + MaxPayloadLen
	}
	// Largest padded plaintext per fragment, then content octets per
	// fragment (one octet is the Pad Length).
	room := (maxSize - skfPrefixLen - ivLen - icvLen) / bs * bs
	per := room - 1
	if per < 1 || ivLen < 0 || icvLen < 0 {
		return nil, errEncode("fragment size too small for the cipher")
	}
	total := (len(content) + per - 1) / per
	if total == 0 {
		total = 1
	}
	if total > 0xffff {
		return nil, errEncode("more than 65535 fragments")
	}
	// Size every fragment, then allocate once.
	size := 0
	for i := range total {
		size += fragmentLen(len(chunk(content, per, i)), ivLen, icvLen, bs)
	}
	buf := make([]byte, size)
	out := make([][]byte, total)
	for i := range total {
		part := chunk(content, per, i)
		l := fragmentLen(len(part), ivLen, icvLen, bs)
		msg := buf[:l:l]
		buf = buf[l:]
		h.put(msg, PayloadSKF, l)
		next := PayloadNone
		if i == 0 {
			next = first
		}
		skf := msg[HeaderLen:skfPrefixLen]
		skf[0] = byte(next)
		binary.BigEndian.PutUint16(skf[2:], uint16(l-HeaderLen))
		binary.BigEndian.PutUint16(skf[4:], uint16(i+1))
		binary.BigEndian.PutUint16(skf[6:], uint16(total))
		body := msg[skfPrefixLen:]
		ptLen := paddedLen(len(part), bs)
		pt := body[ivLen : ivLen+ptLen]
		copy(pt, part)
		pt[ptLen-1] = byte(ptLen - 1 - len(part))
		if err := c.Encrypt(body, msg[:skfPrefixLen], pt); err != nil {
			return nil, fmt.Errorf("wire: encrypt: %w", err)
		}
		out[i] = msg
	}
	return out, nil
}

func chunk(content []byte, per, i int) []byte {
	start := i * per
	end := min(start+per, len(content))
	return content[start:end]
}

func fragmentLen(n, ivLen, icvLen, bs int) int {
	return skfPrefixLen + ivLen + paddedLen(n, bs) + icvLen
}

// Reassembler bounds (defaults used when the fields are zero).
const (
	DefaultMaxFragments = 64
	DefaultMaxBytes     = 64 << 10
)

// Reassembler collects the Encrypted Fragment payloads of one IKE message at
// a time (RFC 7383 2.6) and returns the inner payloads once all have
// arrived. Use one per IKE SA and direction of exchange (requests received,
// responses received) and feed it only fragments whose message ID the state
// machine expects: a verified fragment of another message ID discards the
// message in progress.
//
// Every fragment is verified and decrypted before it is kept (RFC 7383
// 2.6.2), so forged fragments cannot disturb reassembly. Memory is bounded by
// MaxFragments and MaxBytes of decrypted content. A Reassembler is not safe
// for concurrent use; its zero value is ready.
type Reassembler struct {
	MaxFragments int // largest Total Fragments accepted; DefaultMaxFragments if 0
	MaxBytes     int // largest reassembled content; DefaultMaxBytes if 0

	active bool
	msgID  uint32
	resp   bool
	total  uint16
	first  PayloadType
	frags  [][]byte // decrypted content by Fragment Number - 1, copied
	have   int
	size   int
}

// Reset drops any message in progress.
func (r *Reassembler) Reset() {
	r.active = false
	r.frags = nil
	r.have, r.size, r.total, r.first = 0, 0, 0, PayloadNone
}

// InProgress reports whether fragments of a message are held, and its
// message ID.
func (r *Reassembler) InProgress() (uint32, bool) { return r.msgID, r.active }

// Add offers one received message: raw is the datagram, m its Parse result
// whose last payload is an *EncryptedFragment, c the SA's inbound cipher.
// raw's body is decrypted in place; what the Reassembler keeps is copied.
//
// It returns done with the reassembled inner payloads when this fragment
// completed the message (the payloads alias a fresh buffer the caller owns,
// and the Reassembler is reset), or done false while fragments are missing.
// Errors: ErrIntegrity (drop the datagram silently), ErrFragmentDiscarded
// (duplicate or stale fragment, RFC 7383 2.6.2), ErrReassemblyLimit (the
// message in progress was dropped), ErrInvalidSyntax, or an
// *UnsupportedCriticalPayloadError from the reassembled chain.
func (r *Reassembler) Add(raw []byte, m *Message, c SKCipher) (inner []Payload, done bool, err error) {
	if m == nil || len(m.Payloads) == 0 {
		return nil, false, errSyntax(PayloadSKF, "no encrypted fragment payload")
	}
	f, ok := m.Payloads[len(m.Payloads)-1].(*EncryptedFragment)
	if !ok {
		return nil, false, errSyntax(PayloadSKF, "no encrypted fragment payload")
	}
	maxFrags := r.MaxFragments
	if maxFrags <= 0 {
		maxFrags = DefaultMaxFragments
	}
	maxBytes := r.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if int(f.TotalFragments) > maxFrags {
		return nil, false, fmt.Errorf("%w: %d fragments", ErrReassemblyLimit, f.TotalFragments)
	}
	same := r.active && r.msgID == m.MessageID && r.resp == m.IsResponse()
	if same {
		// RFC 7383 2.6.2: a smaller Total Fragments belongs to an older
		// fragmentation of this message; duplicates add nothing. Neither
		// changes state, so they need no decryption.
		if f.TotalFragments < r.total {
			return nil, false, ErrFragmentDiscarded
		}
		if f.TotalFragments == r.total && r.frags[f.FragmentNumber-1] != nil {
			return nil, false, ErrFragmentDiscarded
		}
	}
	_, pt, err := openLast(raw, m, c)
	if err != nil {
		return nil, false, err
	}
	if !same || f.TotalFragments > r.total {
		// A new message, or RFC 7383 2.6.2: a larger Total Fragments means
		// the sender refragmented; start again with this fragment.
		r.Reset()
		r.active = true
		r.msgID = m.MessageID
		r.resp = m.IsResponse()
		r.total = f.TotalFragments
		r.frags = make([][]byte, f.TotalFragments)
	}
	if r.size+len(pt) > maxBytes {
		r.Reset()
		return nil, false, fmt.Errorf("%w: more than %d octets", ErrReassemblyLimit, maxBytes)
	}
	if f.FragmentNumber == 1 {
		// RFC 7383 2.5: only the first fragment names the first inner
		// payload.
		r.first = f.NextPayload
	}
	// Keep a non-nil copy even for empty content, to mark it received.
	r.frags[f.FragmentNumber-1] = append(make([]byte, 0, len(pt)+1), pt...)
	r.have++
	r.size += len(pt)
	if r.have < int(r.total) {
		return nil, false, nil
	}
	whole := make([]byte, 0, r.size)
	for _, p := range r.frags {
		whole = append(whole, p...)
	}
	first := r.first
	r.Reset()
	ps, err := ParsePayloads(first, whole)
	if err != nil {
		return nil, false, err
	}
	return ps, true, nil
}
