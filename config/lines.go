package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// keyLines maps a TOML key path (see pathID) to the line where the key, or
// the table it names, first appears. BurntSushi/toml keeps key positions
// private, so scanKeyLines recovers them from the source.
type keyLines map[string]int

// pathID is the map key for a path of decoded (unquoted) TOML key parts.
func pathID(path []string) string { return strings.Join(path, "\x00") }

// scanKeyLines records the line of every key and table header in src: [a.b]
// and [[a.b]] headers, key = value lines with bare, quoted and dotted keys,
// and the keys of inline tables. Array elements are skipped. It only needs to
// be right for documents the TOML decoder accepted, but it must terminate and
// never panic on any input.
func scanKeyLines(src string) keyLines {
	sc := &lineScanner{s: src, line: 1, out: make(keyLines)}
	if strings.HasPrefix(sc.s, "\xef\xbb\xbf") {
		sc.i = 3
	}
	var table []string
	for {
		sc.skipBlank()
		if sc.eof() {
			break
		}
		start := sc.i
		if sc.peek() == '[' {
			sc.adv(1)
			if sc.peek() == '[' {
				sc.adv(1)
			}
			sc.skipSpace()
			line := sc.line
			key := sc.key()
			if key != nil {
				table = key
				sc.record(table, line)
			}
			for !sc.eof() && sc.peek() != ']' && sc.peek() != '\n' {
				sc.adv(1)
			}
			for sc.peek() == ']' {
				sc.adv(1)
			}
		} else {
			line := sc.line
			key := sc.key()
			if key != nil {
				sc.skipSpace()
				if sc.peek() == '=' {
					sc.adv(1)
				}
				sc.skipSpace()
				full := append(append([]string(nil), table...), key...)
				sc.record(full, line)
				sc.value(full)
			}
		}
		if sc.i == start {
			sc.adv(1) // not TOML; keep going
		}
	}
	return sc.out
}

type lineScanner struct {
	s    string
	i    int
	line int
	out  keyLines
}

