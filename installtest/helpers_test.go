package installtest_test

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/version"
)

// root is the repository's root, where make runs.
const root = ".."

// prefix is the PREFIX of the staged install: make's default.
const prefix = "/usr/local"

// The staged install: one `make install DESTDIR=...` for the tests that
// only read it, removed when they are done.
var stagedInstall struct {
	once sync.Once
	dir  string
	out  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if stagedInstall.dir != "" {
		os.RemoveAll(stagedInstall.dir)
	}
	os.Exit(code)
}

// cleanEnv is the environment of every command the tests run: this one's,
// without what would let a command find shmlru anywhere but where the test
// points it (SHMLRU_LIB, LUA_PATH, LD_LIBRARY_PATH, PKG_CONFIG_*), and
// without the jobserver of a make that runs this test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "SHMLRU_LIB", k == "LUA_PATH", k == "LUA_CPATH", k == "LD_LIBRARY_PATH",
			strings.HasPrefix(k, "PKG_CONFIG_"), k == "MAKEFLAGS", k == "MFLAGS", k == "MAKELEVEL":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// run runs a command in dir and returns its standard output; it fails the
// test, with everything the command printed, if it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// runMake runs make in the repository's root.
func runMake(t *testing.T, args ...string) string {
	t.Helper()
	needBuild(t)
	return run(t, root, cleanEnv(), "make", append([]string{"--no-print-directory"}, args...)...)
}

// staged returns the DESTDIR of the staged install (PREFIX /usr/local),
// made by the first test that asks for it.
func staged(t *testing.T) string {
	t.Helper()
	needBuild(t)
	stagedInstall.once.Do(func() {
		dir, err := os.MkdirTemp("", "shmlru-installtest-")
		if err != nil {
			stagedInstall.err = err
			return
		}
		stagedInstall.dir = dir
		cmd := exec.Command("make", "--no-print-directory", "install", "DESTDIR="+dir)
		cmd.Dir = root
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		stagedInstall.out, stagedInstall.err = string(out), err
	})
	if stagedInstall.err != nil {
		t.Fatalf("make install DESTDIR=%s: %v\n%s", stagedInstall.dir, stagedInstall.err, stagedInstall.out)
	}
	return stagedInstall.dir
}

// abiVersion is SHMLRU_ABI_VERSION from the header.
func abiVersion(t *testing.T) string {
	t.Helper()
	h, err := os.ReadFile(filepath.Join(root, "c", "shmlru.h"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^enum \{ SHMLRU_ABI_VERSION = ([0-9]+) \};$`).FindSubmatch(h)
	if m == nil {
		t.Fatal("c/shmlru.h: no `enum { SHMLRU_ABI_VERSION = N };`")
	}
	return string(m[1])
}

// soname is the library's soname, libshmlru.so.ABI.
func soname(t *testing.T) string { return "libshmlru.so." + abiVersion(t) }

// luaModules are the files under ffi/resty, as paths below it ("resty/shmlru.lua").
func luaModules(t *testing.T) []string {
	t.Helper()
	var mods []string
	err := filepath.WalkDir(filepath.Join(root, "ffi", "resty"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".lua") {
			rel, _ := filepath.Rel(filepath.Join(root, "ffi"), p)
			mods = append(mods, rel)
		}
		return err
	})
	if err != nil || len(mods) == 0 {
		t.Fatalf("Lua modules under ffi/resty: %q, %v", mods, err)
	}
	return mods
}

// expectedFiles returns what make install puts under DESTDIR+prefix, by
// path relative to it: "file" for a regular file, "-> TARGET" for a link.
func expectedFiles(t *testing.T) map[string]string {
	t.Helper()
	so := soname(t)
	want := map[string]string{
		"lib/" + so + "." + version.Version:        "file",
		"lib/" + so:                                "-> " + so + "." + version.Version,
		"lib/libshmlru.so":                         "-> " + so,
		"include/shmlru.h":                         "file",
		"lib/pkgconfig/shmlru.pc":                  "file",
		"bin/shmctl":                               "file",
		"share/man/man1/shmctl.1":                  "file",
		"share/bash-completion/completions/shmctl": "file",
	}
	for _, m := range luaModules(t) {
		want["lib/lua/5.1/"+m] = "file"
	}
	return want
}

// listFiles returns every file and link under dir, relative to it, as
// expectedFiles describes them.
func listFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "-> " + target
		} else {
			got[rel] = "file"
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return got
}

// diffFiles describes how two listings differ, "" if they do not.
func diffFiles(got, want map[string]string) string {
	var lines []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			lines = append(lines, fmt.Sprintf("missing %s (%s)", p, w))
		} else if g != w {
			lines = append(lines, fmt.Sprintf("%s: %s, want %s", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			lines = append(lines, fmt.Sprintf("unexpected %s (%s)", p, g))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// dynamic returns an ELF file's DT_SONAME and DT_NEEDED entries.
func dynamic(t *testing.T, path string) (soname, needed []string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	soname, err = f.DynString(elf.DT_SONAME)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	needed, err = f.DynString(elf.DT_NEEDED)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return soname, needed
}

// needBuild ends the test as testenv.Missing says unless make and the C
// compiler that builds libshmlru.so (cgo's gcc) are installed.
func needBuild(t *testing.T) {
	t.Helper()
	testenv.Need(t, "make")
	testenv.Need(t, "gcc")
}
