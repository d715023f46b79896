package installtest_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/version"
)

// make install DESTDIR=D puts exactly the expected files under D/usr/local:
// the library with its soname and links, the header as it is in c/, the
// Lua modules (shmlru.lua with the installed library's path written in),
// shmctl built without cgo, and its man page and completion as the
// installed shmctl generates them.
func TestInstalledFiles(t *testing.T) {
	d := staged(t)
	p := filepath.Join(d, prefix)
	if diff := diffFiles(listFiles(t, d), prefixed(expectedFiles(t))); diff != "" {
		t.Fatalf("make install DESTDIR=%s:\n%s", d, diff)
	}

	so := soname(t)
	name, _ := dynamic(t, filepath.Join(p, "lib", so+"."+version.Version))
	if !slices.Equal(name, []string{so}) {
		t.Errorf("the library's soname: %q, want %s", name, so)
	}
	for rel, mode := range map[string]os.FileMode{
		"lib/" + so + "." + version.Version: 0o755, "bin/shmctl": 0o755,
		"include/shmlru.h": 0o644, "lib/pkgconfig/shmlru.pc": 0o644, "share/man/man1/shmctl.1": 0o644,
		"share/bash-completion/completions/shmctl": 0o644, "lib/lua/5.1/resty/shmlru.lua": 0o644,
	} {
		if st, err := os.Stat(filepath.Join(p, rel)); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v; want %v", rel, st.Mode().Perm(), err, mode)
		}
	}
	same(t, filepath.Join(root, "c", "shmlru.h"), filepath.Join(p, "include", "shmlru.h"))

	// The Lua modules: as in ffi/, but for the library's path.
	for _, m := range luaModules(t) {
		src, err := os.ReadFile(filepath.Join(root, "ffi", m))
		if err != nil {
			t.Fatal(err)
		}
		want := src
		if m == "resty/shmlru/base.lua" {
			want = bytes.Replace(src, []byte("\nlocal installed_lib = nil\n"),
				[]byte("\nlocal installed_lib = \""+prefix+"/lib/"+so+"\"\n"), 1)
			if bytes.Equal(want, src) {
				t.Fatal("ffi/resty/shmlru/base.lua has no line `local installed_lib = nil`")
			}
		}
		if got, _ := os.ReadFile(filepath.Join(p, "lib/lua/5.1", m)); !bytes.Equal(got, want) {
			t.Errorf("installed %s differs from ffi/%s with the library's path written in", m, m)
		}
	}

	// shmctl needs no C library: no interpreter, no shared library.
	f, err := elf.Open(filepath.Join(p, "bin", "shmctl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("bin/shmctl is dynamically linked (%v): it must build without cgo", prog.Type)
		}
	}

	// The man page and the completion are the installed shmctl's own.
	shmctl := filepath.Join(p, "bin", "shmctl")
	for rel, args := range map[string][]string{
		"share/man/man1/shmctl.1":                  {"help", "--man"},
		"share/bash-completion/completions/shmctl": {"completion", "bash"},
	} {
		got, err := os.ReadFile(filepath.Join(p, rel))
		if err != nil {
			t.Fatal(err)
		}
		if want := run(t, "/", cleanEnv(), shmctl, args...); string(got) != want || len(want) < 1000 {
			t.Errorf("%s is not what `shmctl %s` prints (%d bytes)", rel, strings.Join(args, " "), len(want))
		}
	}
}

// prefixed puts prefix (without its slash) in front of every path.
func prefixed(files map[string]string) map[string]string {
	out := map[string]string{}
	for p, v := range files {
		out[filepath.Join(strings.TrimPrefix(prefix, "/"), p)] = v
	}
	return out
}

// same fails the test unless the two files have the same bytes.
func same(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s differs from %s", b, a)
	}
}

// make uninstall, with the same DESTDIR, removes what make install put
// there, and not the other files it finds beside them.
func TestUninstallRemovesExactlyWhatInstallPut(t *testing.T) {
	d := t.TempDir()
	others := map[string]string{
		"usr/local/lib/libother.so":                         "file",
		"usr/local/lib/lua/5.1/resty/other.lua":             "file",
		"usr/local/bin/other":                               "file",
		"usr/local/share/man/man1/other.1":                  "file",
		"usr/local/lib/pkgconfig/other.pc":                  "file",
		"usr/local/share/bash-completion/completions/other": "file",
	}
	for p := range others {
		full := filepath.Join(d, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("not shmlru's: "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runMake(t, "install", "DESTDIR="+d)
	all := prefixed(expectedFiles(t))
	for p, v := range others {
		all[p] = v
	}
	if diff := diffFiles(listFiles(t, d), all); diff != "" {
		t.Fatalf("after make install:\n%s", diff)
	}
	runMake(t, "uninstall", "DESTDIR="+d)
	if diff := diffFiles(listFiles(t, d), others); diff != "" {
		t.Errorf("after make uninstall, what is left is not the other files:\n%s", diff)
	}
	for p := range others {
		if b, err := os.ReadFile(filepath.Join(d, p)); err != nil || string(b) != "not shmlru's: "+p {
			t.Errorf("%s changed: %q, %v", p, b, err)
		}
	}
}

// A PREFIX the installed files could not name is refused before anything
// is built or written, with what to do.
func TestInstallRefusesBadPrefix(t *testing.T) {
	mk := testenv.Need(t, "make")
	for _, p := range []string{"relative/dir", "/opt/a b", `/opt/a"b`} {
		d := t.TempDir()
		cmd := exec.Command(mk, "--no-print-directory", "install", "DESTDIR="+d, "PREFIX="+p)
		cmd.Dir = root
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "PREFIX") || !strings.Contains(string(out), p) {
			t.Errorf("make install PREFIX=%q: %v\n%s\nwant a refusal naming the PREFIX", p, err, out)
		}
		if got := listFiles(t, d); len(got) != 0 {
			t.Errorf("make install PREFIX=%q wrote %v", p, got)
		}
	}
}
