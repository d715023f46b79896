// Command genversion writes c/version.h, the release version for the C code
// of libshmlru.so, from package version. Run it from the module's root, or
// let `make generate` run it:
//
//	go run ./c/genversion [-o c/version.h]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/shmlru/shmlru/c/internal/versionh"
)

func main() {
	out := flag.String("o", "c/version.h", "the file to write")
	flag.Parse()
	if err := os.WriteFile(*out, versionh.Header(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "genversion:", err)
		os.Exit(1)
	}
}
