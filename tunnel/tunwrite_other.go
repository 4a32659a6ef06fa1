//go:build !linux

package tunnel

import "golang.zx2c4.com/wireguard/tun"

// tunWriter coalesces inbound segments into super-packets on Linux
// (tunwrite_linux.go); elsewhere the tun package's Write is all there is.
type tunWriter struct{}

func newTUNWriter(tun.Device) *tunWriter { return nil }

func (*tunWriter) write([][]byte) int { return 0 }
