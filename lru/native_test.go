package lru

// Tests of NativeView, the second attachment that libshmlru.so's native
// path works through: it maps the very file the cache has open, whatever
// the path names by then and whatever trust options the cache was opened
// with, and its lock token is none that a word of the region holds.

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/shm"
	"golang.org/x/sys/unix"
)

// sameFile reports whether two descriptors name one file.
func sameFile(t *testing.T, a, b int) bool {
	t.Helper()
	var sa, sb unix.Stat_t
	if err := unix.Fstat(a, &sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(b, &sb); err != nil {
		t.Fatal(err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// A region renamed over the cache's path after Open must not become the
// native path's: its view maps the file the cache has open. Before, the
// view reopened the path and compared sizes only, so a region of the same
// size and another geometry was taken (C would have read and written it at
// the cache's offsets), and one of another size made the view fail.
func TestNativeViewMapsTheCachesFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"same size", Options{Size: 1 << 20, Shards: 1}},
		{"other size", Options{Size: 2 << 20, Shards: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "cache")
			c, err := Open(path, &Options{Size: 1 << 20, Shards: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			must(t, c.Set([]byte("k"), []byte("in the cache's file"), 0))

			other := filepath.Join(dir, "other")
			o := tc.o
			c2, err := Open(other, &o)
			if err != nil {
				t.Fatal(err)
			}
			must(t, c2.Set([]byte("k"), []byte("in the file renamed over it"), 0))
			c2.Close()
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}

			v, err := c.Binding().NativeView()
			if err != nil {
				t.Fatalf("NativeView after another region was renamed over the path: %v", err)
			}
			defer v.Region.Close()
			if !sameFile(t, v.Region.Fd(), c.Binding().Region().Fd()) {
				t.Fatal("the native view maps another file than the cache")
			}
			m, _ := v.Region.Mapping()
			if !bytes.Equal(m[v.DataOff:], c.Binding().Region().Data()) {
				t.Fatal("the native view's data area differs from the cache's")
			}
			if v.Region.Slot() == c.Binding().Region().Slot() || v.Region.Token() == c.Binding().Region().Token() {
				t.Fatalf("the view shares the cache's slot %d or token %#x", c.Binding().Region().Slot(), c.Binding().Region().Token())
			}
		})
	}
}

// A cache shared on purpose (Mode 0660, another owner named in TrustUIDs)
// gets a native view too. Before, the view reopened the path with the
// default options, and the trust rule refused the very file the cache had
// adopted, so such a cache was served by Go alone.
func TestNativeViewOfASharedRegion(t *testing.T) {
	const other = 4242
	for _, tc := range []struct {
		name  string
		owner int // chown the region to this uid first, if not 0
		o     Options
	}{
		{"group", 0, Options{Mode: 0o660}},
		{"another owner", other, Options{TrustUIDs: []int{other}}},
		{"another owner and group", other, Options{Mode: 0o660, TrustUIDs: []int{other}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.owner != 0 {
				testenv.NeedRoot(t, "give the region file to another user")
			}
			path := filepath.Join(t.TempDir(), "cache")
			o := tc.o
			o.Size = 1 << 20
			if tc.owner != 0 {
				c, err := Open(path, &o)
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				if err := os.Chown(path, tc.owner, os.Getegid()); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Open(path, &o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			v, err := c.Binding().NativeView()
			if err != nil {
				t.Fatalf("NativeView of a region opened with %+v: %v", o, err)
			}
			v.Region.Close()
		})
	}
}

// The view's token must not be one that a load-table flight still holds
// for a dead loader. Before, NativeView avoided only the shards' lock
// words; with the dead loader's token, the view (alive) looked like the
// loader, so its load was never taken over while the view lived.
func TestNativeViewAvoidsADeadLoadersToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache")
	c, err := Open(path, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The loader: an attachment of its own that claims a flight and dies
	// (closing its file description drops its slot's OFD lock, as the
	// kernel does when a process dies).
	loader, err := Open(path, &Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("k")
	lt, err := loader.Loads().Begin(key, 0)
	if err != nil || lt.State != LoadMine {
		t.Fatalf("loader's Loads.Begin: %v, %v", lt.State, err)
	}
	dead, slot := loader.r.Token(), loader.r.Slot()
	loader.Close()
	if owner := atomic.LoadUint32(&c.lt.flights[lt.Flight].Owner); owner != dead {
		t.Fatalf("setup: flight owner %#x, want the loader's token %#x", owner, dead)
	}

	// 2^15 - 1 claims of the loader's slot later, the next claim makes
	// its token again (see shm.Region.AvoidTokens). The slot table
	// follows the header page, 8 bytes a slot, the generation first.
	m, _ := c.r.Mapping()
	gen := (*uint32)(unsafe.Pointer(&m[shm.HeaderSize+8*slot]))
	atomic.AddUint32(gen, 1<<15-1)

	v, err := c.Binding().NativeView()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Region.Close()
	if v.Region.Slot() != slot {
		t.Fatalf("setup: the view claimed slot %d, not the dead loader's %d", v.Region.Slot(), slot)
	}
	if v.Region.Token() == dead {
		t.Fatalf("the native view was given token %#x, which the dead loader's flight holds", dead)
	}

	// The dead loader's load is taken over at once.
	wt, err := c.Loads().Begin(key, 0)
	if err != nil || wt.State != LoadWaiting {
		t.Fatalf("Loads.Begin of a key that is loading: %v, %v", wt.State, err)
	}
	if _, err := c.Loads().Wait(&wt, 0, 0); err != nil {
		t.Fatal(err)
	}
	if wt.State != LoadMine {
		t.Fatalf("waiter on a dead loader's load: %v, want %v (taken over)", wt.State, LoadMine)
	}
	must(t, c.Loads().End(&wt, LoadAbandoned, ""))
}
