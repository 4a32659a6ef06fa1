package pairbench

import (
	"testing"
)

// TestRun checks what Run calls and reports: blocks of the given size,
// the sides in alternating order, and the three metrics under their names.
func TestRun(t *testing.T) {
	var order []byte
	var calls [2]int
	var sizes []int
	var nsX, nsY float64
	r := testing.Benchmark(func(b *testing.B) {
		order, calls, sizes = order[:0], [2]int{}, sizes[:0]
		nsX, nsY = Run(b, 7, 3, Metrics{X: "x-ns/op", Y: "y-ns/op", Ratio: "x/y"},
			func(n int) { order = append(order, 'x'); calls[0]++; sizes = append(sizes, n) },
			func(n int) { order = append(order, 'y'); calls[1]++; sizes = append(sizes, n) })
	})
	if calls[0] == 0 || calls[0] != calls[1] {
		t.Fatalf("x called %d times, y %d: want the same, more than 0", calls[0], calls[1])
	}
	for i, n := range sizes {
		if n != 7 {
			t.Fatalf("call %d got block %d, want 7", i, n)
		}
	}
	for i := 0; i+1 < len(order); i += 2 {
		want := "xy"
		if i/2%2 == 1 {
			want = "yx"
		}
		if got := string(order[i : i+2]); got != want {
			t.Fatalf("pair %d ran %q, want %q (order %s)", i/2, got, want, order)
		}
	}
	for _, k := range []string{"x-ns/op", "y-ns/op", "x/y"} {
		if _, ok := r.Extra[k]; !ok {
			t.Errorf("metric %q not reported (got %v)", k, r.Extra)
		}
	}
	if nsX < 0 || nsY < 0 || r.Extra["x-ns/op"] != nsX || r.Extra["y-ns/op"] != nsY {
		t.Errorf("returned %v, %v; reported %v", nsX, nsY, r.Extra)
	}
	if got, want := r.Extra["x/y"], nsX/nsY; nsY > 0 && got != want {
		t.Errorf("x/y = %v, want %v", got, want)
	}
}
