// Command gen writes c/layout.h, the region's layout for the C code of
// libshmlru.so, from the Go definitions (lru.LayoutFacts). Run it from the
// module's root, or let `make generate` run it:
//
//	go run ./c/gen [-o c/layout.h]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/shmlru/shmlru/c/internal/layouth"
)

func main() {
	out := flag.String("o", "c/layout.h", "the file to write")
	flag.Parse()
	if err := os.WriteFile(*out, layouth.Header(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
