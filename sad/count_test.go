package sad

import "testing"

// TestCount: Count agrees with All through adds, a make-before-break
// replacement (the replaced outbound SA counts until deleted) and deletes.
func TestCount(t *testing.T) {
	db := New(nil)
	check := func(what string, wantIn, wantOut int) {
		t.Helper()
		in, out := db.Count()
		var allIn, allOut int
		for _, sa := range db.All() {
			if sa.Dir == Inbound {
				allIn++
			} else {
				allOut++
			}
		}
		if in != wantIn || out != wantOut || in != allIn || out != allOut {
			t.Errorf("%s: Count %d in %d out, All %d in %d out; want %d in %d out", what, in, out, allIn, allOut, wantIn, wantOut)
		}
	}
	check("empty", 0, 0)
	var ins []*SA
	for i := range uint32(300) {
		in, out := inSA(0xc0000000+i), outSA(0x1000+i, i+1)
		for _, sa := range []*SA{in, out} {
			if err := db.Add(sa); err != nil {
				t.Fatal(err)
			}
		}
		ins = append(ins, in)
	}
	check("300 pairs", 300, 300)
	old := db.Outbound(1)
	if err := db.Add(outSA(0x9000, 1)); err != nil {
		t.Fatal(err)
	}
	check("one outbound SA replaced", 300, 301)
	db.Delete(old)
	check("the replaced SA deleted", 300, 300)
	for _, sa := range ins[:100] {
		db.Delete(sa)
	}
	check("100 inbound SAs deleted", 200, 300)
}
