package ike

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
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
