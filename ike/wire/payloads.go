package wire

import (
	"encoding/binary"
	"net/netip"
)

// Payload is one IKEv2 payload (RFC 7296 3.2). The concrete types are the
// pointer types of this file; the set is closed, and payloads of other types
// decode as *Unknown.
//
// Decoded payloads alias the buffer they were decoded from.
type Payload interface {
	// Type is the payload type announced in the preceding Next Payload
	// field.
	Type() PayloadType
	// CriticalBit is the C bit of the generic payload header. RFC 7296 3.2
	// makes it zero for every payload type this package knows, and only an
	// *Unknown can carry it (its Critical field).
	CriticalBit() bool

	// bodyLen is the length of the payload without its generic header.
	bodyLen() int
	// appendBody appends the payload without its generic header.
	appendBody(b []byte) ([]byte, error)
}

// known payloads carry a zero critical bit.
type noCritical struct{}

func (noCritical) CriticalBit() bool { return false }

// SA is the Security Association payload (RFC 7296 3.3).
type SA struct {
	noCritical
	Proposals []Proposal
}

// Proposal is a Proposal substructure (RFC 7296 3.3.1). SPI is empty in the
// proposals of an IKE_SA_INIT exchange, 8 octets for a rekeyed IKE SA and 4
// octets for ESP and AH.
type Proposal struct {
	Num        uint8
	Protocol   ProtocolID
	SPI        []byte
	Transforms []Transform
}

// Transform is a Transform substructure (RFC 7296 3.3.2).
type Transform struct {
	Type TransformType
	ID   uint16
	// KeyLength is the Key Length attribute in bits (RFC 7296 3.3.5); 0 when
	// the attribute is absent.
	KeyLength uint16
	// Attributes are any other attributes, kept raw in received order.
	Attributes []TransformAttribute
}

// TransformAttribute is a Data Attribute (RFC 7296 3.3.5) other than Key
// Length. TV attributes have a 2-octet Value; TLV ones any length up to
// 65535.
type TransformAttribute struct {
	Type  uint16 // without the AF bit
	TV    bool   // AF bit: Type/Value format
	Value []byte
}

// KE is the Key Exchange payload (RFC 7296 3.4).
type KE struct {
	noCritical
	Group uint16 // Diffie-Hellman Group Num (a transform ID of type 4)
	Data  []byte
}

// ID is the Identification payload, IDi or IDr (RFC 7296 3.5). ID_IPV4_ADDR
// data is 4 octets and ID_IPV6_ADDR 16, checked on decode and encode.
type ID struct {
	noCritical
	Initiator bool // IDi; IDr when false
	IDType    IDType
	Data      []byte
}

// Cert is the Certificate payload (RFC 7296 3.6).
type Cert struct {
	noCritical
	Encoding CertEncoding
	Data     []byte
}

// CertReq is the Certificate Request payload (RFC 7296 3.7). For
// CertX509Signature, Data is a concatenation of SHA-1 hashes of trusted CAs'
// public keys (see Authorities).
type CertReq struct {
	noCritical
	Encoding CertEncoding
	Data     []byte
}

// Authorities splits Data into 20-octet SHA-1 hashes (RFC 7296 3.7). It
// reports false when Data is not a whole number of hashes.
func (c *CertReq) Authorities() ([][]byte, bool) {
	if len(c.Data)%20 != 0 {
		return nil, false
	}
	out := make([][]byte, 0, len(c.Data)/20)
	for b := c.Data; len(b) > 0; b = b[20:] {
		out = append(out, b[:20:20])
	}
	return out, true
}

// Auth is the Authentication payload (RFC 7296 3.8).
type Auth struct {
	noCritical
	Method AuthMethod
	Data   []byte
}

// Nonce is the Nonce payload, Ni or Nr (RFC 7296 3.9). Data is 16 to 256
// octets, checked on decode and encode.
type Nonce struct {
	noCritical
	Data []byte
}

// Nonce data bounds (RFC 7296 3.9).
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

// Notify is the Notify payload (RFC 7296 3.10). Protocol is zero and SPI
// empty for notifications about the IKE SA.
type Notify struct {
	noCritical
	Protocol   ProtocolID
	SPI        []byte
	NotifyType NotifyType // Notify Message Type
	Data       []byte
}

