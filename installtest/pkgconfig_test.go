package installtest_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/version"
)

// A C program built with nothing but `pkg-config --cflags --libs shmlru`
// from the staged install links against the soname, reports the release,
// and shares a cache with this Go process.
func TestPkgConfigCProgram(t *testing.T) {
	d := staged(t)
	pc := testenv.Need(t, "pkg-config")
	cc := testenv.Need(t, "cc")
	env := cleanEnv("PKG_CONFIG_LIBDIR="+filepath.Join(d, prefix, "lib", "pkgconfig"), "PKG_CONFIG_PATH=", "PKG_CONFIG_SYSROOT_DIR="+d)

	if v := strings.TrimSpace(run(t, "/", env, pc, "--modversion", "shmlru")); v != version.Version {
		t.Errorf("pkg-config --modversion shmlru: %q, want %q", v, version.Version)
	}
	flags := strings.Fields(run(t, "/", env, pc, "--cflags", "--libs", "shmlru"))
	if want := []string{"-I" + filepath.Join(d, prefix, "include"), "-L" + filepath.Join(d, prefix, "lib"), "-lshmlru"}; !slices.Equal(flags, want) {
		t.Errorf("pkg-config --cflags --libs shmlru: %q, want %q", flags, want)
	}

	src, err := filepath.Abs("testdata/pkgconfig.c")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "prog")
	run(t, tmp, env, cc, append([]string{"-std=c11", "-Wall", "-Werror", "-o", bin, src}, flags...)...)
	if _, needed := dynamic(t, bin); !slices.Contains(needed, soname(t)) || slices.Contains(needed, "libshmlru.so") {
		t.Errorf("the program needs %q: want the soname %s, not libshmlru.so", needed, soname(t))
	}

	region := filepath.Join(tmp, "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("from-go"), []byte("hello-from-Go"), lru.WriteOptions{Flags: 7}); err != nil {
		t.Fatal(err)
	}
	out := run(t, tmp, cleanEnv("LD_LIBRARY_PATH="+filepath.Join(d, prefix, "lib")), bin, region)
	want := "version " + version.Version + "\nabi " + abiVersion(t) + "\nfrom-c hello from C 0\nfrom-go hello-from-Go 7\n"
	if out != want {
		t.Errorf("the C program printed:\n%s\nwant:\n%s", out, want)
	}
	if v, err := c.Get([]byte("from-c")); err != nil || string(v) != "hello from C" {
		t.Errorf("Go reads from-c: %q, %v", v, err)
	}
}
