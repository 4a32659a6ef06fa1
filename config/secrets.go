package config

import (
	"bytes"
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// secretPrefixes are swanctl's secret section prefixes, each with the type
// it gives or, for the ones this version refuses, why.
var secretPrefixes = []struct {
	prefix, typ, refused string
}{
	{"ike", SecretIKE, ""},
	{"eap", SecretEAP, ""},
	{"private", SecretPrivate, ""},
	{"rsa", SecretRSA, ""},
	{"ecdsa", SecretECDSA, ""},
	{"pkcs8", SecretPKCS8, ""},
	{"pkcs12", "", "PKCS#12 containers are not supported by this version of esptun; convert to PEM (openssl pkcs12 -nodes) and use a private-NAME section"},
	{"xauth", "", "XAuth belongs to IKEv1, which esptun does not speak; use an eap-NAME section with EAP authentication"},
	{"ntlm", "", "NTLM hashes are not supported by this version of esptun; give the EAP-MSCHAPv2 password in an eap-NAME section"},
	{"token", "", "keys on tokens and smartcards (PKCS#11) are not supported by this version of esptun"},
}

const secretTypesAllowed = "section names start with the secret type as in swanctl: ike-NAME, eap-NAME, private-NAME, rsa-NAME, ecdsa-NAME, pkcs8-NAME"

func (c *checker) secrets(t *table) []*Secret {
	names := make([]string, 0, len(t.m))
	for name := range t.m {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*Secret
	for _, name := range names {
		v := t.m[name]
		m, ok := v.(map[string]any)
		if !ok {
			t.errorf(name, "must be a table [secrets.NAME], not %s", typeName(v))
			continue
		}
		if !validManualName(name) {
			t.errorf(name, "invalid section name %q (allowed: 1-64 letters, digits, '_', '-')", name)
			continue
		}
		typ, refused, known := "", "", false
		for _, p := range secretPrefixes {
			if strings.HasPrefix(name, p.prefix) {
				typ, refused, known = p.typ, p.refused, true
				break
			}
		}
		switch {
		case !known:
			t.errorf(name, "unknown secret type (%s)", secretTypesAllowed)
			continue
		case refused != "":
			t.errorf(name, "section not supported: %s", refused)
			continue
		}
		st := &table{c: c, path: t.sub(name), m: m}
		s := &Secret{Name: name, Line: c.lineOf(st.path), Type: typ}
		switch {
		case typ == SecretEAP && st.has("users_file"):
			out = append(out, c.usersFile(st, s)...)
			continue
		case typ == SecretIKE, typ == SecretEAP:
			c.sharedSecret(st, s)
		default:
			c.privateKey(st, s)
		}
		out = append(out, s)
	}
	return out
}

// sharedSecret checks an ike-* or eap-* section: ids and the secret.
func (c *checker) sharedSecret(t *table, s *Secret) {
	var idKeys []string
	for _, k := range t.keysInOrder() {
		switch {
		case k == "secret" || k == "secret_file":
		case strings.HasPrefix(k, "id"):
			idKeys = append(idKeys, k)
		case k == "users_file" && s.Type == SecretIKE:
			t.errorf(k, "a users file holds EAP passwords; it belongs in a [secrets.eap-NAME] section")
		case s.Type == SecretEAP:
			t.errorf(k, "unknown key (allowed in [%s]: id, id<suffix> such as id-1, secret, secret_file; or users_file alone)", formatPath(t.path))
		default:
			t.errorf(k, "unknown key (allowed in [%s]: id, id<suffix> such as id-1, secret, secret_file)", formatPath(t.path))
		}
	}
	for _, k := range idKeys {
		var list []string
		switch v := t.m[k].(type) {
		case string:
			list = []string{v}
		case []any:
			var ok bool
			if list, ok = t.strList(k); !ok {
				continue
			}
			if len(list) == 0 {
				t.errorf(k, "must not be empty: give one or more identities, or leave out every id key to match any identity")
			}
		default:
			t.errorf(k, "must be an identity string or an array of them, not %s", typeName(v))
			continue
		}
		for _, id := range list {
			if err := checkID(id); err != nil {
				t.errorf(k, "%v", err)
				continue
			}
			if slices.Contains(s.IDs, id) {
				t.errorf(k, "identity %q is listed twice", id)
				continue
			}
			s.IDs = append(s.IDs, id)
		}
	}

	hasSecret, hasFile := t.has("secret"), t.has("secret_file")
	switch {
	case hasSecret && hasFile:
		t.errorf("secret_file", "give secret or secret_file, not both")
		return
	case !hasSecret && !hasFile:
		t.c.errorf(t.path, `required: secret ("text", "0x" hex or "0s" base64) or secret_file (a file holding it)`)
		return
	case hasSecret:
		v := t.m["secret"]
		str, ok := v.(string)
		if !ok {
			t.errorf("secret", "must be a string, not %s (the value is not shown)", typeName(v))
			return
		}
		data, err := decodeSecret(str)
		if err != nil {
			t.errorf("secret", "%v", err)
			return
		}
		s.Data = data
	default:
		p, ok := t.str("secret_file")
		if !ok {
			return
		}
		path, err := c.resolve(p)
		if err != nil || p == "" {
			t.errorf("secret_file", "invalid path %q", p)
			return
		}
		data, exposed, mode, err := readPrivate(path)
		if err != nil {
			t.errorf("secret_file", "%s %v", path, err)
			return
		}
		if exposed {
			t.warnf("secret_file", "%s holds a secret but is readable by group or others (mode %04o); chmod 600 %s", path, mode, path)
		}
		// One trailing newline is what editors and echo add.
		data = bytes.TrimSuffix(data, []byte("\n"))
		data = bytes.TrimSuffix(data, []byte("\r"))
		if len(data) == 0 {
			t.errorf("secret_file", "%s is empty", path)
			return
		}
		s.Data, s.File, s.fromFile = data, path, true
	}
}

// decodeSecret decodes a secret as swanctl does: "0x" hex, "0s" base64,
// otherwise the string itself. Its errors never quote the value.
func decodeSecret(str string) ([]byte, error) {
	var data []byte
	switch {
	case strings.HasPrefix(str, "0x") || strings.HasPrefix(str, "0X"):
		b, err := hex.DecodeString(str[2:])
		if err != nil {
			return nil, errors.New(`is not valid hex after "0x" (the value is not shown)`)
		}
		data = b
	case strings.HasPrefix(str, "0s") || strings.HasPrefix(str, "0S"):
		b, err := base64.StdEncoding.DecodeString(str[2:])
		if err != nil {
			return nil, errors.New(`is not valid base64 after "0s" (the value is not shown)`)
		}
		data = b
	default:
		data = []byte(str)
	}
	if len(data) == 0 {
		return nil, errors.New("must not be empty")
	}
	return data, nil
}

// privateKey checks a private-*, rsa-*, ecdsa-* or pkcs8-* section: the key
// file, readable and parsable by Go, and the optional passphrase.
func (c *checker) privateKey(t *table, s *Secret) {
	t.unknown([]string{"file", "secret"})
	if v, ok := t.m["secret"]; ok {
		if _, isStr := v.(string); !isStr {
			t.errorf("secret", "must be a string, not %s (the value is not shown)", typeName(v))
		}
	}
	p, ok := t.str("file")
	if !ok {
		if !t.has("file") {
			t.c.errorf(t.path, "required: file, the private key file (PEM or DER)")
		}
		return
	}
	path, err := c.resolve(p)
	if err != nil || p == "" {
		t.errorf("file", "invalid path %q", p)
		return
	}
	data, exposed, mode, err := readPrivate(path)
	if err != nil {
		t.errorf("file", "%s %v", path, err)
		return
	}
	if exposed {
		t.warnf("file", "%s holds a private key but is readable by group or others (mode %04o); chmod 600 %s", path, mode, path)
	}
	s.File = path
	key, format, err := parsePrivateKey(data)
	if err != nil {
		t.errorf("file", "%s: %v", path, err)
		return
	}
	switch {
	case s.Type == SecretRSA && keyType(key) != "RSA":
		t.errorf("file", "%s holds a %s key; an rsa-NAME section needs an RSA key (name the section private-NAME for any type)", path, keyType(key))
		return
	case s.Type == SecretECDSA && keyType(key) != "ECDSA":
		t.errorf("file", "%s holds a %s key; an ecdsa-NAME section needs an ECDSA key (name the section private-NAME for any type)", path, keyType(key))
		return
	case s.Type == SecretPKCS8 && format != "PKCS#8":
		t.errorf("file", "%s holds a %s key; a pkcs8-NAME section needs PKCS#8 encoding (name the section private-NAME for any encoding)", path, format)
		return
	}
	if t.has("secret") {
		t.warnf("secret", "passphrase not used: %s is not encrypted", path)
	}
	s.Key = PrivateKey{Signer: key}
}

func keyType(k stdcrypto.Signer) string {
	switch k.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}

// parsePrivateKey parses an unencrypted private key in PEM (the first
// private key block) or DER: PKCS#8, PKCS#1 (RSA) or SEC 1 (EC). It says
// which encoding it found. Encrypted keys are refused: the standard library
// cannot decrypt PKCS#8 (RFC 5958) keys, and RFC 1423 PEM encryption is
// insecure. Errors never contain key bytes.
func parsePrivateKey(data []byte) (stdcrypto.Signer, string, error) {
	der, pemType := data, ""
	if rest := data; bytes.Contains(data, []byte("-----BEGIN")) {
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				return nil, "", errors.New("no PEM block with a private key (want BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
			}
			if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
				continue
			}
			if b.Type == "ENCRYPTED PRIVATE KEY" {
				return nil, "", errors.New("is an encrypted PKCS#8 key, which Go's standard library cannot decrypt; store it unencrypted with mode 0600 (openssl pkey -in KEY -out KEY.plain)")
			}
			if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
				return nil, "", errors.New("uses legacy PEM encryption (RFC 1423), which is insecure and not supported; store it unencrypted with mode 0600 (openssl pkey -in KEY -out KEY.plain)")
			}
			der, pemType = b.Bytes, b.Type
			break
		}
	}
	parsers := []struct {
		pemType, format string
		parse           func([]byte) (any, error)
	}{
		{"PRIVATE KEY", "PKCS#8", x509.ParsePKCS8PrivateKey},
		{"RSA PRIVATE KEY", "PKCS#1", func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) }},
		{"EC PRIVATE KEY", "SEC 1", func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) }},
	}
	for _, p := range parsers {
		if pemType != "" && pemType != p.pemType {
			continue
		}
		k, err := p.parse(der)
		if err != nil {
			continue
		}
		signer, ok := k.(stdcrypto.Signer)
		if !ok {
			return nil, "", fmt.Errorf("holds a %T, which cannot sign", k)
		}
		switch signer.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			return signer, p.format, nil
		}
		return nil, "", fmt.Errorf("holds an unsupported %T key (allowed: RSA, ECDSA, Ed25519)", k)
	}
	if pemType != "" {
		return nil, "", fmt.Errorf("the %s block cannot be parsed", pemType)
	}
	return nil, "", errors.New("is not a private key in PEM or DER (PKCS#8, PKCS#1 or SEC 1)")
}

