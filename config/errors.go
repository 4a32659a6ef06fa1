package config

import (
	"strconv"
	"strings"
)

// Error is one problem in a configuration file. Line is 1-based; 0 means the
// problem has no single line (a missing section, a file-level check). Key is
// the dotted TOML path of the offending key or section, for example
// "manual.site.key_out"; it is empty for TOML syntax errors.
//
// Messages never contain key material.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error formats e as "FILE:LINE: key: message", leaving out the line when it
// is 0 and the key when it is empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration file, in line order.
// Load and Parse return it (never empty) as their error.
type Errors []*Error

// Error joins the errors with newlines, one per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As access to each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
