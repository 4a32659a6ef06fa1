package netcfg

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
)

// renderResolvConf returns the resolv.conf that names servers as its only
// nameservers and keeps the lines of old that are not nameserver lines or
// comments (search, domain, options, sortlist), in their order.
func renderResolvConf(old []byte, servers []netip.Addr, iface string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# DNS of the esptun connection on %s; the previous file comes back when it goes down.\n", iface)
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	sc := bufio.NewScanner(bytes.NewReader(old))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		t := bytes.TrimLeft(line, " \t")
		if len(t) == 0 || t[0] == '#' || t[0] == ';' {
			continue
		}
		if f := bytes.Fields(t); len(f) == 0 || string(f[0]) == "nameserver" {
			continue
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// prepareResolvConf records how path is now and returns the record and the
// bytes to write.
func prepareResolvConf(path string, servers []netip.Addr, iface string) (*resolvConfState, []byte, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("netcfg: resolv.conf: %w", err)
	}
	rc := &resolvConfState{Path: path, Mode: 0o644}
	var cur []byte
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, nil, fmt.Errorf("netcfg: resolv.conf: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		rc.Existed = true
		if rc.Symlink, err = os.Readlink(path); err != nil {
			return nil, nil, fmt.Errorf("netcfg: resolv.conf: %w", err)
		}
		// Keep the search and options lines of the file it points to,
		// if there is one.
		cur, _ = os.ReadFile(path)
	case fi.Mode().IsRegular():
		rc.Existed = true
		rc.Mode = fi.Mode().Perm()
		if cur, err = os.ReadFile(path); err != nil {
			return nil, nil, fmt.Errorf("netcfg: resolv.conf: %w", err)
		}
		rc.Old = cur
	default:
		return nil, nil, fmt.Errorf("netcfg: resolv.conf: %s is not a regular file", path)
	}
	content := renderResolvConf(cur, servers, iface)
	rc.Written = sha256Hex(content)
	return rc, content, nil
}

// replaceFile writes b at path atomically; if the rename fails and path is
// a regular file (a bind mount cannot be renamed over), it rewrites the file
// in place.
func replaceFile(path string, b []byte, perm fs.FileMode) error {
	err := writeFileAtomic(path, b, perm)
	if err == nil {
		return nil
	}
	if fi, lerr := os.Lstat(path); lerr != nil || !fi.Mode().IsRegular() {
		return err
	}
	f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if ferr != nil {
		return fmt.Errorf("%w (in place: %v)", err, ferr)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("%w (in place: %v)", err, werr)
	}
	return nil
}

// writeResolvConf writes the prepared content.
func writeResolvConf(rc *resolvConfState, content []byte) error {
	if err := replaceFile(rc.Path, content, rc.Mode); err != nil {
		return fmt.Errorf("netcfg: resolv.conf: %w", err)
	}
	return nil
}

// restoreResolvConf puts back what prepareResolvConf recorded, if the file
// is still the one Apply wrote.
func restoreResolvConf(rc *resolvConfState, log *slog.Logger) error {
	fi, err := os.Lstat(rc.Path)
	var cur []byte
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if rc.Existed {
			log.Warn("netcfg: resolv.conf was removed by another program while the tunnel was up; leaving it", "path", rc.Path)
		}
		return nil
	case err != nil:
		return fmt.Errorf("netcfg: resolv.conf: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		if target, _ := os.Readlink(rc.Path); rc.Symlink == "" || target != rc.Symlink {
			log.Warn("netcfg: resolv.conf was replaced by another program while the tunnel was up; leaving it", "path", rc.Path)
		}
		return nil // already restored, or not ours
	case fi.Mode().IsRegular():
		if cur, err = os.ReadFile(rc.Path); err != nil {
			return fmt.Errorf("netcfg: resolv.conf: %w", err)
		}
	default:
		log.Warn("netcfg: resolv.conf is no longer a regular file; leaving it", "path", rc.Path)
		return nil
	}
	if sha256Hex(cur) != rc.Written {
		if !(rc.Existed && rc.Symlink == "" && bytes.Equal(cur, rc.Old)) {
			log.Warn("netcfg: resolv.conf was changed by another program while the tunnel was up; leaving it", "path", rc.Path)
		}
		return nil // already restored, or not ours
	}
	switch {
	case !rc.Existed:
		err = os.Remove(rc.Path)
	case rc.Symlink != "":
		err = symlinkAtomic(rc.Symlink, rc.Path)
	default:
		err = replaceFile(rc.Path, rc.Old, rc.Mode)
	}
	if err != nil {
		return fmt.Errorf("netcfg: resolv.conf: restore: %w", err)
	}
	return nil
}

// symlinkAtomic replaces path with a symlink to target.
func symlinkAtomic(target, path string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".esptun-link")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
