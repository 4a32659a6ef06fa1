// Package interop tests esptun against a real strongSwan: charon from
// Debian's packages with its kernel-libipsec plugin (userspace ESP over a TUN
// device, ESP-in-UDP only), one instance per network namespace, driven with
// swanctl and read back over its vici socket.
//
// The tests are guarded by the build tag "interop" so that `go test ./...`
// does not run them; they need root, /dev/net/tun, ip(8) and strongSwan
// (install.sh installs it). See README.md for how to run them.
package interop
