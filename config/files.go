package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxFileSize bounds what Parse reads of a secret or key file.
const maxFileSize = 1 << 20

// resolve makes p absolute, taking a relative p from the configuration
// file's directory.
func (c *checker) resolve(p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.dir, p)
	}
	return filepath.Abs(p)
}

// openRegular opens path if it is a regular file. Special files are refused
// before they are opened: opening a FIFO or a terminal would block.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fileError(err)
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, nil, errors.New("is a directory, not a file")
		}
		return nil, nil, errors.New("is not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fileError(err)
	}
	return f, fi, nil
}

// fileError gives the reason of an os error without the path, which the
// message names already.
func fileError(err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("does not exist")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("cannot be read (permission denied)")
	case errors.As(err, &pe):
		return fmt.Errorf("cannot be read: %v", pe.Err)
	}
	return fmt.Errorf("cannot be read: %v", err)
}

// checkReadable reports why path cannot be read, or nil.
func checkReadable(path string) error {
	f, _, err := openRegular(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// readPrivate reads a file holding secrets, at most maxFileSize bytes. It
// reports whether group or others may read it (never on Windows, where the
// mode does not say so).
func readPrivate(path string) (data []byte, exposed bool, mode fs.FileMode, err error) {
	return readPrivateLimit(path, maxFileSize)
}

// readPrivateLimit is readPrivate for files of at most limit bytes.
func readPrivateLimit(path string, limit int) (data []byte, exposed bool, mode fs.FileMode, err error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, false, 0, err
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, false, 0, fileError(err)
	}
	if len(data) > limit {
		return nil, false, 0, fmt.Errorf("is larger than %d bytes", limit)
	}
	mode = fi.Mode().Perm()
	return data, runtime.GOOS != "windows" && mode&0o044 != 0, mode, nil
}
