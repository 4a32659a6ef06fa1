// Package control is the daemon's control socket: a Unix socket, owner-only,
// speaking one JSON request and one JSON response per connection. `esptun
// status` and the swanctl-like verbs use it.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Request is one command to the daemon.
type Request struct {
	Cmd  string            `json:"cmd"` // "status", ...
	Args map[string]string `json:"args,omitempty"`
}

// Response is the daemon's answer. Data holds the command's result.
type Response struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Handler answers one request. It is called from the connection's goroutine.
type Handler func(ctx context.Context, req Request) (any, error)

// Server accepts control connections until Close.
type Server struct {
	path string
	ln   net.Listener
	h    Handler
	log  *slog.Logger
	wg   sync.WaitGroup
}

// Listen creates the socket at path with mode 0600 in a directory it creates
// with mode 0700 if missing. A stale socket left by a crash is replaced; a
// live one (another daemon answers) is an error.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("control: %s: another esptun is running there", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	s := &Server{path: path, ln: ln, h: h, log: log}
	s.wg.Add(1)
	go s.routineAccept()
	return s, nil
}

func (s *Server) routineAccept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control socket accept failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go s.routineServe(c)
	}
}

func (s *Server) routineServe(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	var req Request
	dec := json.NewDecoder(c)
	if err := dec.Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(Response{Error: "bad request: " + err.Error()})
		return
	}
	timeout := time.Minute
	if d, err := time.ParseDuration(req.Args["timeout"]); err == nil && d > 0 && d <= time.Hour {
		timeout = d
	}
	_ = c.SetDeadline(time.Now().Add(timeout + 5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	data, err := s.h(ctx, req)
	if err != nil {
		_ = json.NewEncoder(c).Encode(Response{Error: err.Error()})
		return
	}
	if data == nil {
		_ = json.NewEncoder(c).Encode(Response{OK: true})
		return
	}
	// A Response with data encoded straight into the connection: a status
	// of every SA is 16 MB of JSON at 10 000 SAs, and json.Marshal into
	// Response.Data and encoding that again made two more copies of it.
	// The encoder writes nothing when data does not encode, so the
	// buffered envelope can still be dropped for the error.
	w := bufio.NewWriter(c)
	_, _ = w.WriteString(`{"ok":true,"data":`)
	if err := json.NewEncoder(w).Encode(data); err != nil {
		w.Reset(c)
		_ = json.NewEncoder(w).Encode(Response{Error: err.Error()})
		_ = w.Flush()
		return
	}
	_, _ = w.WriteString("}\n")
	_ = w.Flush()
}

// Close stops accepting, waits for open connections and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	_ = os.Remove(s.path)
	return err
}

// Call sends req to the daemon at path and decodes the result into out (if
// not nil).
func Call(path string, req Request, out any) error {
	return CallTimeout(path, req, out, 0)
}

// CallTimeout is Call for requests that wait on the network: the daemon
// gets timeout to answer (0: the default of a minute).
func CallTimeout(path string, req Request, out any, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = time.Minute
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return fmt.Errorf("cannot reach esptun at %s: %w", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout + 10*time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return err
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("control: bad response: %w", err)
	}
	if !resp.OK {
		return errors.New(resp.Error)
	}
	if out != nil && resp.Data != nil {
		return json.Unmarshal(resp.Data, out)
	}
	return nil
}
