package crypto

// IANA "Transform Type 1 - Encryption Algorithm Transform IDs" (RFC 7296 3.3.2
// and the IKEv2 registry).
const (
	EncrAESCBC           uint16 = 12
	EncrNull             uint16 = 11
	EncrAESGCM16         uint16 = 20
	EncrChaCha20Poly1305 uint16 = 28
)

// IANA "Transform Type 3 - Integrity Algorithm Transform IDs".
const (
	IntegNone          uint16 = 0
	IntegHMACSHA256128 uint16 = 12
	IntegHMACSHA384192 uint16 = 13
	IntegHMACSHA512256 uint16 = 14
)

// ESPSuite describes one ESP transform combination: an AEAD, or a cipher
// (possibly ENCR_NULL) with an integrity algorithm. Suites are values; the
// registry owns the canonical ones.
type ESPSuite struct {
	Name        string // strongSwan keyword, e.g. "aes128gcm16", "aes256-sha256"
	Encr        uint16 // IANA encryption transform ID
	KeyBits     int    // encryption key length in bits (0 for ENCR_NULL)
	Integ       uint16 // IANA integrity transform ID (IntegNone for AEADs)
	EncKeyLen   int    // bytes of encryption keying material, salt included (RFC 4106: key||salt)
	IntegKeyLen int    // bytes of integrity keying material
	IVLen       int    // bytes of explicit IV carried in every packet
	ICVLen      int    // bytes of ICV appended to every packet
	// BlockSize is the alignment that payload||padding||pad length||next
	// header must reach (RFC 4303 2.4): the cipher block size for CBC, 4 for
	// AEADs and stream ciphers.
	BlockSize int
	AEAD      bool
}

// KeyLen is the number of bytes of keying material one direction of an SA
// with this suite takes: encryption key (with salt) followed by the integrity
// key, the order of RFC 7296 2.17.
func (s ESPSuite) KeyLen() int { return s.EncKeyLen + s.IntegKeyLen }

// IsNull reports whether the suite provides no confidentiality (ENCR_NULL).
func (s ESPSuite) IsNull() bool { return s.Encr == EncrNull }

// ESPCipher protects and verifies ESP packets in place. Implementations are
// safe for concurrent use by many goroutines (each call brings its own
// *Scratch). Seal and Open never allocate.
type ESPCipher interface {
	Suite() ESPSuite

	// Seal protects the ESP packet pkt in place. On entry pkt[0:4] holds the
	// SPI, pkt[4:8] the low 32 bits of seq, pkt[8:8+IVLen] is space for the
	// IV (Seal writes it, derived from seq so it never repeats under one key),
	// and pkt[8+IVLen:] is the plaintext: payload, padding, pad length and
	// next header, a multiple of the cipher's block size long (16 for
	// AES-CBC; esp.Seal pads to BlockSize, which guarantees it). cap(pkt)
	// must be at least len(pkt)+ICVLen; breaking these length rules is a
	// programming error and panics. Seal returns pkt extended by the ICV. seq is the full 64-bit sequence number; with
	// esn set its high half takes part in the ICV (RFC 4303 2.2.1, 3.3.2.1).
	Seal(pkt []byte, seq uint64, esn bool, s *Scratch) []byte

	// Open verifies and decrypts pkt (an ESP packet laid out as Seal's
	// output, ICV included) in place and returns the plaintext, which aliases
	// pkt. seqHi is the inferred high half of the sequence number, used only
	// when esn is set. A failed check returns ErrAuth and leaves the
	// plaintext undefined; a packet whose length cannot be valid for the
	// suite returns ErrLength without touching it. Open never panics.
	Open(pkt []byte, seqHi uint32, esn bool, s *Scratch) ([]byte, error)

	// Wipe overwrites key material held by the cipher as far as Go allows
	// (the expanded AES schedule inside crypto/aes and the HMAC pads inside
	// crypto/hmac cannot be reached). Call it once no Seal or Open is in
	// flight; the cipher must not be used afterwards.
	Wipe()
}

// Scratch is per-goroutine working space for Seal and Open: nonces, AAD and
// MAC output. One Scratch must not be used by two goroutines at once.
//
// The zero value is ready to use. Seal and Open hand slices of it to
// cipher.AEAD and hash.Hash, which are interfaces, so a Scratch should live on
// the heap for the life of its goroutine (new(crypto.Scratch)); that is what
// keeps the per-packet path free of allocations.
type Scratch struct {
	nonce [12]byte // RFC 4106 4 / RFC 7634 2: salt || explicit IV
	aad   [12]byte // RFC 4106 5: SPI || [seqHi ||] seqLo; seqHi alone for HMAC
	mac   [64]byte // HMAC output before truncation (SHA-512 at most)
}
