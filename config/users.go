package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// maxUsersFileSize bounds a users file: some 100000 users.
const maxUsersFileSize = 16 << 20

// usersFile reads the users_file of an eap-* section: esptun's own way to
// give many EAP users, where swanctl needs one section per user. Each user
// becomes one SecretEAP Secret named after the section. Problems in the
// file are reported as "USERSFILE:LINE: message" and never show a
// password.
func (c *checker) usersFile(t *table, sec *Secret) []*Secret {
	for _, k := range t.keysInOrder() {
		switch {
		case k == "users_file":
		case k == "secret" || k == "secret_file" || strings.HasPrefix(k, "id"):
			t.errorf(k, "users_file gives every user's identity and password, so %s cannot be combined with it; use a separate [secrets.eap-NAME] section", k)
		default:
			t.errorf(k, "unknown key (allowed in [%s]: id, id<suffix> such as id-1, secret, secret_file; or users_file alone)", formatPath(t.path))
		}
	}
	p, ok := t.str("users_file")
	if !ok {
		return nil
	}
	path, err := c.resolve(p)
	if err != nil || p == "" {
		t.errorf("users_file", "invalid path %q", p)
		return nil
	}
	data, exposed, mode, err := readPrivateLimit(path, maxUsersFileSize)
	if err != nil {
		t.errorf("users_file", "%s %v", path, err)
		return nil
	}
	if exposed {
		t.warnf("users_file", "%s holds passwords but is readable by group or others (mode %04o); chmod 600 %s", path, mode, path)
	}
	users, problems := parseUsers(data)
	for _, pr := range problems {
		c.errs = append(c.errs, &Error{File: path, Line: pr.line, Msg: pr.msg})
	}
	if len(users) == 0 && len(problems) == 0 {
		t.warnf("users_file", "%s holds no users", path)
	}
	out := make([]*Secret, 0, len(users))
	for _, u := range users {
		out = append(out, &Secret{
			Name: sec.Name, Line: sec.Line, Type: SecretEAP,
			IDs: []string{u.id}, Data: u.password,
			File: path, FileLine: u.line, fromFile: true,
		})
	}
	return out
}

// eapUser is one entry of a users file.
type eapUser struct {
	id       string
	password SecretBytes
	line     int
}

// lineProblem is a problem on one line of a users file.
type lineProblem struct {
	line int
	msg  string
}

// parseUsers parses a users file: one "USER: PASSWORD" per line; blank
// lines and lines whose first non-blank character is '#' are ignored.
// USER is an EAP identity in swanctl's syntax, double-quoted when it holds
// a colon ("fqdn:carol"); PASSWORD is everything after the colon with the
// surrounding blanks removed, or a double-quoted string taken literally
// (escapes \" and \\), or, unquoted, "0x" hex or "0s" base64 as in
// swanctl. A user may appear once. Messages never contain a password or,
// for a line without a separator, anything of the line.
func parseUsers(data []byte) ([]eapUser, []lineProblem) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var users []eapUser
	var problems []lineProblem
	first := map[string]int{}
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		fail := func(format string, args ...any) {
			problems = append(problems, lineProblem{n, fmt.Sprintf(format, args...)})
		}
		var id, rest string
		if line[0] == '"' {
			var ok bool
			id, rest, ok = unquoteUsers(line)
			if !ok {
				fail("the user's opening quote is not closed (the line is not shown)")
				continue
			}
			rest = strings.TrimLeft(rest, " \t")
			if !strings.HasPrefix(rest, ":") {
				fail("expected USER: PASSWORD, but no ':' follows user %q", id)
				continue
			}
			rest = rest[1:]
		} else {
			var ok bool
			id, rest, ok = strings.Cut(line, ":")
			if !ok {
				fail("expected USER: PASSWORD, found no ':' (the line is not shown)")
				continue
			}
			id = strings.TrimSpace(id)
		}
		if err := checkID(id); err != nil {
			fail("user: %v", err)
			continue
		}
		if id == "%any" {
			fail(`user "%%any" would share one password among all users; give each user a name (a [secrets.eap-NAME] section without id serves any identity)`)
			continue
		}
		pw, err := parseUserPassword(strings.TrimSpace(rest))
		if err != nil {
			fail("user %q: password %v", id, err)
			continue
		}
		if prev, dup := first[id]; dup {
			fail("user %q is listed twice (first on line %d)", id, prev)
			continue
		}
		first[id] = n
		users = append(users, eapUser{id: id, password: pw, line: n})
	}
	return users, problems
}

// parseUserPassword decodes the password part of a users file line. Its
// errors never contain the password.
func parseUserPassword(s string) (SecretBytes, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	if s[0] == '"' {
		pw, rest, ok := unquoteUsers(s)
		switch {
		case !ok:
			return nil, errors.New("has an opening quote that is not closed (the password is not shown)")
		case strings.TrimSpace(rest) != "":
			return nil, errors.New("has text after its closing quote (the password is not shown)")
		case pw == "":
			return nil, errors.New("is empty")
		}
		return SecretBytes(pw), nil
	}
	b, err := decodeSecret(s)
	if err != nil {
		return nil, err
	}
	return SecretBytes(b), nil
}

// unquoteUsers reads the double-quoted string at the start of s, with the
// escapes \" and \\ (other backslashes are literal), and returns it and
// what follows.
func unquoteUsers(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], true
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}
