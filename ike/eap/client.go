package eap

import (
	"bytes"
	"fmt"
)

// clientMethod is one EAP method as the peer runs it. The client
// conversation answers Identity and Notification requests, Naks other types,
// and owns Success, Failure and retransmissions.
type clientMethod interface {
	methodType() Type
	// handle processes the Type-Data of a Request of methodType and
	// returns the Type-Data of the Response.
	handle(data []byte, id uint8) ([]byte, error)
	// succeeded reports whether the method authenticated the server and
	// derived its keys, so that EAP-Success may be accepted.
	succeeded() bool
	msk() []byte
	maxRounds() int
	close()
}

// client is the conversation every Client constructor returns.
type client struct {
	identity string
	m        clientMethod

	answered bool
	lastID   uint8
	lastReq  []byte
	lastResp []byte

	rounds int
	over   bool
	ok     bool
	key    []byte // MSK, copied from the method on success
}

func newClient(identity string, m clientMethod) *client {
	return &client{identity: identity, m: m}
}

// identityRounds covers the Identity and Notification requests a server
// may send around the method.
const identityRounds = 4

func (c *client) Handle(req []byte) ([]byte, bool, error) {
	if c.over {
		return nil, true, ErrDone
	}
	p, err := Parse(req)
	if err != nil {
		return c.fail(err)
	}
	switch p.Code {
	case CodeSuccess:
		// RFC 3748 4.2: Success answers our last Response.
		if !c.answered || p.Identifier != c.lastID {
			return c.fail(fmt.Errorf("%w: success %d after response %d", ErrIdentifier, p.Identifier, c.lastID))
		}
		// RFC 3748 7.16: never accept a Success the method did not earn
		// (mutual authentication and keys first).
		if !c.m.succeeded() {
			return c.fail(ErrPrematureSuccess)
		}
		c.ok = true
		c.over = true
		if k := c.m.msk(); k != nil {
			c.key = append([]byte(nil), k...)
		}
		c.m.close()
		return nil, true, nil
	case CodeFailure:
		return c.fail(ErrFailure)
	case CodeResponse:
		return c.fail(fmt.Errorf("%w: Response from the server", ErrUnexpected))
	}
	whole := req[:headerLen+1+len(p.TypeData)]
	// RFC 3748 4.1: a retransmitted Request gets the same Response.
	if c.answered && p.Identifier == c.lastID && bytes.Equal(whole, c.lastReq) {
		return append([]byte(nil), c.lastResp...), false, nil
	}
	c.rounds++
	if c.rounds > c.m.maxRounds()+identityRounds {
		return c.fail(fmt.Errorf("%w: %d", ErrTooManyRounds, c.rounds))
	}
	var (
		typ  = p.Type
		data []byte
	)
	switch p.Type {
	case TypeIdentity:
		// RFC 3748 5.1: any Type-Data is a displayable prompt; ignored.
		data = []byte(c.identity)
	case TypeNotification:
		// RFC 3748 5.2: acknowledge with an empty Notification.
		data = nil
	case TypeNak:
		return c.fail(fmt.Errorf("%w: Nak in a request", ErrMalformed))
	case c.m.methodType():
		data, err = c.m.handle(p.TypeData, p.Identifier)
		if err != nil {
			return c.fail(err)
		}
	default:
		// RFC 3748 5.3.1: Legacy Nak naming the method we can do.
		typ = TypeNak
		data = []byte{byte(c.m.methodType())}
	}
	resp, err := Packet{Code: CodeResponse, Identifier: p.Identifier, Type: typ, TypeData: data}.Marshal()
	if err != nil {
		return c.fail(err)
	}
	c.answered = true
	c.lastID = p.Identifier
	c.lastReq = append(c.lastReq[:0], whole...)
	c.lastResp = append(c.lastResp[:0], resp...)
	return resp, false, nil
}

func (c *client) fail(err error) ([]byte, bool, error) {
	c.over = true
	c.m.close()
	return nil, true, err
}

// MSK returns a copy of the MSK once EAP-Success was accepted, else nil.
func (c *client) MSK() []byte {
	if !c.ok || c.key == nil {
		return nil
	}
	return append([]byte(nil), c.key...)
}

// Close ends the conversation, stops any goroutine and wipes secrets; read
// MSK before.
func (c *client) Close() error {
	c.over = true
	c.ok = false
	c.m.close()
	wipe(c.key)
	c.key = nil
	return nil
}
