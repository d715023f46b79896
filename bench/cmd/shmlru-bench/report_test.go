package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The figures of sections 1 to 8 say the layout they were measured on,
// whatever layout re-renders them; a file without it names none.
func TestRenderNamesTheMeasuredLayout(t *testing.T) {
	dir := t.TempDir()
	for layout, want := range map[int]string{3: "Go API, layout 3: each entry", 0: "Go API: each entry"} {
		if err := render(&Results{Layout: layout}, dir); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
		if !strings.Contains(string(b), want) {
			t.Errorf("layout %d: RESULTS.md lacks %q", layout, want)
		}
	}
}

// A section measured on another layout than the page's says so.
func TestProvenanceNamesAnotherLayout(t *testing.T) {
	r := &Results{Layout: 3, Runs: map[string]RunInfo{"lua": {Command: "make bench-lua", Date: "now", Elapsed: "50s", Layout: 4}}}
	if p := r.provenance(); !strings.HasPrefix(p, "Section 5 (LuaJIT) was measured alone, by `make bench-lua` on now, in 50s, on layout 4.") {
		t.Errorf("provenance: %s", p)
	}
	r.Runs["lua"] = RunInfo{Command: "make bench-lua", Date: "now", Elapsed: "50s", Layout: 3}
	if p := r.provenance(); strings.Contains(p, "on layout") {
		t.Errorf("provenance names the page's own layout: %s", p)
	}
}

// A run of some sections writes their charts and leaves the others'.
func TestRenderSectionsWritesTheirCharts(t *testing.T) {
	dir := t.TempDir()
	if err := renderSections(luaFixture(), dir, map[string]bool{"ops": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lua.png")); err == nil {
		t.Error("a run of section 1 wrote lua.png")
	}
	if err := renderSections(luaFixture(), dir, map[string]bool{"lua": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lua.png")); err != nil {
		t.Errorf("a run of section 5 did not write lua.png: %v", err)
	}
}
