// Package spd is the Security Policy Database of RFC 4301 4.4.1: ordered
// policies whose selectors (local and remote prefixes, IP protocol, port
// ranges) pick an action (protect, bypass, discard) for every packet. Lookups
// never block; writers copy on write the small part of the index they
// change.
package spd
