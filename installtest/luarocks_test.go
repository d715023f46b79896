package installtest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/version"
)

// `luarocks make` of the rockspec builds the library and installs it with
// the module into a rocks tree, where the module finds it on the tree's
// package.cpath; `luarocks remove` takes both away again.
func TestLuaRocksMake(t *testing.T) {
	luarocks := testenv.Need(t, "luarocks")
	needBuild(t)
	spec := "shmlru-" + version.Version + "-1.rockspec"
	env := cleanEnv("HOME=" + t.TempDir()) // no user configuration or cache
	run(t, root, env, luarocks, "lint", spec)

	tree := t.TempDir()
	run(t, root, env, luarocks, "make", "--tree="+tree, spec)
	mod := filepath.Join(tree, "share", "lua", "5.1", "resty", "shmlru.lua")
	lib := filepath.Join(tree, "lib", "lua", "5.1", "libshmlru.so")
	same(t, filepath.Join(root, "ffi", "resty", "shmlru.lua"), mod)
	if name, _ := dynamic(t, lib); len(name) != 1 || name[0] != soname(t) {
		t.Errorf("%s: soname %q, want %s", lib, name, soname(t))
	}
	if got := runLua(t, filepath.Join(tree, "share", "lua", "5.1", "?.lua"), filepath.Join(tree, "lib", "lua", "5.1", "?.so")); got != lib {
		t.Errorf("the module loaded %s, want %s (on the tree's package.cpath)", got, lib)
	}

	run(t, root, env, luarocks, "remove", "--tree="+tree, "shmlru")
	for _, p := range []string{mod, lib} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("after luarocks remove, %s: %v", p, err)
		}
	}
}
