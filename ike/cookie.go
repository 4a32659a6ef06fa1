package ike

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"github.com/esptun/esptun/ike/wire"
)

// cookieJar makes and checks stateless cookies (RFC 7296 2.6):
// Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>), here an
// HMAC-SHA-256 truncated to 16 bytes. The secret changes every few minutes;
// the previous one stays valid so that a cookie in flight still works.
type cookieJar struct {
	mu      sync.RWMutex
	version byte
	cur     [32]byte
	prev    [32]byte
	rotated time.Time
}

const cookieRotate = 2 * time.Minute

func (j *cookieJar) init() {
	_, _ = rand.Read(j.cur[:])
	_, _ = rand.Read(j.prev[:])
	j.rotated = time.Now()
}

func (j *cookieJar) maybeRotate(now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if now.Sub(j.rotated) < cookieRotate {
		return
	}
	j.prev = j.cur
	_, _ = rand.Read(j.cur[:])
	j.version++
	j.rotated = now
}

func cookieMAC(secret *[32]byte, version byte, ni []byte, ip netip.Addr, spi uint64) []byte {
	mac := hmac.New(sha256.New, secret[:])
	b := ip.As16()
	mac.Write(ni)
	mac.Write(b[:])
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], spi)
	mac.Write(s[:])
	out := make([]byte, 0, 17)
	out = append(out, version)
	return mac.Sum(out)[:17]
}

func (j *cookieJar) make(ni []byte, ip netip.Addr, spi uint64) []byte {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return cookieMAC(&j.cur, j.version, ni, ip, spi)
}

func (j *cookieJar) verify(c, ni []byte, ip netip.Addr, spi uint64) bool {
	if len(c) != 17 {
		return false
	}
	j.mu.RLock()
	defer j.mu.RUnlock()
	switch c[0] {
	case j.version:
		return hmac.Equal(c, cookieMAC(&j.cur, j.version, ni, ip, spi))
	case j.version - 1:
		return hmac.Equal(c, cookieMAC(&j.prev, j.version-1, ni, ip, spi))
	}
	return false
}

// candidates returns the cookies made for ni, ip and spi with the current
// and the previous secret: one of them is what the initiator got.
func (j *cookieJar) candidates(ni []byte, ip netip.Addr, spi uint64) [2][]byte {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return [2][]byte{cookieMAC(&j.cur, j.version, ni, ip, spi), cookieMAC(&j.prev, j.version-1, ni, ip, spi)}
}

// cookieVariants returns the other forms an IKE_SA_INIT request may have
// had at the initiator: without its leading COOKIE notify when it has one,
// else with each COOKIE we may have asked for. An initiator that got a
// COOKIE resends the request with it (RFC 7296 2.6) while a copy without it
// may still be on its way or queued here. When that late copy is the one
// answered, the initiator, which cannot tell the two answers apart, signs
// the request with the cookie in IKE_AUTH (2.15) and we must verify it
// against that one.
func (m *Manager) cookieVariants(req, ni []byte, ip netip.Addr, spi uint64) [][]byte {
	if len(req) < wire.HeaderLen+8 {
		return nil
	}
	first := wire.PayloadType(req[16])
	if first == wire.PayloadNotify && wire.NotifyType(binary.BigEndian.Uint16(req[wire.HeaderLen+6:])) == wire.NotifyCookie {
		plen := int(binary.BigEndian.Uint16(req[wire.HeaderLen+2:]))
		if plen < 8 || wire.HeaderLen+plen > len(req) {
			return nil
		}
		out := make([]byte, 0, len(req)-plen)
		out = append(out, req[:wire.HeaderLen]...)
		out = append(out, req[wire.HeaderLen+plen:]...)
		out[16] = req[wire.HeaderLen] // next payload of the COOKIE notify
		binary.BigEndian.PutUint32(out[24:], uint32(len(out)))
		return [][]byte{out}
	}
	var out [][]byte
	for _, c := range m.cookies.candidates(ni, ip, spi) {
		plen := 8 + len(c)
		v := make([]byte, 0, len(req)+plen)
		v = append(v, req[:wire.HeaderLen]...)
		v = append(v, byte(first), 0, byte(plen>>8), byte(plen), 0, 0)
		v = binary.BigEndian.AppendUint16(v, uint16(wire.NotifyCookie))
		v = append(v, c...)
		v = append(v, req[wire.HeaderLen:]...)
		v[16] = byte(wire.PayloadNotify)
		binary.BigEndian.PutUint32(v[24:], uint32(len(v)))
		out = append(out, v)
	}
	return out
}