// Delete is the Delete payload (RFC 7296 3.11). For the IKE SA, SPISize is 0
// and SPIs is empty; for ESP and AH, SPISize is 4 and every SPI is 4 octets.
type Delete struct {
	noCritical
	Protocol ProtocolID
	SPISize  uint8
	SPIs     [][]byte
}

// VendorID is the Vendor ID payload (RFC 7296 3.12).
type VendorID struct {
	noCritical
	Data []byte
}

// TS is the Traffic Selector payload, TSi or TSr (RFC 7296 3.13).
type TS struct {
	noCritical
	Initiator bool // TSi; TSr when false
	Selectors []TrafficSelector
}

// TrafficSelector is one selector of a TS payload (RFC 7296 3.13.1).
//
// For TS_IPV4_ADDR_RANGE the addresses are IPv4, for TS_IPV6_ADDR_RANGE IPv6
// (an IPv4-mapped IPv6 address stays IPv6), checked on decode and encode.
// Selectors of other types (TS_FC_ADDR_RANGE, RFC 9478 TS_SECLABEL, ...) are
// kept raw: IPProtocol holds their second octet and Data everything after
// their Selector Length field; ports and addresses are unset.
type TrafficSelector struct {
	Type       TSType
	IPProtocol uint8 // 0: any
	StartPort  uint16
	EndPort    uint16
	StartAddr  netip.Addr
	EndAddr    netip.Addr
	Data       []byte // only for types other than 7 and 8
}

// Encrypted is the Encrypted and Authenticated payload, SK (RFC 7296 3.14).
// NextPayload is the type of the first inner payload (the generic header's
// Next Payload field); Body is IV | ciphertext | ICV, raw. Use DecryptSK to
// open it and EncodeEncrypted to build a message around it.
type Encrypted struct {
	noCritical
	NextPayload PayloadType
	Body        []byte
}

// EncryptedFragment is the Encrypted and Authenticated Fragment payload, SKF
// (RFC 7383 2.5). NextPayload is the first inner payload's type in fragment 1
// and zero in the others. Body is IV | ciphertext | ICV, raw.
type EncryptedFragment struct {
	noCritical
	FragmentNumber uint16 // 1..TotalFragments
	TotalFragments uint16
	NextPayload    PayloadType
	Body           []byte
}

// CP is the Configuration payload (RFC 7296 3.15).
type CP struct {
	noCritical
	CfgType    CfgType
	Attributes []CPAttribute
}

// CPAttribute is a Configuration Attribute (RFC 7296 3.15.1). An empty Value
// asks for the attribute in a CFG_REQUEST.
type CPAttribute struct {
	Type  CPAttrType // 15 bits; the reserved bit is dropped on decode
	Value []byte
}

// EAP is the Extensible Authentication payload (RFC 7296 3.16): Data is a
// whole EAP packet (RFC 3748 4: Code, Identifier, Length, Type-Data) whose
// Length field equals len(Data), checked on decode and encode.
type EAP struct {
	noCritical
	Data []byte
}

// EAP codes (RFC 3748 4).
const (
	EAPRequest  = 1
	EAPResponse = 2
	EAPSuccess  = 3
	EAPFailure  = 4
)

// Code is the EAP Code; zero if Data is too short.
func (e *EAP) Code() uint8 {
	if len(e.Data) < 4 {
		return 0
	}
	return e.Data[0]
}

// Identifier is the EAP Identifier; zero if Data is too short.
func (e *EAP) Identifier() uint8 {
	if len(e.Data) < 4 {
		return 0
	}
	return e.Data[1]
}

// Method is the EAP Type of a Request or Response (RFC 3748 4.2); false for
// Success, Failure or a packet without a Type octet.
func (e *EAP) Method() (uint8, bool) {
	if len(e.Data) < 5 || (e.Data[0] != EAPRequest && e.Data[0] != EAPResponse) {
		return 0, false
	}
	return e.Data[4], true
}

// Unknown is a payload of a type this package does not decode. Decoding
// yields it only for a clear critical bit (the payload is skipped, RFC 7296
// 3.2); an encoder writes it as given, which lets tests send unknown
// critical payloads. T must not be a type this package knows.
type Unknown struct {
	T        PayloadType
	Critical bool
	Data     []byte
}

