package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gen writes both headers, -check accepts what it wrote, and -check
// refuses a layout.h that differs from the format by one number, saying to
// run `make generate`, as `make build` shows it.
func TestWriteThenCheck(t *testing.T) {
	dir := t.TempDir()
	layout, version := filepath.Join(dir, "layout.h"), filepath.Join(dir, "version.h")
	args := []string{"-layout", layout, "-version", version}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	if err := run(append([]string{"-check"}, args...)); err != nil {
		t.Fatalf("-check after writing: %v", err)
	}
	b, err := os.ReadFile(layout)
	if err != nil {
		t.Fatal(err)
	}
	// An offset moved by a same-size change: the file keeps its size.
	stale := strings.Replace(string(b), "#define SHMLRU_L_OFF_ENTRY_VLEN                         12u", "#define SHMLRU_L_OFF_ENTRY_VLEN                         16u", 1)
	if stale == string(b) {
		t.Fatal("layout.h has no SHMLRU_L_OFF_ENTRY_VLEN 12u line to change")
	}
	if err := os.WriteFile(layout, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(append([]string{"-check"}, args...))
	if err == nil || !strings.Contains(err.Error(), "layout.h is not the file") || !strings.Contains(err.Error(), "make generate") {
		t.Fatalf("-check of a stale layout.h: %v", err)
	}
	if strings.Contains(err.Error(), "version.h") {
		t.Fatalf("-check blamed version.h too: %v", err)
	}
}
