// Command gen writes the generated headers of libshmlru.so's C code:
// c/layout.h, the region's layout and its fingerprint, from the region
// format (internal/format.Facts), and c/version.h, the release version,
// from package version. Run it from the module's root, or let
// `make generate` run it:
//
//	go run ./c/gen [-layout c/layout.h] [-version c/version.h]
//
// With -check it writes nothing: it fails, saying to run `make generate`,
// if either file differs from what it would write. `make build` (and so
// `make demo`, `make install` and `luarocks make`) runs it so, before it
// builds the library: a stale layout.h would build C code that reads old
// offsets.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/shmlru/shmlru/c/internal/layouth"
	"github.com/shmlru/shmlru/c/internal/versionh"
)

func main() {
	layout := flag.String("layout", "c/layout.h", "where to write layout.h")
	version := flag.String("version", "c/version.h", "where to write version.h")
	check := flag.Bool("check", false, "write nothing; fail if either file is stale")
	flag.Parse()
	files := []struct {
		path, from string
		text       []byte
	}{
		{*layout, "the region format (internal/format)", layouth.Header()},
		{*version, "the release version (version/version.go)", versionh.Header()},
	}
	failed := false
	for _, f := range files {
		if *check {
			if old, err := os.ReadFile(f.path); err != nil || !bytes.Equal(old, f.text) {
				fmt.Fprintf(os.Stderr, "gen: %s is not the file %s makes: run `make generate` (go run ./c/gen), then build again\n", f.path, f.from)
				failed = true
			}
			continue
		}
		if err := os.WriteFile(f.path, f.text, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