func (*SA) Type() PayloadType                { return PayloadSA }
func (*KE) Type() PayloadType                { return PayloadKE }
func (*Cert) Type() PayloadType              { return PayloadCERT }
func (*CertReq) Type() PayloadType           { return PayloadCERTREQ }
func (*Auth) Type() PayloadType              { return PayloadAUTH }
func (*Nonce) Type() PayloadType             { return PayloadNonce }
func (*Notify) Type() PayloadType            { return PayloadNotify }
func (*Delete) Type() PayloadType            { return PayloadDelete }
func (*VendorID) Type() PayloadType          { return PayloadVendorID }
func (*Encrypted) Type() PayloadType         { return PayloadSK }
func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }
func (*CP) Type() PayloadType                { return PayloadCP }
func (*EAP) Type() PayloadType               { return PayloadEAP }
func (u *Unknown) Type() PayloadType         { return u.T }
func (u *Unknown) CriticalBit() bool         { return u.Critical }

func (p *ID) Type() PayloadType {
	if p.Initiator {
		return PayloadIDi
	}
	return PayloadIDr
}

func (p *TS) Type() PayloadType {
	if p.Initiator {
		return PayloadTSi
	}
	return PayloadTSr
}

// ---- decoding ----

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// nz returns nil for an empty slice, so that decoded payloads compare equal
// to ones built with nil fields and callers can test fields against nil.
func nz(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// decodeBody decodes the body of one payload of type t (generic header
// already consumed). It never panics.
func decodeBody(t PayloadType, critical bool, next PayloadType, b []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return decodeSA(b)
	case PayloadKE:
		if len(b) < 4 {
			return nil, errSyntax(t, "short body")
		}
		return &KE{Group: be16(b), Data: nz(b[4:])}, nil
	case PayloadIDi, PayloadIDr:
		if len(b) < 4 {
			return nil, errSyntax(t, "short body")
		}
		p := &ID{Initiator: t == PayloadIDi, IDType: IDType(b[0]), Data: nz(b[4:])}
		if err := checkIDLen(p.IDType, len(p.Data)); err != "" {
			return nil, errSyntax(t, err)
		}
		return p, nil
	case PayloadCERT:
		if len(b) < 1 {
			return nil, errSyntax(t, "short body")
		}
		return &Cert{Encoding: CertEncoding(b[0]), Data: nz(b[1:])}, nil
	case PayloadCERTREQ:
		if len(b) < 1 {
			return nil, errSyntax(t, "short body")
		}
		return &CertReq{Encoding: CertEncoding(b[0]), Data: nz(b[1:])}, nil
	case PayloadAUTH:
		if len(b) < 4 {
			return nil, errSyntax(t, "short body")
		}
		return &Auth{Method: AuthMethod(b[0]), Data: nz(b[4:])}, nil
	case PayloadNonce:
		if len(b) < MinNonceLen || len(b) > MaxNonceLen {
			return nil, errSyntax(t, "nonce not 16 to 256 octets")
		}
		return &Nonce{Data: b}, nil
	case PayloadNotify:
		if len(b) < 4 {
			return nil, errSyntax(t, "short body")
		}
		spiSize := int(b[1])
		if 4+spiSize > len(b) {
			return nil, errSyntax(t, "spi overruns payload")
		}
		return &Notify{
			Protocol:   ProtocolID(b[0]),
			NotifyType: NotifyType(be16(b[2:])),
			SPI:        nz(b[4 : 4+spiSize : 4+spiSize]),
			Data:       nz(b[4+spiSize:]),
		}, nil
	case PayloadDelete:
		return decodeDelete(b)
	case PayloadVendorID:
		return &VendorID{Data: nz(b)}, nil
	case PayloadTSi, PayloadTSr:
		return decodeTS(t, b)
	case PayloadSK:
		return &Encrypted{NextPayload: next, Body: nz(b)}, nil
	case PayloadSKF:
		if len(b) < 4 {
			return nil, errSyntax(t, "short body")
		}
		p := &EncryptedFragment{
			FragmentNumber: be16(b),
			TotalFragments: be16(b[2:]),
			NextPayload:    next,
			Body:           nz(b[4:]),
		}
		// RFC 7383 2.5: neither field is zero and the number does not
		// exceed the total.
		if p.FragmentNumber == 0 || p.TotalFragments == 0 || p.FragmentNumber > p.TotalFragments {
			return nil, errSyntax(t, "bad fragment number")
		}
		return p, nil
	case PayloadCP:
		return decodeCP(b)
	case PayloadEAP:
		if len(b) < 4 || int(be16(b[2:])) != len(b) {
			return nil, errSyntax(t, "eap length does not match payload")
		}
		return &EAP{Data: b}, nil
	}
	if critical {
		// RFC 7296 3.2: reject the whole message.
		return nil, &UnsupportedCriticalPayloadError{Type: t}
	}
	return &Unknown{T: t, Data: nz(b)}, nil
}

