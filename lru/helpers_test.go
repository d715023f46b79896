package lru

import (
	"path/filepath"
	"testing"
)

// newCache opens a fresh cache in a temporary directory, closed at cleanup.
func newCache(t testing.TB, o *Options) *Cache {
	t.Helper()
	if o == nil {
		o = &Options{Size: 4 << 20}
	}
	c, err := Open(filepath.Join(t.TempDir(), "cache"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustCheck(t testing.TB, c *Cache) {
	t.Helper()
	ps, err := c.Check()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Error(p)
	}
}
