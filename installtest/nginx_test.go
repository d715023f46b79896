package installtest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
	"github.com/shmlru/shmlru/version"
)

// libLocation answers the library the module loaded, the module's
// _VERSION and the library's shmlru_version().
const libLocation = `
        location = /lib {
            content_by_lua_block {
                local shmlru = require "resty.shmlru"
                local ffi = require "ffi"
                local p = shmlru.lib_path()
                ngx.say(p, " ", shmlru._VERSION, " ", ffi.string(ffi.load(p).shmlru_version()))
            }
        }
`

// nginx configured with nothing but the staged install's paths
// (lua_package_path and lua_package_cpath into the prefix; no opts.lib, no
// build/) loads the installed module and library, and its workers share a
// cache with this Go process.
func TestInstalledNginx(t *testing.T) {
	testenv.NeedNginx(t)
	d := staged(t)
	lib := filepath.Join(d, prefix, "lib")
	// The installed module tries /usr/local/lib first: a real install
	// there would be loaded instead of the staged one.
	if _, err := os.Stat(filepath.Join(prefix, "lib", soname(t))); err == nil {
		t.Fatalf("%s/lib/%s exists on this machine: it would shadow the staged install; remove it (make uninstall) to run this test", prefix, soname(t))
	}

	region := shm.Path(fmt.Sprintf("shmlru-installtest-%d", os.Getpid()))
	c, err := lru.Open(region, &lru.Options{Size: 8 << 20, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); shm.Remove(region) })
	if err := c.Set([]byte("from-go"), []byte("hello-from-Go"), 0); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	s, err := ngxrun.Start(ngxrun.Config{
		Root:    root,
		Dir:     dir,
		Workers: 2,
		Region:  region,
		Size:    "8m",
		NoLib:   true,
		LuaDir:  filepath.Join(lib, "lua", "5.1"),
		CPath:   filepath.Join(lib, "?.so") + ";",
		Extra:   libLocation,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		for _, l := range strings.Split(s.ErrorLog(), "\n") {
			if strings.Contains(l, "[error]") || strings.Contains(l, "[crit]") || strings.Contains(l, "[alert]") || strings.Contains(l, "[emerg]") {
				t.Errorf("nginx error log: %s", l)
			}
		}
	})

	conf, err := os.ReadFile(filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), `lib = "`) || strings.Contains(string(conf), "/build/") || !strings.Contains(string(conf), "lib = nil") {
		t.Errorf("nginx.conf gives opts.lib or names build/:\n%s", conf)
	}

	ans, err := s.Get("/lib")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(lib, "libshmlru.so") + " " + version.Version + " " + version.Version; ans != want {
		t.Errorf("GET /lib: %q, want %q (the library found on package.cpath in the prefix)", ans, want)
	}
	ans, err = s.Get("/get?k=from-go")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(ans)[1:], " "); got != "string nil hello-from-Go" {
		t.Errorf("GET /get?k=from-go: %q", ans)
	}
	if ans, err = s.Get("/set?k=from-nginx&v=hello-from-nginx"); err != nil || !strings.HasSuffix(ans, " true nil") {
		t.Fatalf("GET /set: %q, %v", ans, err)
	}
	if v, err := c.Get([]byte("from-nginx")); err != nil || string(v) != "hello-from-nginx" {
		t.Errorf("Go reads from-nginx: %q, %v", v, err)
	}
}