// checkIDLen returns a reason when an address identity has the wrong size.
func checkIDLen(t IDType, n int) string {
	switch {
	case t == IDIPv4Addr && n != 4:
		return "ID_IPV4_ADDR not 4 octets"
	case t == IDIPv6Addr && n != 16:
		return "ID_IPV6_ADDR not 16 octets"
	}
	return ""
}

// RFC 7296 3.3.1 and 3.3.2: values of the Last Substruc field.
const (
	lastSubstruc   = 0
	moreProposals  = 2
	moreTransforms = 3
)

func decodeSA(b []byte) (Payload, error) {
	const t = PayloadSA
	// First pass: count proposals so the slice is allocated once.
	n := 0
	for r := b; len(r) > 0; n++ {
		if len(r) < 8 {
			return nil, errSyntax(t, "short proposal")
		}
		l := int(be16(r[2:]))
		if l < 8 || l > len(r) {
			return nil, errSyntax(t, "bad proposal length")
		}
		more := l < len(r)
		switch {
		case r[0] == lastSubstruc && !more, r[0] == moreProposals && more:
		default:
			return nil, errSyntax(t, "last substruc does not match proposal position")
		}
		r = r[l:]
	}
	if n == 0 {
		return nil, errSyntax(t, "no proposals")
	}
	sa := &SA{Proposals: make([]Proposal, n)}
	for i := range sa.Proposals {
		l := int(be16(b[2:]))
		pb := b[:l]
		b = b[l:]
		p := &sa.Proposals[i]
		p.Num = pb[4]
		p.Protocol = ProtocolID(pb[5])
		spiSize := int(pb[6])
		nt := int(pb[7])
		pb = pb[8:]
		if spiSize > len(pb) {
			return nil, errSyntax(t, "spi overruns proposal")
		}
		p.SPI = nz(pb[:spiSize:spiSize])
		pb = pb[spiSize:]
		if nt > 0 {
			p.Transforms = make([]Transform, nt)
		}
		for j := range p.Transforms {
			if len(pb) < 8 {
				return nil, errSyntax(t, "transforms do not fill proposal")
			}
			tl := int(be16(pb[2:]))
			if tl < 8 || tl > len(pb) {
				return nil, errSyntax(t, "bad transform length")
			}
			last := j == nt-1
			switch {
			case pb[0] == lastSubstruc && last, pb[0] == moreTransforms && !last:
			default:
				return nil, errSyntax(t, "last substruc does not match transform position")
			}
			if err := decodeTransform(&p.Transforms[j], pb[:tl]); err != nil {
				return nil, err
			}
			pb = pb[tl:]
		}
		if len(pb) != 0 {
			return nil, errSyntax(t, "transforms do not fill proposal")
		}
	}
	return sa, nil
}

func decodeTransform(tr *Transform, b []byte) error {
	const t = PayloadSA
	tr.Type = TransformType(b[4])
	tr.ID = be16(b[6:])
	keyLen := false
	for a := b[8:]; len(a) > 0; {
		if len(a) < 4 {
			return errSyntax(t, "short transform attribute")
		}
		at := be16(a)
		tv := at&0x8000 != 0
		at &= 0x7fff
		var v []byte
		if tv {
			v, a = a[2:4:4], a[4:]
		} else {
			l := int(be16(a[2:]))
			if 4+l > len(a) {
				return errSyntax(t, "transform attribute overruns transform")
			}
			v, a = nz(a[4:4+l:4+l]), a[4+l:]
		}
		if at == AttrKeyLength {
			// RFC 7296 3.3.5: Key Length is TV and appears once; a
			// zero key length is no key length.
			if !tv || keyLen || be16(v) == 0 {
				return errSyntax(t, "bad key length attribute")
			}
			keyLen = true
			tr.KeyLength = be16(v)
			continue
		}
		tr.Attributes = append(tr.Attributes, TransformAttribute{Type: at, TV: tv, Value: v})
	}
	return nil
}

