package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/shmlru/shmlru/c/internal/versionh"
	"github.com/shmlru/shmlru/version"
)

// version.h is generated from package version; it must be the file the
// generator makes today.
func TestVersionHeaderIsCurrent(t *testing.T) {
	got, err := os.ReadFile("version.h")
	if err != nil {
		t.Fatalf("%v: run `make generate` (go run ./c/gen)", err)
	}
	if want := versionh.Header(); !bytes.Equal(got, want) {
		t.Fatalf("c/version.h is stale: version.Version is %q. Run `make generate` (go run ./c/gen).\nfile:\n%s\ngenerated:\n%s", version.Version, got, want)
	}
}

// The library's shmlru_version() is version.Version, and
// shmlru_abi_version() the header's SHMLRU_ABI_VERSION (abiVersion here).
func TestVersionFunction(t *testing.T) {
	bin := buildC(t, "test/version_probe.c")
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, out)
	}
	if want := fmt.Sprintf("%s\n%d\n", version.Version, abiVersion); string(out) != want {
		t.Errorf("shmlru_version(), shmlru_abi_version(): got %q, want %q", out, want)
	}
}
