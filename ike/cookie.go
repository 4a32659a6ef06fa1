package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
	"sync"
	"time"

	"github.com/esptun/esptun/ike/wire"
)

// cookieJar makes and checks stateless cookies (RFC 7296 2.6):
// Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>), here an
// HMAC-SHA-256 truncated to 16 bytes. The secret changes every few minutes;
// the previous one stays valid so that a cookie in flight still works.
// Making and checking a cookie allocates nothing: under a flood this is
// what every request costs.
type cookieJar struct {
	mu        sync.RWMutex
	version   byte
	cur, prev *cookieSecret
	rotated   time.Time
}

// cookieSecret is one secret and a pool of HMACs keyed with it.
type cookieSecret struct {
	macs sync.Pool // *cookieMACState
}

type cookieMACState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// cookieLen is the size of our cookies: version byte and 16 bytes of MAC.
const cookieLen = 17

type cookie [cookieLen]byte

const cookieRotate = 2 * time.Minute

func newCookieSecret() *cookieSecret {
	var key [32]byte
	_, _ = rand.Read(key[:])
	s := &cookieSecret{}
	s.macs.New = func() any { return &cookieMACState{h: hmac.New(sha256.New, key[:])} }
	return s
}

func (j *cookieJar) init() {
	j.cur = newCookieSecret()
	j.prev = newCookieSecret()
	j.rotated = time.Now()
}

func (j *cookieJar) maybeRotate(now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if now.Sub(j.rotated) < cookieRotate {
		return
	}
	j.prev = j.cur
	j.cur = newCookieSecret()
	j.version++
	j.rotated = now
}

func (s *cookieSecret) mac(version byte, ni []byte, ip netip.Addr, spi uint64) cookie {
	st := s.macs.Get().(*cookieMACState)
	st.h.Reset()
	st.h.Write(ni)
	b := ip.As16()
	copy(st.sum[:16], b[:]) // through st, so that nothing escapes to the heap
	binary.BigEndian.PutUint64(st.sum[16:24], spi)
	st.h.Write(st.sum[:24])
	sum := st.h.Sum(st.sum[:0])
	var c cookie
	c[0] = version
	copy(c[1:], sum)
	s.macs.Put(st)
	return c
}

func (j *cookieJar) make(ni []byte, ip netip.Addr, spi uint64) cookie {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.cur.mac(j.version, ni, ip, spi)
}

func (j *cookieJar) verify(c, ni []byte, ip netip.Addr, spi uint64) bool {
	if len(c) != cookieLen {
		return false
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	var want cookie
	switch c[0] {
	case j.version:
		want = j.cur.mac(j.version, ni, ip, spi)
	case j.version - 1:
		want = j.prev.mac(j.version-1, ni, ip, spi)
	default:
		return false
	}
	return hmac.Equal(c, want[:])
}

// candidates returns the cookies made for ni, ip and spi with the current
// and the previous secret: one of them is what the initiator got.
func (j *cookieJar) candidates(ni []byte, ip netip.Addr, spi uint64) [2]cookie {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return [2]cookie{j.cur.mac(j.version, ni, ip, spi), j.prev.mac(j.version-1, ni, ip, spi)}
}

// cookieAnswerLen is the size of an IKE_SA_INIT response that only asks
// for a COOKIE: header and one notify.
const cookieAnswerLen = wire.HeaderLen + 8 + cookieLen

// putCookieAnswer writes into b (at least cookieAnswerLen bytes) the
// IKE_SA_INIT response to SPIi that asks for cookie c (RFC 7296 2.6) and
// returns it.
func putCookieAnswer(b []byte, spiI uint64, c cookie) []byte {
	pkt := b[:cookieAnswerLen]
	binary.BigEndian.PutUint64(pkt[0:], spiI)
	binary.BigEndian.PutUint64(pkt[8:], 0)
	pkt[16] = byte(wire.PayloadNotify)
	pkt[17] = 2 << 4
	pkt[18] = byte(wire.ExchangeIKESAInit)
	pkt[19] = byte(wire.FlagResponse)
	binary.BigEndian.PutUint32(pkt[20:], 0)
	binary.BigEndian.PutUint32(pkt[24:], cookieAnswerLen)
	p := pkt[wire.HeaderLen:]
	p[0], p[1] = byte(wire.PayloadNone), 0
	binary.BigEndian.PutUint16(p[2:], 8+cookieLen)
	p[4], p[5] = 0, 0 // protocol ID and SPI size
	binary.BigEndian.PutUint16(p[6:], uint16(wire.NotifyCookie))
	copy(p[8:], c[:])
	return pkt
}

// cookieAnswers holds the buffers of COOKIE answers made in HandleDatagram,
// where the received datagram belongs to the caller.
var cookieAnswers = sync.Pool{New: func() any { return new([cookieAnswerLen]byte) }}

// cookieVariants returns the other forms an IKE_SA_INIT request may have
// had at the initiator: without its leading COOKIE notify when it has one,
// and with each COOKIE we may have asked for (one made with the current
// and one with the previous secret) in place of the one it has, or in
// front when it has none. An initiator that got a COOKIE resends the
// request with it (RFC 7296 2.6) while a copy without it may still be on
// its way or queued here, and a late copy may be answered with a COOKIE
// made after the secret changed, which the initiator then resends again.
// When another copy than the one it signs is the one answered, the
// initiator, which cannot tell the answers apart, signs the request it
// sent last in IKE_AUTH (2.15) and we must verify it against that one.
func (m *Manager) cookieVariants(req, ni []byte, ip netip.Addr, spi uint64) [][]byte {
	if len(req) < wire.HeaderLen+8 {
		return nil
	}
	var out [][]byte
	var had []byte // the COOKIE req has, if any
	first := wire.PayloadType(req[16])
	if first == wire.PayloadNotify && wire.NotifyType(binary.BigEndian.Uint16(req[wire.HeaderLen+6:])) == wire.NotifyCookie {
		plen := int(binary.BigEndian.Uint16(req[wire.HeaderLen+2:]))
		if plen < 8 || wire.HeaderLen+plen > len(req) {
			return nil
		}
		had = req[wire.HeaderLen+8 : wire.HeaderLen+plen]
		bare := make([]byte, 0, len(req)-plen)
		bare = append(bare, req[:wire.HeaderLen]...)
		bare = append(bare, req[wire.HeaderLen+plen:]...)
		bare[16] = req[wire.HeaderLen] // next payload of the COOKIE notify
		binary.BigEndian.PutUint32(bare[24:], uint32(len(bare)))
		out = append(out, bare)
		req, first = bare, wire.PayloadType(bare[16])
	}
	for _, c := range m.cookies.candidates(ni, ip, spi) {
		if bytes.Equal(c[:], had) {
			continue
		}
		plen := 8 + len(c)
		v := make([]byte, 0, len(req)+plen)
		v = append(v, req[:wire.HeaderLen]...)
		v = append(v, byte(first), 0, byte(plen>>8), byte(plen), 0, 0)
		v = binary.BigEndian.AppendUint16(v, uint16(wire.NotifyCookie))
		v = append(v, c[:]...)
		v = append(v, req[wire.HeaderLen:]...)
		v[16] = byte(wire.PayloadNotify)
		binary.BigEndian.PutUint32(v[24:], uint32(len(v)))
		out = append(out, v)
	}
	return out
}