func decodeDelete(b []byte) (Payload, error) {
	const t = PayloadDelete
	if len(b) < 4 {
		return nil, errSyntax(t, "short body")
	}
	d := &Delete{Protocol: ProtocolID(b[0]), SPISize: b[1]}
	n := int(be16(b[2:]))
	s := int(d.SPISize)
	b = b[4:]
	if s == 0 {
		// RFC 7296 3.11: deleting the IKE SA names no SPI.
		if n != 0 || len(b) != 0 {
			return nil, errSyntax(t, "spis without spi size")
		}
		return d, nil
	}
	if n*s != len(b) {
		return nil, errSyntax(t, "spis do not fill payload")
	}
	d.SPIs = make([][]byte, n)
	for i := range d.SPIs {
		d.SPIs[i] = b[i*s : (i+1)*s : (i+1)*s]
	}
	return d, nil
}

// Selector lengths (RFC 7296 3.13.1).
const (
	tsIPv4Len = 16
	tsIPv6Len = 40
)

func decodeTS(t PayloadType, b []byte) (Payload, error) {
	if len(b) < 4 {
		return nil, errSyntax(t, "short body")
	}
	n := int(b[0])
	ts := &TS{Initiator: t == PayloadTSi}
	b = b[4:]
	if n > 0 {
		ts.Selectors = make([]TrafficSelector, n)
	}
	for i := range ts.Selectors {
		if len(b) < 4 {
			return nil, errSyntax(t, "selectors do not fill payload")
		}
		l := int(be16(b[2:]))
		if l < 4 || l > len(b) {
			return nil, errSyntax(t, "bad selector length")
		}
		s := &ts.Selectors[i]
		sb := b[:l:l]
		b = b[l:]
		s.Type = TSType(sb[0])
		s.IPProtocol = sb[1]
		switch s.Type {
		case TSIPv4AddrRange:
			if l != tsIPv4Len {
				return nil, errSyntax(t, "TS_IPV4_ADDR_RANGE not 16 octets")
			}
			s.StartAddr = netip.AddrFrom4([4]byte(sb[8:12]))
			s.EndAddr = netip.AddrFrom4([4]byte(sb[12:16]))
		case TSIPv6AddrRange:
			if l != tsIPv6Len {
				return nil, errSyntax(t, "TS_IPV6_ADDR_RANGE not 40 octets")
			}
			s.StartAddr = netip.AddrFrom16([16]byte(sb[8:24]))
			s.EndAddr = netip.AddrFrom16([16]byte(sb[24:40]))
		default:
			s.Data = nz(sb[4:])
			continue
		}
		s.StartPort = be16(sb[4:])
		s.EndPort = be16(sb[6:])
	}
	if len(b) != 0 {
		return nil, errSyntax(t, "selectors do not fill payload")
	}
	return ts, nil
}

func decodeCP(b []byte) (Payload, error) {
	const t = PayloadCP
	if len(b) < 4 {
		return nil, errSyntax(t, "short body")
	}
	cp := &CP{CfgType: CfgType(b[0])}
	b = b[4:]
	n := 0
	for r := b; len(r) > 0; n++ {
		if len(r) < 4 {
			return nil, errSyntax(t, "short attribute")
		}
		l := 4 + int(be16(r[2:]))
		if l > len(r) {
			return nil, errSyntax(t, "attribute overruns payload")
		}
		r = r[l:]
	}
	if n > 0 {
		cp.Attributes = make([]CPAttribute, n)
	}
	for i := range cp.Attributes {
		l := 4 + int(be16(b[2:]))
		// RFC 7296 3.15.1: the R bit is ignored on receipt.
		cp.Attributes[i] = CPAttribute{Type: CPAttrType(be16(b) & 0x7fff), Value: nz(b[4:l:l])}
		b = b[l:]
	}
	return cp, nil
}

// ---- encoding ----

func put16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }

func (p *SA) bodyLen() int {
	n := 0
	for i := range p.Proposals {
		n += p.Proposals[i].encodedLen()
	}
	return n
}

func (p *Proposal) encodedLen() int {
	n := 8 + len(p.SPI)
	for i := range p.Transforms {
		n += p.Transforms[i].encodedLen()
	}
	return n
}

