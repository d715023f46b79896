# The LuaJIT binding (ffi/resty/shmlru.lua and ffi/resty/shmlru/): its
# tests under plain LuaJIT and the nginx integration tests. Its benchmark
# is bench/'s (make bench-lua, mk/bench.mk).
#
# The nginx tests are Go tests in ffi/, so `make test-go` (go test ./...)
# runs them too; test-nginx runs them alone.

TEST_TARGETS += test-lua

.PHONY: test-lua test-nginx

test-lua: $(BUILD)/libshmlru.so
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) luajit ffi/t/shmlru_test.lua
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) luajit ffi/t/load_test.lua
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) luajit ffi/t/mlcache_jit_test.lua
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) luajit ffi/t/mlcache_update_test.lua
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) luajit ffi/t/mlcache_always_test.lua
	luajit ffi/t/l1_test.lua

test-nginx: $(BUILD)/libshmlru.so
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) $(GO) test -count=1 -v -run 'TestNginx' ./ffi/

# lua-resty-mlcache's own test suite against resty.shmlru.mlcache, for a
# comparison by hand: MLCACHE_SUITE names a local copy of its t/ (never
# part of this repository). Blocks that differ by design are listed in
# ffi/README.md; the target fails while any block does.
.PHONY: test-mlcache-suite
test-mlcache-suite: $(BUILD)/libshmlru.so
	MLCACHE_SUITE=$(MLCACHE_SUITE) $(GO) test -tags mlcachesuite -count=1 -run 'TestMLCacheSuite' ./ffi/
