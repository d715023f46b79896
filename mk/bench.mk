# Benchmarks against the peer caches (bench/, its own Go module).
#
# The harness writes each section's tables and figures to bench/out/
# (untracked): <section>.md (Markdown tables) and <section>.json, and the
# CPU profiles to bench/out/profiles/. bench/RESULTS.md and HOTKEYS.md are
# written by people, who copy the tables they discuss in by hand.
#
#   make bench        the full matrix, then the charts (< 15 min)
#   make bench-quick  a subset, tables only (< 2 min)
#   make bench-lua    only the LuaJIT section (< 2 min)
#   make bench-mlcache  only mlcache's L1 and L2 hits in an nginx worker:
#                     resty.shmlru.mlcache in each L1 coherence mode of
#                     MLCACHE_MODES (default always,update), next to
#                     lua-resty-lrucache and ngx.shared.DICT, and to
#                     lua-resty-mlcache when SHMLRU_BENCH_MLCACHE names a
#                     local checkout of it (never part of this repository;
#                     it needs resty/lock.lua beside it or on nginx's
#                     path) (< 1 min)
#   make bench-load   only the read-through stampede (N processes on a cold
#                     key, GetOrLoad vs per-process singleflight, and the
#                     loader takeover) (< 2 min)
#   make bench-near   only the near cache in front of Redis (a
#                     near.Client.Get hit vs a go-redis GET, and N processes
#                     sharing one near region vs rueidis's client-side cache
#                     in each) (< 2 min)
#   make bench-hot    hot keys shared by N processes: P Go processes (GetInto
#                     on 1, 16, 1,000 keys; Set on 16) and nginx of P workers
#                     (resty.shmlru vs ngx.shared.DICT get) on one cache at
#                     once. HOT_PROCS=1,2,4,8 for bigger hosts (default 1,2:
#                     < 3 min on a quiet machine; runs that other work kept
#                     from running at once are retried, up to 4 times)
#   make bench-charts the PNGs in bench/ from bench/out/*.json (gonum/plot)
#   make test-bench   vet and the harness's own unit tests (fast, no network;
#                     part of make test)
#
# `deps` installs redis-server, memcached and nginx+lua, which the harness
# starts itself on loopback; `build` makes libshmlru.so for the LuaJIT table.

BENCH_BIN := $(abspath $(BUILD))/shmlru-bench

.PHONY: bench-bin test-bench bench-lua bench-mlcache bench-load bench-near bench-hot bench-charts
bench-bin:
	cd bench && $(GO) build -o $(BENCH_BIN) ./cmd/shmlru-bench

bench: deps build bench-bin
	cd bench && $(BENCH_BIN) -mlcache.modes $(MLCACHE_MODES) -out out
	cd bench && $(GO) run ./cmd/shmlru-charts -out . out/*.json

bench-quick: deps build bench-bin
	cd bench && $(BENCH_BIN) -quick -mlcache.modes $(MLCACHE_MODES) -out out

bench-lua: deps build bench-bin
	cd bench && $(BENCH_BIN) -only lua -out out

bench-charts:
	cd bench && $(GO) run ./cmd/shmlru-charts -out . out/*.json

MLCACHE_MODES ?= always,update
bench-mlcache: deps build bench-bin
	cd bench && $(BENCH_BIN) -only mlcache -mlcache.modes $(MLCACHE_MODES) -out out

# Needs no servers and no libshmlru.so: the stampede is Go processes only.
bench-load: bench-bin
	cd bench && $(BENCH_BIN) -only load -out out

# Needs redis-server (deps), which it starts itself on loopback; no
# libshmlru.so: the near cache is Go processes only.
bench-near: deps bench-bin
	cd bench && $(BENCH_BIN) -only near -out out

HOT_PROCS ?= 1,2
bench-hot: deps build bench-bin
	cd bench && $(BENCH_BIN) -only hot -hot.procs $(HOT_PROCS) -out out

# In make test: the harness is vetted and its own tests run (no servers).
TEST_TARGETS += test-bench
test-bench:
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...
