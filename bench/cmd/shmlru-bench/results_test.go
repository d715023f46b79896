package main

import (
	"strings"
	"testing"
)

// tablesOf is section's tables of r as a run writes them.
func tablesOf(t *testing.T, r *Results, section string) string {
	t.Helper()
	s, ok := sectionNamed(section)
	if !ok {
		t.Fatalf("no section %q", section)
	}
	var b strings.Builder
	for _, tb := range s.tables(r) {
		tb.write(&b)
	}
	return b.String()
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
		if err := writeSection(r, t.TempDir(), s); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
}
