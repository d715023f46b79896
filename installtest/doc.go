// Package installtest tests shmlru installed the way each of its
// ecosystems installs things, each time into a clean temporary prefix:
// `make install` with DESTDIR and with PREFIX, then a C program built with
// nothing but pkg-config, nginx configured with nothing but the installed
// Lua module's paths sharing a cache with Go, LuaJIT finding the installed
// library by itself, the installed shmctl, its man page and completion,
// `make uninstall` leaving nothing behind, and `luarocks make` of the
// rockspec. It holds only tests; they run in `go test ./...` (make test).
package installtest
