package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run of one section replaces that section and keeps every other one,
// and says which run measured what.
func TestMergeResults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	base := &Results{Date: "then", Command: "make bench", Elapsed: "10m", Reps: 5, Dur: "200ms",
		Ops: []OpResult{{Size: "16B/32B", Op: "Get (hit)", Peer: "shmlru"}},
		Lua: []LuaResult{{Keys: 0, Op: "get (hit)", Peer: "shmlru", Ns: 289}}}
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	run := luaFixture()
	run.Date, run.Elapsed, run.Reps, run.Dur = "now", "50s", 3, "100ms"
	run.Ops = []OpResult{{Size: "none"}} // not run: must not replace base's
	got := mergeResults(path, run, map[string]bool{"lua": true})
	if got.Date != "then" || got.Command != "make bench" {
		t.Errorf("the page's run became %s %s", got.Date, got.Command)
	}
	if len(got.Ops) != 1 || got.Ops[0].Size != "16B/32B" {
		t.Errorf("ops not kept: %+v", got.Ops)
	}
	if len(got.Lua) != len(run.Lua) {
		t.Errorf("lua not replaced: %d results", len(got.Lua))
	}
	ri := got.runOf("lua")
	if ri.Date != "now" || ri.Command != "make bench-lua" || ri.Reps != 3 || ri.Dur != "100ms" {
		t.Errorf("lua's run: %+v", ri)
	}
	if ri := got.runOf("ops"); ri.Date != "then" || ri.Reps != 5 {
		t.Errorf("ops' run: %+v", ri)
	}
	p := got.provenance()
	if !strings.HasPrefix(p, "Section 5 (LuaJIT) was measured alone, by `make bench-lua` on now, in 50s.") {
		t.Errorf("provenance: %s", p)
	}

	// Without results.json there is nothing to keep.
	if got := mergeResults(filepath.Join(t.TempDir(), "none.json"), run, map[string]bool{"lua": true}); got != run {
		t.Error("merged with a file that does not exist")
	}
}

func TestProvenanceOfOneRun(t *testing.T) {
	r := &Results{}
	if p := r.provenance(); !strings.Contains(p, "in that one run") {
		t.Errorf("provenance: %s", p)
	}
}
