package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/c/internal/layouth"
	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/internal/testenv"
)

// layout.h is generated from the Go structs; it must be the header the
// generator makes today.
func TestLayoutHeaderIsCurrent(t *testing.T) {
	want := layouth.Header()
	got, err := os.ReadFile("layout.h")
	if err != nil {
		t.Fatalf("%v: run `make generate` (go run ./c/gen)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		gl, wl := "(end of file)", "(end of file)"
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("c/layout.h is stale: the region format changed (internal/format). Run `make generate` (go run ./c/gen), then bring c/region.h in line.\nfirst difference, line %d:\n  file:      %s\n  generated: %s", i+1, gl, wl)
		}
	}
}

// TestLayoutMirrors compiles a probe against region.h (whose static
// assertions hold its C structs to layout.h) that prints, for every fact,
// the macros' values and what C makes of its mirror: each struct's size,
// each field's offset and size. A Go field without its C mirror fails to
// compile.
func TestLayoutMirrors(t *testing.T) {
	cc := testenv.Need(t, "gcc")
	var src bytes.Buffer
	var want []string
	src.WriteString("#include <stdio.h>\n#include \"region.h\"\nint main(void) {\n")
	for _, f := range format.Facts() {
		m := layouth.Macros(f)
		ctype, member := layouth.Mirror(f)
		switch f.Kind {
		case format.FactConst:
			fmt.Fprintf(&src, "\tprintf(\"%s %%llu\\n\", (unsigned long long)%s);\n", m[0], m[0])
			want = append(want, fmt.Sprintf("%s %d", m[0], f.Value))
		case format.FactStruct:
			fmt.Fprintf(&src, "\tprintf(\"%s %%llu %%zu\\n\", (unsigned long long)%s, sizeof(%s));\n", m[0], m[0], ctype)
			want = append(want, fmt.Sprintf("%s %d %d", m[0], f.Value, f.Value))
		case format.FactField:
			fmt.Fprintf(&src, "\tprintf(\"%s %%llu %%zu\\n\", (unsigned long long)%s, offsetof(%s, %s));\n", m[0], m[0], ctype, member)
			fmt.Fprintf(&src, "\tprintf(\"%s %%llu %%zu\\n\", (unsigned long long)%s, sizeof(((%s *)0)->%s));\n", m[1], m[1], ctype, member)
			want = append(want, fmt.Sprintf("%s %d %d", m[0], f.Value, f.Value), fmt.Sprintf("%s %d %d", m[1], f.Size, f.Size))
		}
	}
	src.WriteString("\treturn 0;\n}\n")
	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "layout_probe.c"), filepath.Join(dir, "layout_probe")
	if err := os.WriteFile(cfile, src.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(".")
	if out, err := exec.Command(cc, "-std=c11", "-pedantic", "-Wall", "-Wextra", "-Werror", "-I", abs, "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("compiling a probe of region.h and layout.h: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 80 {
		t.Fatalf("only %d facts: format.Facts lost some", len(want))
	}
	compareLines(t, "layout.h / region.h", strings.Split(strings.TrimSpace(string(out)), "\n"), want)
}