func (tr *Transform) encodedLen() int {
	n := 8
	if tr.KeyLength != 0 {
		n += 4
	}
	for _, a := range tr.Attributes {
		if a.TV {
			n += 4
		} else {
			n += 4 + len(a.Value)
		}
	}
	return n
}

func (p *SA) appendBody(b []byte) ([]byte, error) {
	if len(p.Proposals) == 0 {
		return nil, errEncode("sa payload without proposals")
	}
	for i := range p.Proposals {
		pr := &p.Proposals[i]
		l := pr.encodedLen()
		if l > MaxPayloadLen || len(pr.SPI) > 255 || len(pr.Transforms) > 255 {
			return nil, errEncode("proposal too long")
		}
		last := byte(moreProposals)
		if i == len(p.Proposals)-1 {
			last = lastSubstruc
		}
		b = append(b, last, 0)
		b = put16(b, uint16(l))
		b = append(b, pr.Num, byte(pr.Protocol), byte(len(pr.SPI)), byte(len(pr.Transforms)))
		b = append(b, pr.SPI...)
		for j := range pr.Transforms {
			tr := &pr.Transforms[j]
			last := byte(moreTransforms)
			if j == len(pr.Transforms)-1 {
				last = lastSubstruc
			}
			b = append(b, last, 0)
			b = put16(b, uint16(tr.encodedLen()))
			b = append(b, byte(tr.Type), 0)
			b = put16(b, tr.ID)
			if tr.KeyLength != 0 {
				b = put16(b, 0x8000|AttrKeyLength)
				b = put16(b, tr.KeyLength)
			}
			for _, a := range tr.Attributes {
				if a.Type > 0x7fff || a.Type == AttrKeyLength {
					return nil, errEncode("bad transform attribute type")
				}
				if a.TV {
					if len(a.Value) != 2 {
						return nil, errEncode("tv attribute value not 2 octets")
					}
					b = put16(b, 0x8000|a.Type)
					b = append(b, a.Value...)
					continue
				}
				if len(a.Value) > 0xffff {
					return nil, errEncode("attribute too long")
				}
				b = put16(b, a.Type)
				b = put16(b, uint16(len(a.Value)))
				b = append(b, a.Value...)
			}
		}
	}
	return b, nil
}

func (p *KE) bodyLen() int { return 4 + len(p.Data) }
func (p *KE) appendBody(b []byte) ([]byte, error) {
	b = put16(b, p.Group)
	return append(append(b, 0, 0), p.Data...), nil
}

func (p *ID) bodyLen() int { return 4 + len(p.Data) }
func (p *ID) appendBody(b []byte) ([]byte, error) {
	if r := checkIDLen(p.IDType, len(p.Data)); r != "" {
		return nil, errEncode(r)
	}
	return append(append(b, byte(p.IDType), 0, 0, 0), p.Data...), nil
}

func (p *Cert) bodyLen() int { return 1 + len(p.Data) }
func (p *Cert) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(p.Encoding)), p.Data...), nil
}

func (p *CertReq) bodyLen() int { return 1 + len(p.Data) }
func (p *CertReq) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(p.Encoding)), p.Data...), nil
}

func (p *Auth) bodyLen() int { return 4 + len(p.Data) }
func (p *Auth) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(p.Method), 0, 0, 0), p.Data...), nil
}

func (p *Nonce) bodyLen() int { return len(p.Data) }
func (p *Nonce) appendBody(b []byte) ([]byte, error) {
	if len(p.Data) < MinNonceLen || len(p.Data) > MaxNonceLen {
		return nil, errEncode("nonce not 16 to 256 octets")
	}
	return append(b, p.Data...), nil
}

func (p *Notify) bodyLen() int { return 4 + len(p.SPI) + len(p.Data) }
func (p *Notify) appendBody(b []byte) ([]byte, error) {
	if len(p.SPI) > 255 {
		return nil, errEncode("notify spi too long")
	}
	b = append(b, byte(p.Protocol), byte(len(p.SPI)))
	b = put16(b, uint16(p.NotifyType))
	return append(append(b, p.SPI...), p.Data...), nil
}

