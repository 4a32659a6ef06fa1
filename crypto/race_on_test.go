//go:build race

package crypto

// raceEnabled is set under the race detector, which makes sync.Pool drop
// objects on purpose, so allocation counts are meaningless there.
const raceEnabled = true
