// Package sad is the Security Association Database of RFC 4301 4.4.2:
// inbound SAs keyed by SPI, outbound SAs keyed by the SPD policy they serve,
// their counters and lifetimes. Lookups are lock-free reads of copy-on-write
// snapshots, so the data path never waits for IKE installing or deleting SAs.
package sad
