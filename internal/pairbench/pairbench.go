// Package pairbench times two operations against each other in one
// benchmark: blocks of calls of each, in turn, so that both see the same
// load on a shared machine (separate benchmarks run seconds apart do not).
// It is for esptun's tests only.
package pairbench

import (
	"slices"
	"testing"
	"time"
)

// Metrics names what Run reports (b.ReportMetric units): the median
// block's nanoseconds per call of each side, and their ratio x/y.
type Metrics struct {
	X, Y, Ratio string
}

// Run times blocks of block calls of x and of y, alternating which goes
// first, one pair of blocks per b.Loop iteration, and keeps the first
// samples pairs. x and y make n calls of their operation each time they
// are called (the loop is theirs, so that timing costs nothing per call).
// It reports the median block of each side per call and their ratio under
// the names in m, and returns the two medians in nanoseconds per call.
func Run(b *testing.B, block, samples int, m Metrics, x, y func(n int)) (nsX, nsY float64) {
	tx := make([]time.Duration, 0, samples)
	ty := make([]time.Duration, 0, samples)
	timeBlock := func(f func(int)) time.Duration {
		t0 := time.Now()
		f(block)
		return time.Since(t0)
	}
	odd := false
	for b.Loop() {
		var dx, dy time.Duration
		if odd {
			dy = timeBlock(y)
			dx = timeBlock(x)
		} else {
			dx = timeBlock(x)
			dy = timeBlock(y)
		}
		odd = !odd
		if len(tx) < samples {
			tx, ty = append(tx, dx), append(ty, dy)
		}
	}
	if len(tx) == 0 {
		return 0, 0
	}
	slices.Sort(tx)
	slices.Sort(ty)
	nsX = float64(tx[len(tx)/2]) / float64(block)
	nsY = float64(ty[len(ty)/2]) / float64(block)
	b.ReportMetric(nsX, m.X)
	b.ReportMetric(nsY, m.Y)
	b.ReportMetric(nsX/nsY, m.Ratio)
	return nsX, nsY
}
