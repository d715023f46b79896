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
	s, ok := sectionNamed(section)
	if !ok {
		t.Fatalf("no section %q", section)
	}
	if err := writeSection(r, dir, s); err != nil {
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

// The tables of every section are written from what was measured, and a
// run that measured none of a section's figures still writes its files.
func TestEverySectionWrites(t *testing.T) {
	r := &Results{Load: loadFixture().Load, Near: nearFixture().Near, Hot: &HotSection{Procs: []int{1}}}
	for _, s := range sections {
		writtenSection(t, r, s.name)
	}
}
