package lru

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
)

// lru.Open applies package shm's trust rule with the caller's TrustUIDs,
// TrustGIDs and Mode, and its refusal is lru.ErrUntrusted.
func TestOpenAppliesTheTrustRule(t *testing.T) {
	testenv.NeedRoot(t, "give the region file to another user")
	const other = 4242
	path := filepath.Join(t.TempDir(), "c")
	c, err := Open(path, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := os.Chown(path, other, other); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, &Options{NoCreate: true}); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("another user's region: %v, want ErrUntrusted", err)
	}
	c, err = Open(path, &Options{NoCreate: true, TrustUIDs: []int{other}})
	if err != nil {
		t.Fatalf("with TrustUIDs: %v", err)
	}
	c.Close()
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, &Options{NoCreate: true, Mode: 0o660, TrustUIDs: []int{other}}); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("a region its group (not ours) can write: %v, want ErrUntrusted", err)
	}
	c, err = Open(path, &Options{NoCreate: true, Mode: 0o660, TrustUIDs: []int{other}, TrustGIDs: []int{other}})
	if err != nil {
		t.Fatalf("with TrustGIDs: %v", err)
	}
	c.Close()
	if _, err := Open(filepath.Join(t.TempDir(), "d"), &Options{Mode: 0o644}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("Mode 0644: %v, want ErrBadOptions", err)
	}
}
