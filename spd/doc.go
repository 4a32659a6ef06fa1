// Package spd is the Security Policy Database of RFC 4301 4.4.1: ordered
// policies whose selectors (local and remote prefixes, IP protocol, port
// ranges) pick an action (protect, bypass, discard) for every packet. Lookups
// read an immutable snapshot and never block; writers build a new snapshot.
package spd
