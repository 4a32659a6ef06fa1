//go:build race

package ike

// raceEnabled: the race detector allocates, and sync.Pool drops items at
// random under it, so allocation counts are not asserted.
const raceEnabled = true
