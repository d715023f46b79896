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
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/shmlru/shmlru/c/internal/layouth"
	"github.com/shmlru/shmlru/c/internal/versionh"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run writes or, with -check, checks the files args name.
func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	layout := fs.String("layout", "c/layout.h", "where to write layout.h")
	version := fs.String("version", "c/version.h", "where to write version.h")
	check := fs.Bool("check", false, "write nothing; fail if either file is stale")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := []struct {
		path, from string
		text       []byte
	}{
		{*layout, "the region format (internal/format)", layouth.Header()},
		{*version, "the release version (version/version.go)", versionh.Header()},
	}
	var errs []error
	for _, f := range files {
		if *check {
			if old, err := os.ReadFile(f.path); err != nil || !bytes.Equal(old, f.text) {
				errs = append(errs, fmt.Errorf("%s is not the file %s makes: run `make generate` (go run ./c/gen), then build again", f.path, f.from))
			}
			continue
		}
		if err := os.WriteFile(f.path, f.text, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
