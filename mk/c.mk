# The C ABI: build/libshmlru.so (c/, a cgo package main built as a
# c-shared library; public header c/shmlru.h) and its C test program.

CC ?= cc
LIBSHMLRU := $(BUILD)/libshmlru.so
LIBSHMLRU_SRC := $(wildcard c/*.go c/*.c c/*.h lru/*.go shm/*.go) go.mod go.sum

BUILD_TARGETS += $(LIBSHMLRU)
DEMO_DEPS     += $(LIBSHMLRU)
TEST_TARGETS  += test-c

.PHONY: test-c

$(LIBSHMLRU): $(filter-out %_test.go,$(LIBSHMLRU_SRC))
	@mkdir -p $(BUILD)
	$(GO) build $(GOFLAGS) -buildmode=c-shared -o $@ ./c

# The C test under AddressSanitizer and UBSan (valgrind cannot follow the
# Go runtime inside the library: see c/README.md).
$(BUILD)/abi_test: c/test/abi_test.c c/shmlru.h $(LIBSHMLRU)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer \
		-fsanitize=address,undefined -fno-sanitize-recover=all \
		-Ic -o $@ $< -L$(BUILD) -lshmlru -Wl,-rpath,'$$ORIGIN' -lpthread

test-c: $(BUILD)/abi_test
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 $(BUILD)/abi_test

# c/layout.h, the region's layout for the library's C code, is generated
# from the Go definitions (lru.LayoutFacts); c/layout_test.go fails while
# it is stale. Run this after changing lru/layout.go or shm's token layout.
.PHONY: generate
generate:
	$(GO) run ./c/gen -o c/layout.h
