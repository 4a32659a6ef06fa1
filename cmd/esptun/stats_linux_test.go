package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// statsDoc is the documented shape of esptun stats --json.
type statsDoc struct {
	Version string `json:"version"`
	IKESAs  struct {
		Total       int `json:"total"`
		Connecting  int `json:"connecting"`
		Established int `json:"established"`
		Deleting    int `json:"deleting"`
	} `json:"ike_sas"`
	ChildSAs int `json:"child_sas"`
	SAs      struct {
		In  int `json:"in"`
		Out int `json:"out"`
	} `json:"sas"`
	Drops    map[string]uint64 `json:"drops"`
	Counters map[string]uint64 `json:"counters"`
	Memory   struct {
		HeapLive uint64 `json:"heap_live_bytes"`
		Runtime  uint64 `json:"runtime_bytes"`
		Resident uint64 `json:"resident_bytes"`
	} `json:"memory"`
}

// checkStats runs esptun stats against g, in JSON and as a table, and
// fails the test unless the counts are the ones given: established IKE SAs
// (and no other IKE SA), Child SAs, and SAD records in and out.
func (g *gateway) checkStats(t *testing.T, ike, child, in, out int) {
	t.Helper()
	raw, code := runCLI(t, 10*time.Second, "stats", "--json", "-s", g.sock)
	if code != 0 {
		t.Fatalf("gateway %s: esptun stats --json: exit %d\n%s", g.name, code, raw)
	}
	var st statsDoc
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("gateway %s: esptun stats --json: %v\n%s", g.name, err, raw)
	}
	n := st.IKESAs
	if n.Established != ike || n.Total != ike || n.Connecting != 0 || n.Deleting != 0 || st.ChildSAs != child || st.SAs.In != in || st.SAs.Out != out {
		t.Errorf("gateway %s: esptun stats: IKE SAs %+v, Child SAs %d, SAD %d in %d out; want %d established of %d, %d, %d in %d out\n%s",
			g.name, n, st.ChildSAs, st.SAs.In, st.SAs.Out, ike, ike, child, in, out, raw)
	}
	if st.Version == "" || st.Memory.HeapLive == 0 || st.Memory.Runtime < st.Memory.HeapLive || st.Memory.Resident == 0 {
		t.Errorf("gateway %s: esptun stats: version %q, memory %+v; want a version, a live heap, the runtime's total above it and the resident set", g.name, st.Version, st.Memory)
	}
	if _, ok := st.Drops["auth"]; !ok {
		t.Errorf("gateway %s: esptun stats: drops %v lack \"auth\"", g.name, st.Drops)
	}
	table, code := runCLI(t, 10*time.Second, "stats", "-s", g.sock)
	want := fmt.Sprintf("IKE SAs: %d total, %d established", ike, ike)
	if code != 0 || !strings.Contains(table, want) || !strings.Contains(table, fmt.Sprintf("SAD: %d in, %d out", in, out)) {
		t.Errorf("gateway %s: esptun stats: exit %d, want %q and the SAD counts in:\n%s", g.name, code, want, table)
	}
}
