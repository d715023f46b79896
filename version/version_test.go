package version_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
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
	cmd := exec.Command(testenv.Need(t, "make"), "-s", "--no-print-directory", "print-version")
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

// There is one rockspec, named and versioned for this release (its
// revision after the dash), whose source is the release's tag.
func TestRockspecVersion(t *testing.T) {
	specs, err := filepath.Glob(root + "/*.rockspec")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("rockspecs at the root: %q; want exactly one, shmlru-%s-1.rockspec (rename the old one when the version changes)", specs, version.Version)
	}
	name := filepath.Base(specs[0])
	m := regexp.MustCompile(`^shmlru-(.+)-([1-9][0-9]*)\.rockspec$`).FindStringSubmatch(name)
	if m == nil || m[1] != version.Version {
		t.Fatalf("%s: want shmlru-%s-REVISION.rockspec", name, version.Version)
	}
	src := readFile(t, name)
	for _, want := range []string{
		`package = "shmlru"`,
		`version = "` + version.Version + "-" + m[2] + `"`,
		`tag = "v` + version.Version + `"`,
	} {
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(want) + `,?$`).MatchString(src) {
			t.Errorf("%s lacks the line %s", name, want)
		}
	}
}

// opmKeys are the keys opm build accepts in dist.ini's default section,
// and which of them it requires.
var opmKeys = map[string]bool{
	"name": true, "abstract": true, "author": true, "is_original": true, "license": true, "repo_link": true,
	"version": false, "requires": false, "exclude_files": false, "lib_dir": false, "main_module": false, "doc_dir": false,
}

// opmLicenses are the license values opm build recognises.
var opmLicenses = "apache2 3bsd 2bsd gpl gpl2 gpl3 lgpl mit mozilla2 cddl eclipse public artistic artistic2 proprietary ccby ccbysa ccbynd ccbync ccbyncsa ccbyncnd"

// dist.ini is what opm build accepts, and carries this release: its
// version field, and the version opm reads from main_module (the first
// line assigning a version or _VERSION), are version.Version.
func TestDistIniVersion(t *testing.T) {
	ini := map[string]string{}
	for n, line := range strings.Split(readFile(t, "dist.ini"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !regexp.MustCompile(`^\w+$`).MatchString(k) {
			t.Fatalf("dist.ini:%d: %q is not KEY = VALUE (opm reads only the default section)", n+1, line)
		}
		if _, known := opmKeys[k]; !known {
			t.Errorf("dist.ini:%d: opm does not know the key %s", n+1, k)
		}
		if _, dup := ini[k]; dup {
			t.Errorf("dist.ini:%d: %s given twice", n+1, k)
		}
		ini[k] = v
	}
	for k, required := range opmKeys {
		if required && ini[k] == "" {
			t.Errorf("dist.ini: %s is required", k)
		}
	}
	if !slices.Contains(strings.Fields(opmLicenses), ini["license"]) {
		t.Errorf("dist.ini: license %q is not one opm knows: %s", ini["license"], opmLicenses)
	}
	if !strings.HasPrefix(ini["name"], "lua-resty-") || !strings.Contains(ini["repo_link"], "/shmlru") {
		t.Errorf("dist.ini: name %q, repo_link %q", ini["name"], ini["repo_link"])
	}
	for _, k := range []string{"lib_dir", "doc_dir", "main_module"} {
		p := ini[k]
		if p == "" || filepath.IsAbs(p) || strings.Contains(p, "..") {
			t.Errorf("dist.ini: %s %q must be a relative path inside the repository", k, p)
		} else if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("dist.ini: %s: %v", k, err)
		}
	}
	if !strings.HasPrefix(ini["main_module"], ini["lib_dir"]+"/") {
		t.Errorf("dist.ini: main_module %s is not under lib_dir %s", ini["main_module"], ini["lib_dir"])
	}
	if _, err := os.Stat(filepath.Join(root, ini["doc_dir"], "README.md")); err != nil {
		t.Errorf("dist.ini: opm needs a README.md in doc_dir: %v", err)
	}
	for _, pat := range strings.Split(ini["exclude_files"], ",") {
		if m, _ := filepath.Glob(filepath.Join(root, strings.TrimSpace(pat))); len(m) == 0 {
			t.Errorf("dist.ini: exclude_files pattern %q matches nothing (opm refuses that)", pat)
		}
	}
	if ini["version"] != version.Version {
		t.Errorf("dist.ini: version %q, want %q", ini["version"], version.Version)
	}
	// opm takes the first line of main_module that assigns a version.
	verLine := regexp.MustCompile(`\b(?:_?VERSION|version)\s*=\s*(\S+)`)
	junk := regexp.MustCompile(`[;,'"{}()<>]|\[=*\[|\]=*\]|\s+$`)
	code := ""
	for _, line := range strings.Split(readFile(t, ini["main_module"]), "\n") {
		if m := verLine.FindStringSubmatch(line); m != nil {
			if v := junk.ReplaceAllString(m[1], ""); regexp.MustCompile(`\d`).MatchString(v) {
				code = v
				break
			}
		}
	}
	if code != version.Version {
		t.Errorf("opm would read version %q from %s, want %q", code, ini["main_module"], version.Version)
	}
}
