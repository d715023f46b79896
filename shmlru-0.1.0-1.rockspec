-- The LuaRocks package of resty.shmlru, shmlru's Lua module, with the
-- library it loads, libshmlru.so, built from source: building needs Go (with
-- cgo, the version go.mod names) and a C compiler. The Makefile's
-- rock-build and rock-install targets do the work (mk/install.mk).
--
-- Its version is the release's, version/version.go's, with the rockspec's
-- revision after the dash; version/version_test.go fails while they differ.
--
--   luarocks make                      (in a checkout)
--   luarocks install shmlru            (from a rocks server)
rockspec_format = "3.0"
package = "shmlru"
version = "0.1.0-1"
source = {
   url = "git+https://github.com/shmlru/shmlru.git",
   tag = "v0.1.0",
}
description = {
   summary = "ngx.shared.DICT's API over a shared-memory LRU cache that nginx workers share with Go processes",
   detailed = [[
resty.shmlru gives OpenResty/LuaJIT code the ngx.shared.DICT API over a
shmlru cache: a hash-indexed LRU cache in one memory-mapped file that any
process on the host can open (nginx workers, Go services, C programs), with
atomic incr/add/replace/compare-and-swap and crash recovery. It needs
LuaJIT (its FFI). The rock installs the module and libshmlru.so, which the
module finds on package.cpath.
]],
   homepage = "https://github.com/shmlru/shmlru",
   issues_url = "https://github.com/shmlru/shmlru/issues",
   -- The Apache License 2.0 (LICENSE), by its SPDX identifier;
   -- version/license_test.go holds it to dist.ini's and the pc file's.
   license = "Apache-2.0",
   labels = { "openresty", "nginx", "cache", "shared-memory", "ffi" },
}
supported_platforms = { "linux" }
dependencies = {
   "lua ~> 5.1",
}
build = {
   type = "make",
   build_target = "rock-build",
   install_target = "rock-install",
   install_variables = {
      ROCK_LUADIR = "$(LUADIR)",
      ROCK_LIBDIR = "$(LIBDIR)",
   },
}
