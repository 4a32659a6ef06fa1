//go:build !linux && !darwin && !windows

package netcfg

import (
	"fmt"
	"log/slog"
	"runtime"
)

// hostSys: no macOS or Windows changes can be undone here.
var hostSys *sysHost

// Apply is not implemented on this system: it checks c and returns
// ErrUnsupported.
func Apply(c Config, log *slog.Logger) (*Applied, error) {
	if _, err := c.normalized(discardIfNil(log)); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}