func (p *Delete) bodyLen() int { return 4 + int(p.SPISize)*len(p.SPIs) }
func (p *Delete) appendBody(b []byte) ([]byte, error) {
	if len(p.SPIs) > 0xffff || (p.SPISize == 0 && len(p.SPIs) != 0) {
		return nil, errEncode("bad delete spis")
	}
	b = append(b, byte(p.Protocol), p.SPISize)
	b = put16(b, uint16(len(p.SPIs)))
	for _, s := range p.SPIs {
		if len(s) != int(p.SPISize) {
			return nil, errEncode("delete spi length differs from spi size")
		}
		b = append(b, s...)
	}
	return b, nil
}

func (p *VendorID) bodyLen() int { return len(p.Data) }
func (p *VendorID) appendBody(b []byte) ([]byte, error) {
	return append(b, p.Data...), nil
}

func (p *TS) bodyLen() int {
	n := 4
	for i := range p.Selectors {
		n += p.Selectors[i].encodedLen()
	}
	return n
}

func (s *TrafficSelector) encodedLen() int {
	switch s.Type {
	case TSIPv4AddrRange:
		return tsIPv4Len
	case TSIPv6AddrRange:
		return tsIPv6Len
	}
	return 4 + len(s.Data)
}

func (p *TS) appendBody(b []byte) ([]byte, error) {
	if len(p.Selectors) > 255 {
		return nil, errEncode("too many traffic selectors")
	}
	b = append(b, byte(len(p.Selectors)), 0, 0, 0)
	for i := range p.Selectors {
		s := &p.Selectors[i]
		l := s.encodedLen()
		if l > 0xffff {
			return nil, errEncode("traffic selector too long")
		}
		b = append(b, byte(s.Type), s.IPProtocol)
		b = put16(b, uint16(l))
		switch s.Type {
		case TSIPv4AddrRange:
			if !s.StartAddr.Is4() || !s.EndAddr.Is4() {
				return nil, errEncode("TS_IPV4_ADDR_RANGE with non-IPv4 address")
			}
			b = put16(put16(b, s.StartPort), s.EndPort)
			a, e := s.StartAddr.As4(), s.EndAddr.As4()
			b = append(append(b, a[:]...), e[:]...)
		case TSIPv6AddrRange:
			if !s.StartAddr.Is6() || !s.EndAddr.Is6() || s.StartAddr.Zone() != "" || s.EndAddr.Zone() != "" {
				return nil, errEncode("TS_IPV6_ADDR_RANGE with non-IPv6 address")
			}
			b = put16(put16(b, s.StartPort), s.EndPort)
			a, e := s.StartAddr.As16(), s.EndAddr.As16()
			b = append(append(b, a[:]...), e[:]...)
		default:
			b = append(b, s.Data...)
		}
	}
	return b, nil
}

func (p *Encrypted) bodyLen() int { return len(p.Body) }
func (p *Encrypted) appendBody(b []byte) ([]byte, error) {
	return append(b, p.Body...), nil
}

func (p *EncryptedFragment) bodyLen() int { return 4 + len(p.Body) }
func (p *EncryptedFragment) appendBody(b []byte) ([]byte, error) {
	if p.FragmentNumber == 0 || p.TotalFragments == 0 || p.FragmentNumber > p.TotalFragments {
		return nil, errEncode("bad fragment number")
	}
	b = put16(put16(b, p.FragmentNumber), p.TotalFragments)
	return append(b, p.Body...), nil
}

func (p *CP) bodyLen() int {
	n := 4
	for _, a := range p.Attributes {
		n += 4 + len(a.Value)
	}
	return n
}

func (p *CP) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(p.CfgType), 0, 0, 0)
	for _, a := range p.Attributes {
		if a.Type > 0x7fff || len(a.Value) > 0xffff {
			return nil, errEncode("bad configuration attribute")
		}
		b = put16(put16(b, uint16(a.Type)), uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}

func (p *EAP) bodyLen() int { return len(p.Data) }
func (p *EAP) appendBody(b []byte) ([]byte, error) {
	if len(p.Data) < 4 || int(be16(p.Data[2:])) != len(p.Data) {
		return nil, errEncode("eap length does not match packet")
	}
	return append(b, p.Data...), nil
}

func (p *Unknown) bodyLen() int { return len(p.Data) }
func (p *Unknown) appendBody(b []byte) ([]byte, error) {
	if p.T.known() || p.T == PayloadNone {
		return nil, errEncode("unknown payload with a known type")
	}
	return append(b, p.Data...), nil
}
