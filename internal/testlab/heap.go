package testlab

import "runtime"

// HeapPerObject returns the heap bytes one new(T) takes: the allocator's
// size class for T, with any header, as the average over 10 000
// allocations kept alive until the count is read.
func HeapPerObject[T any]() uint64 {
	const n = 10000
	keep := make([]*T, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = new(T)
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return (after.TotalAlloc - before.TotalAlloc) / n
}