func (sc *lineScanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *lineScanner) peek() byte {
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

func (sc *lineScanner) has(p string) bool { return strings.HasPrefix(sc.s[sc.i:], p) }

func (sc *lineScanner) adv(n int) {
	for ; n > 0 && sc.i < len(sc.s); n-- {
		if sc.s[sc.i] == '\n' {
			sc.line++
		}
		sc.i++
	}
}

// record sets the line of path and of every table above it that has none yet.
func (sc *lineScanner) record(path []string, line int) {
	for n := 1; n <= len(path); n++ {
		id := pathID(path[:n])
		if _, ok := sc.out[id]; !ok {
			sc.out[id] = line
		}
	}
}

// skipSpace skips spaces and tabs (and a CR, which only ends a line in TOML).
func (sc *lineScanner) skipSpace() {
	for c := sc.peek(); c == ' ' || c == '\t' || c == '\r'; c = sc.peek() {
		sc.adv(1)
	}
}

// skipBlank skips whitespace, newlines and comments.
func (sc *lineScanner) skipBlank() {
	for !sc.eof() {
		switch sc.peek() {
		case ' ', '\t', '\r', '\n':
			sc.adv(1)
		case '#':
			for !sc.eof() && sc.peek() != '\n' {
				sc.adv(1)
			}
		default:
			return
		}
	}
}

// key reads a possibly dotted key and returns its decoded parts, or nil if
// there is no key here.
func (sc *lineScanner) key() []string {
	var parts []string
	for {
		sc.skipSpace()
		start := sc.i
		var part string
		switch sc.peek() {
		case '"':
			sc.adv(1)
			for !sc.eof() && sc.peek() != '"' && sc.peek() != '\n' {
				if sc.peek() == '\\' {
					sc.adv(1)
				}
				sc.adv(1)
			}
			part = unescapeBasic(sc.s[start+1 : sc.i])
			sc.adv(1)
		case '\'':
			sc.adv(1)
			for !sc.eof() && sc.peek() != '\'' && sc.peek() != '\n' {
				sc.adv(1)
			}
			part = sc.s[start+1 : sc.i]
			sc.adv(1)
		default:
			for !sc.eof() && !strings.ContainsRune(" \t\r\n.=[]{}\"'#,", rune(sc.peek())) {
				sc.adv(1)
			}
			if sc.i == start {
				return parts
			}
			part = sc.s[start:sc.i]
		}
		parts = append(parts, part)
		sc.skipSpace()
		if sc.peek() != '.' {
			return parts
		}
		sc.adv(1)
	}
}

// value skips one value; the keys of inline tables are recorded under path
// unless path is nil (inside arrays).
func (sc *lineScanner) value(path []string) {
	switch {
	case sc.has(`"""`):
		sc.adv(3)
		for !sc.eof() {
			if sc.peek() == '\\' {
				sc.adv(2)
				continue
			}
			if sc.has(`"""`) {
				for sc.peek() == '"' { // up to two quotes may end the content
					sc.adv(1)
				}
				return
			}
			sc.adv(1)
		}
	case sc.has(`'''`):
		sc.adv(3)
		for !sc.eof() {
			if sc.has(`'''`) {
				for sc.peek() == '\'' {
					sc.adv(1)
				}
				return
			}
			sc.adv(1)
		}
	case sc.peek() == '"':
		sc.adv(1)
		for !sc.eof() && sc.peek() != '"' && sc.peek() != '\n' {
			if sc.peek() == '\\' {
				sc.adv(1)
			}
			sc.adv(1)
		}
		sc.adv(1)
	case sc.peek() == '\'':
		sc.adv(1)
		for !sc.eof() && sc.peek() != '\'' && sc.peek() != '\n' {
			sc.adv(1)
		}
		sc.adv(1)
	case sc.peek() == '[':
		sc.adv(1)
		for !sc.eof() {
			sc.skipBlank()
			if sc.peek() == ']' {
				sc.adv(1)
				return
			}
			before := sc.i
			sc.value(nil)
			sc.skipBlank()
			if sc.peek() == ',' {
				sc.adv(1)
			}
			if sc.i == before {
				sc.adv(1)
			}
		}
	case sc.peek() == '{':
		sc.adv(1)
		for !sc.eof() {
			sc.skipBlank()
			if sc.peek() == '}' {
				sc.adv(1)
				return
			}
			before := sc.i
			line := sc.line
			if key := sc.key(); key != nil {
				sc.skipSpace()
				if sc.peek() == '=' {
					sc.adv(1)
				}
				sc.skipSpace()
				var full []string
				if path != nil {
					full = append(append([]string(nil), path...), key...)
					sc.record(full, line)
				}
				sc.value(full)
			}
			sc.skipBlank()
			if sc.peek() == ',' {
				sc.adv(1)
			}
			if sc.i == before {
				sc.adv(1)
			}
		}
	default: // number, bool, date-time: runs to a delimiter
		for !sc.eof() && !strings.ContainsRune(",]}#\n", rune(sc.peek())) {
			sc.adv(1)
		}
	}
}

// unescapeBasic decodes the escapes of a TOML basic string. Malformed escapes
// are kept as written; the decoder has already rejected them.
func unescapeBasic(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(s[i])
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]
			if i+1+n <= len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// formatPath renders a key path the way TOML would write it, quoting parts
// that are not bare keys: manual.site.esp, manual."my site".esp.
func formatPath(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(p) {
			b.WriteString(p)
		} else {
			b.WriteString(quoteKey(p))
		}
	}
	return b.String()
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// quoteKey quotes s as a TOML basic string.
func quoteKey(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == utf8.RuneError, r < 0x20, r == 0x7f:
			b.WriteString(`\u`)
			b.WriteString(strconv.FormatInt(int64(r)|0x10000, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
