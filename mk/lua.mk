# The LuaJIT binding (ffi/resty/shmlru.lua): its tests under plain LuaJIT,
# the nginx integration tests, and the benchmark inside one nginx worker.
#
# The nginx tests are Go tests in ffi/, so `make test-go` (go test ./...)
# runs them too; test-nginx runs them alone.

TEST_TARGETS += test-lua

.PHONY: test-lua test-nginx bench-lua

test-lua: $(BUILD)/libshmlru.so
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) luajit ffi/t/shmlru_test.lua

test-nginx: $(BUILD)/libshmlru.so
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) $(GO) test -count=1 -v -run 'TestNginx' ./ffi/

# LuaJIT get/set through libshmlru.so against ngx.shared.DICT,
# lua-resty-lrucache and its pureffi variant, in one nginx worker.
bench-lua: $(BUILD)/libshmlru.so
	SHMLRU_LIB=$(abspath $(BUILD)/libshmlru.so) $(GO) run ./ffi/bench
