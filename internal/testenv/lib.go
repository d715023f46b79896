package testenv

// The repository's checkout and the libshmlru.so `make build` leaves in it.

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// modulePath is the main module's path, which names the checkout's root.
const modulePath = "github.com/shmlru/shmlru"

// Root returns the repository's top directory: the nearest directory at or
// above the working directory whose go.mod declares the main module.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if isMainModule(filepath.Join(dir, "go.mod")) {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatalf("no go.mod of module %s at or above the working directory", modulePath)
		}
		dir = up
	}
}

func isMainModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.TrimSpace(mod) == modulePath
		}
	}
	return false
}

// libSources are the files, relative to the root, that mk/c.mk builds
// libshmlru.so from.
var libSources = []string{"c/*.go", "c/*.c", "c/*.h", "lru/*.go", "shm/*.go", "internal/format/*.go", "version/*.go", "go.mod", "go.sum"}

// Lib returns the absolute path of the libshmlru.so the tests load:
// $SHMLRU_LIB, or build/libshmlru.so under Root. A missing library ends
// the test as Missing says. build/libshmlru.so older than any of its
// sources fails the test, integration or not: it would test old code.
func Lib(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SHMLRU_LIB"); p != "" {
		p, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("SHMLRU_LIB=%s: %v", p, err)
		}
		return p
	}
	root := Root(t)
	lib := filepath.Join(root, "build", "libshmlru.so")
	st, err := os.Stat(lib)
	if err != nil {
		Missing(t, lib, "`make build` builds it")
	}
	for _, pattern := range libSources {
		srcs, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, src := range srcs {
			if strings.HasSuffix(src, "_test.go") {
				continue
			}
			if s, err := os.Stat(src); err == nil && s.ModTime().After(st.ModTime()) {
				t.Fatalf("%s is older than %s: run `make build` first (`make test` does)", lib, src)
			}
		}
	}
	return lib
}
