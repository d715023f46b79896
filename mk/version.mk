# The versions the install targets and the packages carry, each read from
# the one place that defines it:
#
#   SHMLRU_VERSION  the release (version/version.go); c/version.h is
#                   generated from it (make generate, mk/c.mk)
#   SHMLRU_ABI      the C ABI version (SHMLRU_ABI_VERSION in c/shmlru.h,
#                   pinned to c/abi.go by c/pin_test.go): the library's
#                   soname is libshmlru.so.$(SHMLRU_ABI)
#
#   make print-version   prints "VERSION ABI" (version/version_test.go
#                        checks it against the Go definitions)

SHMLRU_VERSION := $(shell sed -n 's/^const Version = "\([0-9][^"]*\)"$$/\1/p' version/version.go)
SHMLRU_ABI     := $(shell sed -n 's/^enum { SHMLRU_ABI_VERSION = \([0-9][0-9]*\) };$$/\1/p' c/shmlru.h)

.PHONY: print-version check-version
print-version: check-version
	@echo $(SHMLRU_VERSION) $(SHMLRU_ABI)

# Fails, saying where to look, when either could not be read.
check-version:
	@test -n "$(SHMLRU_VERSION)" || { echo "mk/version.mk: no 'const Version = \"X.Y.Z\"' line in version/version.go" >&2; exit 1; }
	@test -n "$(SHMLRU_ABI)" || { echo "mk/version.mk: no 'enum { SHMLRU_ABI_VERSION = N };' line in c/shmlru.h" >&2; exit 1; }
