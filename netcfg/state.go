package netcfg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/esptun/esptun/internal/sysnet"
)

// stateVersion is the "version" of the state file written by this code.
const stateVersion = 1

// state is the JSON record of every change Apply made, in the state file.
// Each entry is written before the change it describes is made, so after a
// crash it may name a change that never happened: undoing such an entry
// finds nothing to remove and succeeds.
type state struct {
	Version int `json:"version"`
	// OS is "darwin" or "windows" for a state of sysApply, whose changes
	// are in Changes; empty on Linux, whose changes are in the fields
	// below.
	OS        string `json:"os,omitempty"`
	Interface string `json:"interface"`
	Index     int    `json:"ifindex"`
	// LinkUp: Apply set the interface up.
	LinkUp     bool             `json:"link_up,omitempty"`
	Addresses  []netip.Prefix   `json:"addresses,omitempty"`
	Routes     []routeState     `json:"routes,omitempty"`
	Rules      []ruleState      `json:"rules,omitempty"`
	Resolved   *resolvedState   `json:"resolved,omitempty"`
	ResolvConf *resolvConfState `json:"resolv_conf,omitempty"`
	// Changes are the changes on macOS and Windows, in the order made.
	Changes []sysChange `json:"changes,omitempty"`
}

// routeState is a route into the TUN, or a throw route, in Table.
type routeState struct {
	Table int          `json:"table"`
	Dst   netip.Prefix `json:"dst"`
	Throw bool         `json:"throw,omitempty"`
	Src   netip.Addr   `json:"src,omitzero"`
}

// ruleState is a policy routing rule.
type ruleState struct {
	Family   int `json:"family"` // 4 or 6
	Priority int `json:"priority"`
	Table    int `json:"table"`
	// SuppressPrefixlen is -1 for none.
	SuppressPrefixlen int `json:"suppress_prefixlength"`
}

// resolvedState is DNS set on a link through systemd-resolved.
type resolvedState struct {
	Index     int    `json:"ifindex"`
	Interface string `json:"interface"`
}

// resolvConfState is how resolv.conf was before Apply rewrote it.
type resolvConfState struct {
	Path string `json:"path"`
	// Existed is false if there was no file: Undo removes the one Apply
	// wrote.
	Existed bool `json:"existed"`
	// Symlink is the old symlink's target, if the path was a symlink.
	Symlink string `json:"symlink,omitempty"`
	// Old and Mode are the old regular file's bytes and permission bits.
	Old  []byte      `json:"old,omitempty"`
	Mode fs.FileMode `json:"mode,omitempty"`
	// Written is the SHA-256 (hex) of the file Apply wrote, to tell it
	// from a file another program wrote since.
	Written string `json:"written"`
}

// maxStateSize bounds the state file read by Recover.
const maxStateSize = 1 << 20