// idTypes are swanctl's identity type prefixes.
var idTypes = []string{"ipv4", "ipv6", "rfc822", "email", "userfqdn", "fqdn", "dns", "asn1dn", "asn1gn", "keyid"}

// maxIDLen bounds an identity: it has to fit an IKE message.
const maxIDLen = 1024

// checkID checks an IKE or EAP identity in swanctl's syntax lightly: it is
// parsed into an RFC 7296 3.5 Identification payload when it is used.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New(`identity must not be empty (use "%any" to match any)`)
	case len(id) > maxIDLen:
		return fmt.Errorf("identity is %d bytes long (at most %d)", len(id), maxIDLen)
	case strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("identity %q contains control characters", id)
	}
	typ, val, ok := strings.Cut(id, ":")
	if !ok {
		return nil
	}
	known := slices.Contains(idTypes, typ)
	if n, isNum := strings.CutPrefix(typ, "{"); isNum && strings.HasSuffix(n, "}") {
		n = strings.TrimSuffix(n, "}")
		_, err := strconv.ParseUint(n, 10, 8)
		known = err == nil && isDigits(n)
		if !known {
			return fmt.Errorf("identity %q: the type in braces must be a number 0..255", id)
		}
	}
	if !known {
		return nil // an IPv6 address, a DN or a name with a colon
	}
	if val == "" {
		return fmt.Errorf("identity %q has a type but no value", id)
	}
	if h, isHex := strings.CutPrefix(val, "#"); isHex {
		if _, err := hex.DecodeString(h); err != nil || h == "" {
			return fmt.Errorf("identity %q: hex after '#' is invalid", id)
		}
		return nil
	}
	switch typ {
	case "ipv4", "ipv6":
		a, err := netip.ParseAddr(val)
		if err != nil || a.Is4() != (typ == "ipv4") || a.Zone() != "" {
			return fmt.Errorf("identity %q: %q is not an %s address", id, val, strings.ToUpper(typ[:2])+typ[2:])
		}
	}
	return nil
}
