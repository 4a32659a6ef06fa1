//go:build interop && linux

package interop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// A minimal client of strongSwan's vici protocol (the versatile IKE control
// interface that swanctl speaks), enough to read list-sas and list-conns
// back as data instead of scraping swanctl's text. Commands that act
// (initiate, terminate, rekey) go through swanctl itself, as an operator
// would type them.
//
// Transport: each packet is a 32-bit big-endian length and that many bytes.
// A packet is a type byte, for named types a 1-byte name length and the
// name, then a message: a sequence of elements, each a type byte followed by
//
//	section start  name (len8)
//	section end    -
//	key/value      name (len8), value (len16)
//	list start     name (len8)
//	list item      value (len16)
//	list end       -

const (
	viciCmdRequest      = 0
	viciCmdResponse     = 1
	viciCmdUnknown      = 2
	viciEventRegister   = 3
	viciEventUnregister = 4
	viciEventConfirm    = 5
	viciEventUnknown    = 6
	viciEvent           = 7

	viciSectionStart = 1
	viciSectionEnd   = 2
	viciKeyValue     = 3
	viciListStart    = 4
	viciListItem     = 5
	viciListEnd      = 6
)

// viciMsg is a decoded vici message: values are string, []string (lists) or
// viciMsg (sections). Section order is lost, which list-sas does not need.
type viciMsg map[string]any

func (m viciMsg) str(k string) string {
	s, _ := m[k].(string)
	return s
}

func (m viciMsg) list(k string) []string {
	l, _ := m[k].([]string)
	return l
}

func (m viciMsg) sect(k string) viciMsg {
	s, _ := m[k].(viciMsg)
	return s
}

// decodeVici decodes one message; it never panics on malformed input.
func decodeVici(b []byte) (viciMsg, error) {
	root := viciMsg{}
	stack := []viciMsg{root}
	var list []string
	var listName string
	inList := false
	name := func() (string, error) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return "", errors.New("vici: short name")
		}
		n := string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
		return n, nil
	}
	value := func() (string, error) {
		if len(b) < 2 {
			return "", errors.New("vici: short value length")
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			return "", errors.New("vici: short value")
		}
		v := string(b[2 : 2+l])
		b = b[2+l:]
		return v, nil
	}
	for len(b) > 0 {
		typ := b[0]
		b = b[1:]
		cur := stack[len(stack)-1]
		switch typ {
		case viciSectionStart:
			n, err := name()
			if err != nil {
				return nil, err
			}
			s := viciMsg{}
			cur[n] = s
			stack = append(stack, s)
		case viciSectionEnd:
			if len(stack) == 1 {
				return nil, errors.New("vici: unbalanced section end")
			}
			stack = stack[:len(stack)-1]
		case viciKeyValue:
			n, err := name()
			if err != nil {
				return nil, err
			}
			v, err := value()
			if err != nil {
				return nil, err
			}
			cur[n] = v
		case viciListStart:
			n, err := name()
			if err != nil {
				return nil, err
			}
			listName, list, inList = n, []string{}, true
		case viciListItem:
			v, err := value()
			if err != nil {
				return nil, err
			}
			if !inList {
				return nil, errors.New("vici: list item outside a list")
			}
			list = append(list, v)
		case viciListEnd:
			if !inList {
				return nil, errors.New("vici: list end outside a list")
			}
			cur[listName] = list
			inList = false
		default:
			return nil, fmt.Errorf("vici: unknown element type %d", typ)
		}
	}
	if len(stack) != 1 || inList {
		return nil, errors.New("vici: truncated message")
	}
	return root, nil
}

type viciConn struct{ c net.Conn }

func dialVici(path string) (*viciConn, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &viciConn{c}, nil
}

func (v *viciConn) Close() error { return v.c.Close() }

func (v *viciConn) send(typ byte, name string, msg []byte) error {
	pkt := make([]byte, 4, 4+2+len(name)+len(msg))
	pkt = append(pkt, typ, byte(len(name)))
	pkt = append(pkt, name...)
	pkt = append(pkt, msg...)
	binary.BigEndian.PutUint32(pkt, uint32(len(pkt)-4))
	_, err := v.c.Write(pkt)
	return err
}

// recv returns the next packet's type, its name (events only) and message.
func (v *viciConn) recv() (byte, string, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(v.c, hdr[:]); err != nil {
		return 0, "", nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > 1<<24 {
		return 0, "", nil, fmt.Errorf("vici: bad packet length %d", n)
	}
	pkt := make([]byte, n)
	if _, err := io.ReadFull(v.c, pkt); err != nil {
		return 0, "", nil, err
	}
	typ, rest := pkt[0], pkt[1:]
	var name string
	if typ == viciEvent {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return 0, "", nil, errors.New("vici: short event name")
		}
		name, rest = string(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
	}
	return typ, name, rest, nil
}

// streamed sends command cmd (with an empty message) and collects every
// event named event that the daemon streams before its response, as
// list-sas does with list-sa events.
func (v *viciConn) streamed(cmd, event string) ([]viciMsg, error) {
	if err := v.send(viciEventRegister, event, nil); err != nil {
		return nil, err
	}
	if typ, _, _, err := v.recv(); err != nil {
		return nil, err
	} else if typ != viciEventConfirm {
		return nil, fmt.Errorf("vici: registering for %s: answer type %d", event, typ)
	}
	if err := v.send(viciCmdRequest, cmd, nil); err != nil {
		return nil, err
	}
	var out []viciMsg
	for {
		typ, name, msg, err := v.recv()
		if err != nil {
			return nil, err
		}
		switch typ {
		case viciEvent:
			if name != event {
				continue
			}
			m, err := decodeVici(msg)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		case viciCmdResponse:
			if err := v.send(viciEventUnregister, event, nil); err == nil {
				v.recv()
			}
			return out, nil
		case viciCmdUnknown:
			return nil, fmt.Errorf("vici: unknown command %s", cmd)
		default:
			return nil, fmt.Errorf("vici: unexpected packet type %d", typ)
		}
	}
}

// viciListSAs returns the IKE SAs of the charon listening on socket path, as
// the list-sa events carry them: one message per IKE SA, keyed by the
// connection name.
func viciListSAs(path string) ([]viciMsg, error) {
	v, err := dialVici(path)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	return v.streamed("list-sas", "list-sa")
}