// decodeState parses and checks a state file. It never panics.
func decodeState(b []byte) (*state, error) {
	if len(b) > maxStateSize {
		return nil, errors.New("netcfg: state file too large")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var st state
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("netcfg: state file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("netcfg: state file: trailing data")
	}
	if err := st.check(); err != nil {
		return nil, err
	}
	return &st, nil
}

// check rejects a state that Undo must not act on.
func (st *state) check() error {
	if st.Version != stateVersion {
		return fmt.Errorf("netcfg: state file version %d, want %d", st.Version, stateVersion)
	}
	if !validIfName(st.Interface) || st.Index < 0 {
		return fmt.Errorf("netcfg: state file: bad interface %q (index %d)", st.Interface, st.Index)
	}
	for _, a := range st.Addresses {
		if !a.IsValid() {
			return errors.New("netcfg: state file: invalid address")
		}
	}
	for _, r := range st.Routes {
		if !r.Dst.IsValid() || r.Table < 1 || r.Table > 252 ||
			r.Src.IsValid() && r.Src.Is4() != r.Dst.Addr().Is4() {
			return fmt.Errorf("netcfg: state file: invalid route %v table %d", r.Dst, r.Table)
		}
	}
	for _, r := range st.Rules {
		if r.Family != 4 && r.Family != 6 || r.Priority < 1 || r.Priority > 32002 ||
			!(r.Table >= 1 && r.Table <= 252 || r.Table == tableMain) ||
			r.SuppressPrefixlen < -1 || r.SuppressPrefixlen > 128 {
			return fmt.Errorf("netcfg: state file: invalid rule %+v", r)
		}
	}
	if r := st.Resolved; r != nil && (r.Index <= 0 || !validIfName(r.Interface)) {
		return errors.New("netcfg: state file: invalid resolved link")
	}
	if r := st.ResolvConf; r != nil {
		if !filepath.IsAbs(r.Path) || r.Mode&^fs.ModePerm != 0 || len(r.Written) != 64 {
			return errors.New("netcfg: state file: invalid resolv.conf record")
		}
	}
	switch st.OS {
	case "":
		if len(st.Changes) > 0 {
			return errors.New("netcfg: state file: changes without an OS")
		}
	case osDarwin, osWindows:
		if !sysnet.ValidIfName(st.Interface) {
			return fmt.Errorf("netcfg: state file: bad interface %q", st.Interface)
		}
		if st.LinkUp || len(st.Addresses)+len(st.Routes)+len(st.Rules) > 0 || st.Resolved != nil || st.ResolvConf != nil {
			return fmt.Errorf("netcfg: state file: Linux changes in a state of %s", st.OS)
		}
		for _, ch := range st.Changes {
			if err := ch.check(st.OS); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("netcfg: state file: unknown OS %q", st.OS)
	}
	return nil
}

// tableMain is the kernel's main routing table (RT_TABLE_MAIN).
const tableMain = 254

// validIfName reports whether s can be a Linux interface name (IFNAMSIZ).
func validIfName(s string) bool {
	return s != "" && len(s) < 16 && !strings.ContainsAny(s, "/ \t\n\x00:")
}

// create writes the first version of the state file, failing with
// ErrStateExists if there is one.
func (a *Applied) create() error {
	if a.stateFile == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(a.stateFile), 0o700); err != nil {
		return fmt.Errorf("netcfg: state file: %w", err)
	}
	b, err := json.MarshalIndent(a.st, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(a.stateFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ErrStateExists
	}
	if err != nil {
		return fmt.Errorf("netcfg: state file: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(a.stateFile)
		return fmt.Errorf("netcfg: state file: %w", err)
	}
	return nil
}

// saveLocked replaces the state file with the current record, atomically.
func (a *Applied) saveLocked() error {
	if a.stateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(a.st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(a.stateFile, b, 0o600); err != nil {
		return fmt.Errorf("netcfg: state file: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with a file holding b: a temporary file in
// the same directory, synced, renamed over path. A symlink at path is
// replaced, not followed.
func writeFileAtomic(path string, b []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".esptun-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Undo takes back every change the Apply that returned a made, last first,
// and removes the state file. A change that is already gone (the TUN device
// was destroyed, taking its addresses and routes) counts as undone. On
// failure Undo carries on with the other changes, keeps the ones it could
// not undo in the state file for a later Undo or Recover, and returns the
// errors joined. Undo after a successful Undo does nothing.
func (a *Applied) Undo() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.undoLocked()
}

func (a *Applied) undoLocked() error {
	st := a.st
	if st == nil {
		return nil
	}
	var errs []error
	// done saves the record after one change was undone. A failed save
	// only means a later Recover retries something already undone.
	done := func() {
		if err := a.saveLocked(); err != nil {
			a.log.Warn("netcfg: could not update the state file", "err", err)
		}
	}
	for i := len(st.Changes) - 1; i >= 0; i-- {
		ch := st.Changes[i]
		if err := a.undoSys(ch); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: undo %s %v: %w", ch.Kind, ch.Dst, err))
			continue
		}
		st.Changes = slices.Delete(st.Changes, i, i+1)
		done()
	}
	if rc := st.ResolvConf; rc != nil {
		if err := restoreResolvConf(rc, a.log); err != nil {
			errs = append(errs, err)
		} else {
			st.ResolvConf = nil
			done()
		}
	}
	if r := st.Resolved; r != nil {
		if err := revertResolved(*r); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: resolved: revert link %s: %w", r.Interface, err))
		} else {
			st.Resolved = nil
			done()
		}
	}
	for i := len(st.Rules) - 1; i >= 0; i-- {
		if err := delRule(st.Rules[i]); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: delete rule %+v: %w", st.Rules[i], err))
			continue
		}
		st.Rules = slices.Delete(st.Rules, i, i+1)
		done()
	}
	for i := len(st.Routes) - 1; i >= 0; i-- {
		if err := delRoute(st.Routes[i]); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: delete route %v table %d: %w", st.Routes[i].Dst, st.Routes[i].Table, err))
			continue
		}
		st.Routes = slices.Delete(st.Routes, i, i+1)
		done()
	}
	for i := len(st.Addresses) - 1; i >= 0; i-- {
		if err := delAddress(st.Interface, st.Addresses[i]); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: delete address %v from %s: %w", st.Addresses[i], st.Interface, err))
			continue
		}
		st.Addresses = slices.Delete(st.Addresses, i, i+1)
		done()
	}
	if st.LinkUp {
		if err := setLinkDown(st.Interface, st.Index); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: set %s down: %w", st.Interface, err))
		} else {
			st.LinkUp = false
			done()
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	a.st = nil
	if a.stateFile != "" {
		if err := os.Remove(a.stateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("netcfg: state file: %w", err)
		}
	}
	return nil
}

// Recover undoes what an earlier run recorded in stateFile and did not undo
// (it crashed or was killed), then removes the file. Without a state file it
// does nothing. A state file that cannot be decoded is renamed to
// stateFile+".corrupt" and reported with ErrBadState, so that Apply can run
// again. Call Recover at start, before anything else configures the TUN
// device: addresses recorded for an interface of the same name are removed
// from whatever device has that name now.
func Recover(stateFile string, log *slog.Logger) error {
	return recoverWith(stateFile, log, hostSys)
}

// recoverWith is Recover with the macOS or Windows host h (nil elsewhere).
func recoverWith(stateFile string, log *slog.Logger, h *sysHost) error {
	log = discardIfNil(log)
	f, err := os.Open(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netcfg: state file: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("netcfg: state file: %w", err)
	}
	st, err := decodeState(b)
	if err != nil {
		if rerr := os.Rename(stateFile, stateFile+".corrupt"); rerr != nil {
			return fmt.Errorf("%w: %v (and could not move it aside: %v)", ErrBadState, err, rerr)
		}
		return fmt.Errorf("%w: %v (moved to %s.corrupt)", ErrBadState, err, stateFile)
	}
	log.Info("netcfg: undoing the host configuration an earlier run left", "state", stateFile,
		"interface", st.Interface, "addresses", len(st.Addresses), "routes", len(st.Routes),
		"rules", len(st.Rules), "resolved", st.Resolved != nil, "resolv.conf", st.ResolvConf != nil,
		"changes", len(st.Changes))
	a := &Applied{stateFile: stateFile, log: log, sys: h, st: st}
	return a.Undo()
}
