package lru

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/shmlru/shmlru/shm"
)

// Defaults for Options' zero values.
const (
	DefaultSize = 64 << 20 // bytes
)

// Options configure Open. The geometry fields (Size, Shards, MaxEntries,
// MaxValueSize) apply when Open creates the region; an existing
// region's geometry is adopted unless Exact is set.
type Options struct {
	// Size of the region file in bytes (0 = DefaultSize). It is reserved
	// at creation, so a full tmpfs fails then, not later.
	Size int64

	// Shards is the number of independently locked parts, a power of two.
	// 0 chooses by size: the largest power of two up to 16 that leaves each
	// shard at least 1 MiB, then more, up to 64, while each keeps at least
	// 16 MiB (so a 16 MiB region, whose data area is a little under 16 MiB,
	// gets 8; 64 MiB gets 16; 1 GiB gets 32). The LRU order is kept
	// within a shard.
	Shards int

	// MaxEntries caps the number of entries (0 = as many as fit). The cap
	// is per shard, ⌈MaxEntries / shards⌉ each, so a cache whose keys
	// spread unevenly over its shards starts evicting a little before
	// MaxEntries. It also sizes the hash index: a bucket per entry,
	// rounded up to a power of two per shard (0: a bucket per 96 to 192
	// bytes of storage).
	MaxEntries int

	// MaxValueSize is the largest value accepted (0 = a quarter of a
	// shard). It may be at most about a shard's size.
	MaxValueSize int

	// Mode is the new file's permission (0 = 0600), and whom the caller
	// shares the cache with: an existing file that others can write beyond
	// it is ErrUntrusted. 0660 shares with the file's group, 0666 with
	// everyone; a mode that lets anyone read without writing (0640, 0644)
	// is ErrBadOptions (see shm.Options.Mode).
	Mode os.FileMode

	// TrustUIDs names the users, besides the caller and root, whose region
	// files Open adopts; any other owner's is ErrUntrusted (see
	// shm.Options.TrustUIDs).
	TrustUIDs []int

	// TrustGIDs names groups, besides the caller's own, that may write a
	// region file Open adopts with Mode 0660.
	TrustGIDs []int

	// Exact makes Open fail with ErrGeometry when an existing region's
	// geometry differs from the non-zero fields above, instead of adopting
	// it.
	Exact bool

	// NoCreate makes Open fail when the region does not exist yet, with an
	// error wrapping fs.ErrNotExist (test it with errors.Is(err,
	// os.ErrNotExist)); an empty or unfinished file is ErrNotRegion.
	NoCreate bool
}

// check refuses what no region can have: a negative size, count or limit
// (0 is each field's default). What depends on the size, such as a shard
// too small for MaxValueSize, is for the layout's plan to refuse.
func (o *Options) check() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Size", o.Size},
		{"Shards", int64(o.Shards)},
		{"MaxEntries", int64(o.MaxEntries)},
		{"MaxValueSize", int64(o.MaxValueSize)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s %d is negative; use 0 for the default", ErrBadOptions, f.name, f.v)
		}
	}
	return nil
}

// Geometry describes a cache's layout and limits, as fixed at creation.
type Geometry struct {
	Size            int64 // bytes of the region file
	Shards          int
	HeapPerShard    int // bytes of entry storage per shard
	BucketsPerShard int
	MaxEntries      int // in the whole cache
	MaxKey          int // longest key accepted, bytes
	MaxValue        int // longest value accepted, bytes
	Loads           int // read-through loads the load table holds at once (see Loads.Begin)
}

// tooSmallError is plan's refusal of a data area whose shards would be too
// small to hold the least storage a shard has, beside the hash index that
// MaxEntries sizes; planSize words it for the region's size.
type tooSmallError struct {
	shards     int
	per        int64 // bytes per shard
	maxEntries int
}

func (e *tooSmallError) Error() string {
	if e.maxEntries > 0 {
		return fmt.Sprintf("%v: MaxEntries %d leaves no room for values in %d shards of %d bytes; give a larger Size or a smaller MaxEntries", ErrBadOptions, e.maxEntries, e.shards, e.per)
	}
	return fmt.Sprintf("%v: %d shards of %d bytes are too small; give a larger Size or fewer Shards", ErrBadOptions, e.shards, e.per)
}

func (e *tooSmallError) Unwrap() error { return ErrBadOptions }

// planSize plans the geometry of a new region of size bytes. A size too
// small for o's options is refused naming the smallest that is not: the
// region's header and process slot table, the load and track tables and
// every shard's least storage take a fixed part of any region, so its
// smallest size is well above lua_shared_dict's 8k.
func planSize(size int64, o *Options) (geometry, error) {
	g, err := plan(shm.DataSize(size, 0), shm.DefaultSlots, o)
	var small *tooSmallError
	if !errors.As(err, &small) {
		return g, err
	}
	least := minSize(o)
	if least == 0 {
		return g, err
	}
	var of, or []string
	if o.Shards > 0 {
		of, or = append(of, fmt.Sprint(o.Shards, " Shards")), append(or, "fewer Shards")
	}
	if o.MaxEntries > 0 {
		of, or = append(of, fmt.Sprint("MaxEntries ", o.MaxEntries)), append(or, "a smaller MaxEntries")
	}
	msg := fmt.Sprintf("Size %d is too small for a cache", size)
	if len(of) > 0 {
		msg += " of " + strings.Join(of, " and ")
	}
	msg += fmt.Sprintf("; give at least %dk (%d bytes)", least>>10, least)
	if len(or) > 0 {
		msg += ", or " + strings.Join(or, " or ")
	}
	return g, fmt.Errorf("%w: %s", ErrBadOptions, msg)
}

// maxMinSize bounds minSize's search: beyond it, planSize names no size.
const maxMinSize = 1 << 40

// minSize returns the smallest size, in whole KiB, of a region that o's
// options fit, or 0 if none up to maxMinSize is even large enough. Fitting
// is not monotone (with Shards chosen, a larger region has more, smaller
// shards, which a large MaxValueSize may not fit), so a search over it
// could skip the first size that fits. Being large enough (no
// tooSmallError) is monotone: the search doubles, then halves, to the
// first such size, below which nothing opens; then it steps a KiB at a
// time, for at most maxFitSteps, to the first size that fits, and if none
// does names the lower bound.
func minSize(o *Options) int64 {
	least := minLargeEnough(o)
	if least == 0 {
		return 0
	}
	for kib := least >> 10; kib < least>>10+maxFitSteps; kib++ {
		if _, err := plan(shm.DataSize(kib<<10, 0), shm.DefaultSlots, o); err == nil {
			return kib << 10
		}
	}
	return least
}

// maxFitSteps bounds minSize's walk from the first size large enough.
const maxFitSteps = 1 << 14

// minLargeEnough returns the smallest size, in whole KiB, of a region that
// is not too small for o's options (plan's tooSmallError), or 0 if none up
// to maxMinSize is.
func minLargeEnough(o *Options) int64 {
	fits := func(kib int64) bool {
		_, err := plan(shm.DataSize(kib<<10, 0), shm.DefaultSlots, o)
		var small *tooSmallError
		return !errors.As(err, &small)
	}
	lo, hi := int64(0), int64(16) // lo does not fit (0 never does); hi is to be tried
	for !fits(hi) {
		if hi<<10 >= maxMinSize {
			return 0
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi << 10
}
