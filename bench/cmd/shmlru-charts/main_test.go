package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// A file of some sections draws their charts and no others, and a peer
// without a figure (lrucache's incr) leaves a gap rather than failing.
func TestDrawsTheChartsOfTheSectionsGiven(t *testing.T) {
	src := `{"ops": [{"size": "16B/32B", "op": "Get (hit)", "peer": "shmlru", "median": {"ns_per_op": 300}},
		{"size": "16B/32B", "op": "Get (hit)", "peer": "redis", "median": {"ns_per_op": 90000}}],
	"lua": [{"keys": 1000, "op": "incr", "peer": "shmlru", "ns": 40}, {"keys": 1000, "op": "incr", "peer": "shdict", "ns": 90},
		{"keys": 1000, "op": "loop alone", "peer": "calls", "ns": 1}]}`
	var r results
	if err := json.Unmarshal([]byte(src), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Ops) != 2 || r.Ops[1].Median.NsPerOp != 90000 || r.Lua[0].Ns != 40 {
		t.Fatalf("figures not read: %+v", r)
	}
	dir := t.TempDir()
	if err := draw(&r, dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"go-ops.png": true, "lua.png": true, "scaling.png": false, "density.png": false} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s written: %v, want %v", name, got, want)
		}
		if want && !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", name)
		}
	}
}
