package version_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/version"
)

// The repository's root, relative to this package.
const root = ".."

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(root + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The version is MAJOR.MINOR.PATCH: the Go module's tag is "v" + Version,
// and the packages' version fields take nothing else.
func TestVersionIsSemver(t *testing.T) {
	if !regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`).MatchString(version.Version) {
		t.Fatalf("version.Version %q is not MAJOR.MINOR.PATCH", version.Version)
	}
}

// The Lua module's _VERSION is version.Version.
func TestLuaVersion(t *testing.T) {
	src := readFile(t, "ffi/resty/shmlru.lua")
	m := regexp.MustCompile(`(?m)^_M\._VERSION = "([^"]*)"$`).FindAllStringSubmatch(src, -1)
	if len(m) != 1 {
		t.Fatalf("ffi/resty/shmlru.lua: want one line `_M._VERSION = \"...\"`, found %d", len(m))
	}
	if m[0][1] != version.Version {
		t.Errorf("ffi/resty/shmlru.lua: _VERSION is %q, version.Version %q: set it to %q", m[0][1], version.Version, version.Version)
	}
}

// The Makefile reads the same version and the header's ABI version
// (mk/version.mk), for the library's file name and the pkg-config file.
func TestMakefileVersion(t *testing.T) {
	abi := regexp.MustCompile(`(?m)^enum \{ SHMLRU_ABI_VERSION = ([0-9]+) \};$`).FindStringSubmatch(readFile(t, "c/shmlru.h"))
	if abi == nil {
		t.Fatal("c/shmlru.h has no line `enum { SHMLRU_ABI_VERSION = N };`")
	}
	cmd := exec.Command("make", "-s", "--no-print-directory", "print-version")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make print-version: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), version.Version+" "+abi[1]; got != want {
		t.Errorf("make print-version: %q, want %q", got, want)
	}
}
