//go:build !linux

package tunnel

// batchScheduling is a Linux scheduler policy (see sched_linux.go); other
// systems keep their default.
func batchScheduling() (int, error) { return 0, nil }
