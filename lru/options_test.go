package lru

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/shm"
)

// A size too small for a cache is refused naming the region's size (not its
// data area's) and the smallest size that fits, in whole KiB; a cache of
// that size opens and works; lua_shared_dict's smallest, 8k, is refused so.
func TestOpenSmallestSize(t *testing.T) {
	for _, o := range []Options{{}, {Shards: 1}, {Shards: 4}, {MaxEntries: 10}} {
		least := minSize(&o)
		if least == 0 || least%1024 != 0 {
			t.Fatalf("%+v: smallest size %d", o, least)
		}
		for _, size := range []int64{8 << 10, 16 << 10, least - 1024} {
			o := o
			o.Size = size
			_, err := Open(filepath.Join(t.TempDir(), "r"), &o)
			want := fmt.Sprintf("Size %d is too small for ", size)
			at := fmt.Sprintf("give at least %dk (%d bytes)", least>>10, least)
			if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), at) {
				t.Errorf("Open(%+v) = %v; want ErrBadOptions saying %q and %q", o, err, want, at)
			}
		}
		o.Size = least
		c := newCache(t, &o)
		for i := 0; i < 100; i++ {
			if err := c.Set([]byte(fmt.Sprint("k", i)), []byte("value"), 0); err != nil {
				t.Fatalf("%+v: Set: %v", o, err)
			}
		}
		if v, err := c.Get([]byte("k99")); err != nil || string(v) != "value" {
			t.Fatalf("%+v: Get = %q, %v", o, v, err)
		}
		mustCheck(t, c)
		t.Logf("%+v: smallest %d bytes: %+v", o, least, c.Geometry())
	}
}

// minSize's search assumes that options fit every size above one they fit:
// every KiB over the first few MiB above the smallest.
func TestOptionsFitEverySizeAboveTheSmallest(t *testing.T) {
	for _, o := range []Options{{}, {Shards: 1}, {Shards: 8}, {MaxEntries: 1000}, {MaxValueSize: 100000}} {
		least := minSize(&o)
		for size := least; size < least+8<<20; size += 1024 {
			if _, err := plan(shm.DataSize(size, 0), shm.DefaultSlots, &o); err != nil {
				t.Fatalf("%+v: the smallest size is %d, but %d does not fit: %v", o, least, size, err)
			}
		}
	}
}

// The size a too-small refusal names is the smallest that opens. Options need not fit every size above one they fit (with Shards
// chosen, a larger region has more shards, each too small for a large
// MaxValueSize), so minSize's doubling and halving over "fits" could skip
// the first size that fits and name one twice as large.
func TestTooSmallNamesNoSizeAboveOneThatOpens(t *testing.T) {
	for _, mv := range []int{1 << 20, 1440768, 1857536, 1895424} {
		o := Options{MaxValueSize: mv}
		least := minSize(&o)
		if least == 0 {
			t.Fatalf("MaxValueSize %d: no smallest size", mv)
		}
		for kib := int64(1); kib < least>>10; kib++ {
			if _, err := plan(shm.DataSize(kib<<10, 0), shm.DefaultSlots, &o); err == nil {
				t.Fatalf("MaxValueSize %d: the refusal names %dk, but %dk opens", mv, least>>10, kib)
			}
		}
		if _, err := plan(shm.DataSize(least, 0), shm.DefaultSlots, &o); err != nil {
			t.Fatalf("MaxValueSize %d: the refusal names %dk, which does not open: %v", mv, least>>10, err)
		}
	}
}
