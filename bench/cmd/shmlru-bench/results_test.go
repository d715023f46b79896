package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writtenSection writes section of r as a run does and returns its
// tables, and its figures read back from the JSON file.
func writtenSection(t *testing.T, r *Results, section string) (string, *Results) {
	t.Helper()
	dir := t.TempDir()
	if err := writeSection(r, dir, section, "Title"); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, section+".md"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, section+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return string(md), &back
}

// wantLines fails t for each of want that is not a whole line of md.
func wantLines(t *testing.T, md string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains("\n"+md+"\n", "\n"+w+"\n") {
			t.Errorf("no line %q in\n%s", w, md)
		}
	}
}

// A section's files hold its own figures and no other section's, and its
// tables say which run, on which layout, measured them.
func TestWriteSectionHoldsItsOwnFigures(t *testing.T) {
	r := luaFixture()
	r.Layout, r.Elapsed = 3, "50s"
	r.Ops = []OpResult{{Size: "16B/32B", Op: "Get (hit)", Peer: "shmlru", Median: Sample{NsPerOp: 200}}}
	md, back := writtenSection(t, r, "lua")
	if len(back.Lua) != len(r.Lua) || back.Ops != nil || back.Command != r.Command {
		t.Errorf("lua.json: %d lua, %d ops, command %q", len(back.Lua), len(back.Ops), back.Command)
	}
	if !strings.HasPrefix(md, "## Title\n\nMeasured by `make bench-lua` on d, layout 3, in 50s:") {
		t.Errorf("header:\n%s", md)
	}
	md, back = writtenSection(t, r, "ops")
	if back.Lua != nil || len(back.Ops) != 1 {
		t.Errorf("ops.json: %d lua, %d ops", len(back.Lua), len(back.Ops))
	}
	wantLines(t, md, "### 16B/32B", "| op | shmlru |", "| Get (hit) | **200 ns** · 0 alloc |", "| Delete | – |")
}

// The tables of every section are written from what was measured, and a
// run that measured none of a section's figures still writes its files.
func TestEverySectionWrites(t *testing.T) {
	r := &Results{Load: loadFixture().Load, Near: nearFixture().Near}
	for _, s := range sections {
		writtenSection(t, r, s.name)
	}
}
