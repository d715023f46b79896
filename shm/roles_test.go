package shm

import (
	"path/filepath"
	"testing"
)

// Shares of one byte: any number of attachments hold one at once, each
// sees the others' and not its own, and closing drops them.
func TestShares(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	open := func() *Region {
		r, err := Open(path, Options{Size: testSize})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a, b, c := open(), open(), open()
	shared := func(r *Region, off int) bool {
		t.Helper()
		ok, err := r.Shared(off)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	const off = 100
	for _, r := range []*Region{a, b} {
		if err := r.Share(off); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Share(off); err != nil {
		t.Fatalf("sharing a byte twice: %v", err)
	}
	if !shared(c, off) || !shared(a, off) || shared(c, off+1) {
		t.Fatal("c must see the shares of a and b, a must see b's, and no one a share of the next byte")
	}
	if err := b.Unshare(off); err != nil {
		t.Fatal(err)
	}
	if shared(a, off) || !shared(b, off) {
		t.Fatal("after b's unshare only a shares the byte, which a does not see")
	}
	if ok, _ := b.TryLockRole(off); ok {
		t.Fatal("a role was taken over a byte that another attachment shares")
	}
	a.Close()
	if shared(c, off) {
		t.Fatal("a closed attachment's share is still held")
	}
	if err := a.Share(off); err == nil {
		t.Fatal("a closed region took a share")
	}
}
