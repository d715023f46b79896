package installtest_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/version"
)

// luaOpen is a LuaJIT script: it opens the region arg[1], sets "from-lua",
// and prints the library the module loaded, the module's _VERSION and the
// library's shmlru_version(), one per line.
const luaOpen = `
local shmlru = require "resty.shmlru"
local ffi = require "ffi"
local c, err = shmlru.open(arg[1], { size = "4m" })
if not c then
    io.stderr:write(err, "\n")
    os.exit(1)
end
assert(c:set("from-lua", "hello-from-Lua"))
local p = shmlru.lib_path()
print(p)
print(shmlru._VERSION)
print(ffi.string(ffi.load(p).shmlru_version()))
`

// runLua runs luaOpen with LuaJIT on a new region, with this package.path
// and package.cpath (nothing else: no SHMLRU_LIB, no LD_LIBRARY_PATH unless
// given), checks that Go reads what it wrote, and returns the library it
// loaded. The versions must be this release's.
func runLua(t *testing.T, luaPath, cPath string, env ...string) string {
	t.Helper()
	luajit := testenv.Need(t, "luajit")
	region := filepath.Join(t.TempDir(), "region")
	env = cleanEnv(append(env, "LUA_PATH="+luaPath, "LUA_CPATH="+cPath)...)
	out := strings.Split(strings.TrimSuffix(run(t, "/", env, luajit, "-e", "arg = { [1] = "+luaQuote(region)+" }"+luaOpen), "\n"), "\n")
	if len(out) != 3 || out[1] != version.Version || out[2] != version.Version {
		t.Errorf("LuaJIT printed %q: want the library, then _VERSION and shmlru_version() both %s", out, version.Version)
	}
	c, err := lru.Open(region, &lru.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.Get([]byte("from-lua")); err != nil || string(v) != "hello-from-Lua" {
		t.Errorf("Go reads from-lua: %q, %v", v, err)
	}
	return out[0]
}

// luaQuote quotes s as a Lua string literal.
func luaQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// Installed with PREFIX (no DESTDIR), the module loads the library from
// the path written into it, with nothing on package.cpath. The module from
// the source tree, which has no such path, finds the library through the
// system's loader by its soname, and says what to do when there is none.
// make uninstall then leaves the prefix without a file.
func TestInstalledLuaModuleFindsItsLibrary(t *testing.T) {
	p := t.TempDir()
	runMake(t, "install", "PREFIX="+p)
	noCPath := "/nonexistent/?.so"

	installed := filepath.Join(p, "lib", "lua", "5.1", "?.lua")
	if got, want := runLua(t, installed, noCPath), filepath.Join(p, "lib", soname(t)); got != want {
		t.Errorf("the installed module loaded %s, want %s (the path make install wrote into it)", got, want)
	}

	source, err := filepath.Abs(filepath.Join(root, "ffi", "?.lua"))
	if err != nil {
		t.Fatal(err)
	}
	if got := runLua(t, source, noCPath, "LD_LIBRARY_PATH="+filepath.Join(p, "lib")); got != soname(t) {
		t.Errorf("the module found %s, want %s through the system's loader", got, soname(t))
	}
	if out, err := exec.Command("ldconfig", "-p").Output(); err == nil && strings.Contains(string(out), soname(t)) {
		t.Fatalf("%s is in the system's library cache: the missing-library case cannot be tested here", soname(t))
	}
	cmd := exec.Command(testenv.Need(t, "luajit"), "-e", "arg = { [1] = "+luaQuote(filepath.Join(t.TempDir(), "r"))+" }"+luaOpen)
	cmd.Env = cleanEnv("LUA_PATH="+source, "LUA_CPATH="+noCPath)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "libshmlru.so not found: install shmlru (make install") {
		t.Errorf("without a library: %v\n%s\nwant the error saying how to install it", err, out)
	}

	runMake(t, "uninstall", "PREFIX="+p)
	if left := listFiles(t, p); len(left) != 0 {
		t.Errorf("make uninstall PREFIX=%s left %v", p, left)
	}
}
