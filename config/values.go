package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// checker collects the problems of one file.
type checker struct {
	file  string
	dir   string // directory relative file names are taken from
	lines keyLines
	errs  Errors
	warns Errors
}

// lineOf returns the line of path, or of its nearest ancestor that has one.
func (c *checker) lineOf(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := c.lines[pathID(path[:n])]; ok {
			return l
		}
	}
	return 0
}

func (c *checker) errorf(path []string, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Line: c.lineOf(path), Key: formatPath(path), Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(path []string, format string, args ...any) {
	c.warns = append(c.warns, &Error{File: c.file, Line: c.lineOf(path), Key: formatPath(path), Msg: fmt.Sprintf(format, args...)})
}

// sortByLine orders errors by line, keeping the order of discovery for
// errors on the same line. Errors in file come first; those in other files
// (a users_file) follow, grouped by file.
func sortByLine(es Errors, file string) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if (a.File == file) != (b.File == file) {
			return a.File == file
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
}

// table is one TOML table under validation.
type table struct {
	c    *checker
	path []string
	m    map[string]any
}

func (t *table) sub(k ...string) []string {
	return append(append([]string(nil), t.path...), k...)
}

func (t *table) has(k string) bool {
	_, ok := t.m[k]
	return ok
}

func (t *table) line(k string) int { return t.c.lineOf(t.sub(k)) }

// errorf reports a problem with key k of the table.
func (t *table) errorf(k string, format string, args ...any) {
	t.c.errorf(t.sub(k), format, args...)
}

func (t *table) warnf(k string, format string, args ...any) {
	t.c.warnf(t.sub(k), format, args...)
}

// keysInOrder returns the table's keys in source order.
func (t *table) keysInOrder() []string {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := t.line(keys[i]), t.line(keys[j])
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// unknown reports every key of the table that is not in allowed.
func (t *table) unknown(allowed []string) {
	for _, k := range t.keysInOrder() {
		if !slices.Contains(allowed, k) {
			t.errorf(k, "unknown key (allowed in [%s]: %s)", formatPath(t.path), strings.Join(allowed, ", "))
		}
	}
}

// typeName names the type of a decoded TOML value for messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// str returns the string value of k; ok is false when k is absent or not a
// string (then an error has been reported).
func (t *table) str(k string) (s string, ok bool) {
	v, present := t.m[k]
	if !present {
		return "", false
	}
	s, ok = v.(string)
	if !ok {
		t.errorf(k, "must be a string, not %s", typeName(v))
	}
	return s, ok
}

// boolean returns the value of k, or def when it is absent or invalid.
func (t *table) boolean(k string, def bool) bool {
	v, present := t.m[k]
	if !present {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		if s, isStr := v.(string); isStr && slices.Contains([]string{"yes", "no"}, strings.ToLower(s)) {
			t.errorf(k, "must be true or false, not a string (swanctl's %s is written %v in TOML, unquoted)", s, strings.EqualFold(s, "yes"))
			return def
		}
		t.errorf(k, "must be true or false, not %s", typeName(v))
		return def
	}
	return b
}

// float returns the value of k if it is a number (integer or float) in
// lo..hi.
func (t *table) float(k string, lo, hi float64) (float64, bool) {
	v, present := t.m[k]
	if !present {
		return 0, false
	}
	var f float64
	switch v := v.(type) {
	case int64:
		f = float64(v)
	case float64:
		f = v
	default:
		t.errorf(k, "must be a number in %g..%g, not %s", lo, hi, typeName(v))
		return 0, false
	}
	if !(f >= lo && f <= hi) { // NaN fails too
		t.errorf(k, "%g is out of range (allowed: %g..%g)", f, lo, hi)
		return 0, false
	}
	return f, true
}

// integer returns the value of k if it is an integer in lo..hi.
func (t *table) integer(k string, lo, hi int64) (int64, bool) {
	v, present := t.m[k]
	if !present {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		t.errorf(k, "must be an integer in %d..%d, not %s", lo, hi, typeName(v))
		return 0, false
	}
	if n < lo || n > hi {
		t.errorf(k, "%d is out of range (allowed: %d..%d)", n, lo, hi)
		return 0, false
	}
	return n, true
}

// oneOf returns the string value of k if it is one of allowed.
func (t *table) oneOf(k string, allowed ...string) (string, bool) {
	s, ok := t.str(k)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, s) {
		t.errorf(k, "unknown value %q (allowed: %s)", s, strings.Join(allowed, ", "))
		return "", false
	}
	return s, true
}

// strList returns the value of k if it is an array of strings. Errors name
// the element: key[2].
func (t *table) strList(k string) ([]string, bool) {
	v, present := t.m[k]
	if !present {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.errorf(k, "must be an array of strings, e.g. [\"...\"], not %s", typeName(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			t.errorf(k, "element %d must be a string, not %s", i, typeName(e))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// port returns the value of k if it is a port number.
func (t *table) port(k string) (uint16, bool) {
	n, ok := t.integer(k, 1, 65535)
	return uint16(n), ok
}

// duration returns the value of k as a duration: an integer number of
// seconds, or a string in swanctl's form ("30", "30s", "10m", "4h", "1d") or
// Go's ("1h30m", "1.5h").
func (t *table) duration(k string) (time.Duration, bool) {
	v, present := t.m[k]
	if !present {
		return 0, false
	}
	const allowed = `allowed: integer seconds, swanctl style "30s", "10m", "4h", "1d", or Go style "1h30m"`
	switch v := v.(type) {
	case int64:
		if v < 0 || v > int64(math.MaxInt64/time.Second) {
			t.errorf(k, "%d seconds is out of range (%s)", v, allowed)
			return 0, false
		}
		return time.Duration(v) * time.Second, true
	case string:
		d, err := parseDuration(v)
		if err != nil {
			t.errorf(k, "%v (%s)", err, allowed)
			return 0, false
		}
		return d, true
	}
	t.errorf(k, "must be a duration string or integer seconds, not %s (%s)", typeName(v), allowed)
	return 0, false
}

func parseDuration(s string) (time.Duration, error) {
	str := strings.TrimSpace(s)
	num, unit := str, time.Second
	if n := len(str); n > 0 {
		switch str[n-1] {
		case 's', 'S':
			num = str[:n-1]
		case 'm', 'M':
			num, unit = str[:n-1], time.Minute
		case 'h', 'H':
			num, unit = str[:n-1], time.Hour
		case 'd', 'D':
			num, unit = str[:n-1], 24*time.Hour
		}
	}
	if num = strings.TrimSpace(num); isDigits(num) {
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > uint64(math.MaxInt64/unit) {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return d, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// byteCount returns the value of k as a number of bytes: an integer, or a
// string of digits with an optional K, M or G suffix (powers of 1024, case
// insensitive), as swanctl's rekey_bytes and life_bytes take.
func (t *table) byteCount(k string) (uint64, bool) {
	v, present := t.m[k]
	if !present {
		return 0, false
	}
	const allowed = `allowed: an integer, or a string like "500000", "512K", "100M", "2G"`
	switch v := v.(type) {
	case int64:
		if v < 0 {
			t.errorf(k, "%d must not be negative (%s)", v, allowed)
			return 0, false
		}
		return uint64(v), true
	case string:
		n, err := parseBytes(v)
		if err != nil {
			t.errorf(k, "%v (%s)", err, allowed)
			return 0, false
		}
		return n, true
	}
	t.errorf(k, "must be an integer or a string, not %s (%s)", typeName(v), allowed)
	return 0, false
}

func parseBytes(s string) (uint64, error) {
	str := strings.TrimSpace(s)
	num, mult := str, uint64(1)
	if n := len(str); n > 0 {
		switch str[n-1] {
		case 'k', 'K':
			num, mult = str[:n-1], 1<<10
		case 'm', 'M':
			num, mult = str[:n-1], 1<<20
		case 'g', 'G':
			num, mult = str[:n-1], 1<<30
		}
	}
	num = strings.TrimSpace(num)
	if !isDigits(num) {
		return 0, fmt.Errorf("invalid byte count %q", s)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > math.MaxUint64/mult {
		return 0, fmt.Errorf("byte count %q is out of range", s)
	}
	return n * mult, nil
}

// count returns the value of k as a plain non-negative count: an integer or
// a string of decimal digits.
func (t *table) count(k string) (uint64, bool) {
	v, present := t.m[k]
	if !present {
		return 0, false
	}
	switch v := v.(type) {
	case int64:
		if v >= 0 {
			return uint64(v), true
		}
	case string:
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil && isDigits(strings.TrimSpace(v)) {
			return n, true
		}
	}
	t.errorf(k, "must be a non-negative integer, got %s", describe(v))
	return 0, false
}

// describe shows a scalar value in messages; it is only used for keys that
// hold no secrets.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return typeName(v)
}

// parseHostAddr parses an IP address for an address key; hostnames are
// refused because the configuration never resolves names.
func parseHostAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid IP address %q (hostnames are not resolved; give an IPv4 or IPv6 address)", s)
	}
	return a, nil
}
