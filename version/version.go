// Package version holds shmlru's release version, defined here once.
//
// Everything that reports a version reports this one: `shmctl version`,
// libshmlru.so's shmlru_version() (through c/version.h, generated from this
// constant by `make generate`), the Lua module's _VERSION, the LuaRocks
// rockspec, the OPM dist.ini, the pkg-config file and the library's file
// name that `make install` writes (the Makefile reads this file). The Go
// module is tagged "v" + Version. Tests fail while any copy disagrees
// (version_test.go here, c/version_test.go).
package version

// Version is the release, MAJOR.MINOR.PATCH as semantic versioning has it.
// To release another, change it here, then run `make generate` and follow
// what the failing tests ask for (the Lua _VERSION, the rockspec's name and
// version, dist.ini).
const Version = "0.1.0"
