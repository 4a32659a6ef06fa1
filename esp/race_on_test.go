//go:build race

package esp

// raceEnabled is set under the race detector, which makes sync.Pool drop
// objects on purpose, so allocation counts are meaningless there.
const raceEnabled = true
