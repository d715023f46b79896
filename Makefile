# shmlru — see README.md. `make demo` and `make test` do all the set-up.
#
# Components add themselves through mk/*.mk: each fragment appends its build
# outputs to BUILD_TARGETS and its test targets to TEST_TARGETS.

GO      ?= go
BUILD   := build
GOFLAGS ?=
export CGO_ENABLED := 1

# Every integration test runs here: a missing tool (nginx, LuaJIT,
# redis-server, gcc, build/libshmlru.so, root) fails it, where plain
# `go test` skips it (internal/testenv).
export SHMLRU_INTEGRATION := 1

BUILD_TARGETS :=
TEST_TARGETS  := test-go
DEMO_DEPS     :=

.PHONY: all build test test-go vet fmt-check deps demo soak fuzz bench bench-quick clean
all: build

include $(sort $(wildcard mk/*.mk))

build: $(BUILD_TARGETS)

# System packages the tests need (luajit2, nginx with the lua module,
# redis, memcached, pkg-config, luarocks, groff). Idempotent; a no-op when all are present.
deps:
	@scripts/deps.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Go tests of the main module, with the race detector. The multi-process
# tests re-execute the test binary as child processes.
test-go:
	$(GO) test -race -count=1 -timeout 10m ./...

test: deps fmt-check vet build
	@$(MAKE) --no-print-directory $(TEST_TARGETS)
	@echo "make test: all passed"

# The long crash soak: 10,000 SIGKILLs (see lru/chaos_test.go).
soak:
	SHMLRU_SOAK_KILLS=10000 $(GO) test -count=1 -timeout 60m -run 'TestChaos' -v ./lru/

# Each fuzzer for FUZZTIME (the seed corpora also run in every `make test`).
# Minimizing each new input is bounded: by default it may take a minute per
# input, which left the fuzzers a few dozen executions in a minute's run.
FUZZTIME ?= 60s
FUZZFLAGS = -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 50x
fuzz:
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzCorrupt$$' ./lru/
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzOps$$' ./lru/
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzReadUnlocked$$' ./lru/
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzOpenFile$$' ./shm/

demo: deps build $(DEMO_DEPS)
	$(GO) run ./cmd/shmlru-demo

clean:
	rm -rf $(BUILD)
