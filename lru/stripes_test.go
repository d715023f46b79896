package lru

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/shm"
)

// stripeWatch follows a cache's stripes as a per-process copy would: each
// stripe's count, and a cursor on each change ring.
type stripeWatch struct {
	t       *testing.T
	c       *Cache
	counts  []uint64
	cursors []uint64
}

func watchStripes(t *testing.T, c *Cache) *stripeWatch {
	w := &stripeWatch{t: t, c: c, counts: make([]uint64, c.Binding().Stripes()), cursors: make([]uint64, c.Binding().Shards())}
	for i := range w.cursors {
		w.cursors[i] = ^uint64(0)
	}
	w.changes()
	w.counts = w.stamps()
	return w
}

func (w *stripeWatch) stamps() []uint64 {
	out := make([]uint64, len(w.counts))
	for i := range out {
		n, err := w.c.Binding().StripeStamp(uint32(i))
		if err != nil {
			w.t.Fatal(err)
		}
		out[i] = n
	}
	return out
}

func (w *stripeWatch) changes() ([]uint32, bool) {
	got, lapped, err := w.c.Binding().StripeChanges(w.cursors, make([]uint32, 0, 1<<16))
	if err != nil {
		w.t.Fatal(err)
	}
	return got, lapped
}

// bumped returns which stripes changed since the last call, and by how
// much, from the counts; and checks that the rings report the same
// stripes, once per bump.
func (w *stripeWatch) bumped(what string) map[uint32]uint64 {
	w.t.Helper()
	now := w.stamps()
	d := map[uint32]uint64{}
	for i := range now {
		if now[i] != w.counts[i] {
			d[uint32(i)] = now[i] - w.counts[i]
		}
	}
	w.counts = now
	got, lapped := w.changes()
	if lapped {
		w.t.Fatalf("%s: the rings lapped", what)
	}
	r := map[uint32]uint64{}
	for _, s := range got {
		r[s]++
	}
	if fmt.Sprint(r) != fmt.Sprint(d) {
		w.t.Fatalf("%s: the rings report %v, the counts moved %v", what, r, d)
	}
	return d
}

// Every change a reader could see bumps its key's stripe once and appends
// it to its shard's ring; reads bump nothing.
func TestStripesEveryWriterBumps(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 2})
	w := watchStripes(t, c)
	key := []byte("k")
	st, _, err := c.Binding().Stripe(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := format.StripeOf(hashKey(key), c.Binding().ShardOf(key), c.g.stripes); st != want {
		t.Fatalf("Stripe %d, format.StripeOf %d", st, want)
	}
	one := fmt.Sprint(map[uint32]uint64{st: 1})
	none := fmt.Sprint(map[uint32]uint64{})
	for _, step := range []struct {
		what string
		do   func() error
		want string
	}{
		{"insert", func() error { return c.Set(key, []byte("v1"), 0) }, one},
		{"rewrite in place", func() error { return c.Set(key, []byte("v2"), 0) }, one},
		{"rewrite larger", func() error { return c.Set(key, make([]byte, 300), 0) }, one},
		{"get", func() error { _, err := c.Get(key); return err }, none},
		{"peek", func() error { _, _, _, err := c.Peek(nil, key); return err }, none},
		{"ttl", func() error { _, err := c.TTL(key); return err }, none},
		{"expire", func() error { return c.Expire(key, time.Hour) }, one},
		{"delete", func() error { _, err := c.Delete(key); return err }, one},
		{"delete of nothing", func() error { _, err := c.Delete(key); return err }, none},
		{"incr with init", func() error { _, _, err := c.IncrInit(key, 1, 5, 0); return err }, one},
		{"incr in place", func() error { _, err := c.Incr(key, 1); return err }, one},
		{"add refused", func() error {
			if _, err := c.Write(key, []byte("x"), WriteOptions{Mode: ModeAdd}); !errors.Is(err, ErrExists) {
				return fmt.Errorf("add over a live entry: %v", err)
			}
			return nil
		}, none},
		{"delete again", func() error { _, err := c.Delete(key); return err }, one},
		{"lpush", func() error { _, err := c.LPush(key, []byte("a"), TypeBytes); return err }, one},
		{"rpush", func() error { _, err := c.RPush(key, []byte("b"), TypeBytes); return err }, one},
		{"lpop", func() error { _, _, err := c.LPop(nil, key); return err }, one},
		{"rpop of the last item", func() error { _, _, err := c.RPop(nil, key); return err }, one},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		if got := fmt.Sprint(w.bumped(step.what)); got != step.want {
			t.Fatalf("%s: stripes bumped %s, want %s", step.what, got, step.want)
		}
	}
	mustCheck(t, c)
}

// Eviction and the removal of expired entries change no value a reader
// could have copied: they bump nothing, and only the writes that caused
// them do.
func TestStripesEvictionAndExpiryDoNotBump(t *testing.T) {
	c := newCache(t, &Options{Size: 256 << 10, Shards: 1})
	w := watchStripes(t, c)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Set([]byte("short"), []byte("v"), time.Millisecond))
	w.bumped("set")
	time.Sleep(3 * time.Millisecond) // a deadline passing, not synchronisation
	if n, err := c.FlushExpired(0); err != nil || n != 1 {
		t.Fatalf("FlushExpired: %d %v", n, err)
	}
	if d := w.bumped("flush expired"); len(d) != 0 {
		t.Fatalf("removing an expired entry bumped %v", d)
	}
	writes := map[uint32]uint64{}
	var evicted bool
	for i := 0; !evicted; i++ {
		k := []byte(fmt.Sprint("e", i))
		r, err := c.Write(k, make([]byte, 4000), WriteOptions{}) // few enough to stay within a ring
		must(err)
		st, _, _ := c.Binding().Stripe(k)
		writes[st]++
		evicted = r.Forcible
	}
	if got := w.bumped("writes that evict"); fmt.Sprint(got) != fmt.Sprint(writes) {
		t.Fatalf("writes that evict bumped %v; the writes alone account for %v", got, writes)
	}
}

// A flush bumps every stripe, and every reader behind the ring's head
// finds it lapped; so does the reset of a shard found mid-change.
func TestStripesFlushAndResetLap(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 2})
	for _, how := range []string{"flush", "reset"} {
		w := watchStripes(t, c)
		if err := c.Set([]byte("x"), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		w.bumped("set")
		before := w.stamps()
		shards := []int{0, 1}
		switch how {
		case "flush":
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
		case "reset":
			s := c.shardFor(hashKey([]byte("x")))
			shards = []int{s.idx}
			atomic.AddUint64(&s.h.Seq, 1) // as a process that died mid-change leaves it
			if _, err := c.Get([]byte("x")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("get after the reset: %v", err)
			}
		}
		after := w.stamps()
		for _, si := range shards {
			for i := si * c.g.stripes; i < (si+1)*c.g.stripes; i++ {
				if after[i] != before[i]+1 {
					t.Fatalf("%s: stripe %d went from %d to %d, want one more", how, i, before[i], after[i])
				}
			}
		}
		if _, lapped := w.changes(); !lapped {
			t.Fatalf("%s: a reader behind the ring did not lap", how)
		}
		if got, lapped := w.changes(); lapped || len(got) != 0 {
			t.Fatalf("%s: after the lap, %v %v; want nothing", how, got, lapped)
		}
	}
	mustCheck(t, c)
}

// A reader less than a ring behind gets every change; one that falls a
// whole ring and more behind laps.
func TestStripesRingOverrun(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	w := watchStripes(t, c)
	for i := 0; i < c.g.ring; i++ {
		if err := c.Set([]byte("k"), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got, lapped := w.changes(); lapped || len(got) != c.g.ring {
		t.Fatalf("a ring's worth of changes: %d reported, lapped %v; want %d", len(got), lapped, c.g.ring)
	}
	for i := 0; i <= c.g.ring; i++ {
		if err := c.Set([]byte("k"), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, lapped := w.changes(); !lapped {
		t.Fatal("a ring and one more: not lapped")
	}
	// A cursor of another length is refused.
	if _, _, err := c.Binding().StripeChanges(make([]uint64, 2), nil); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("two cursors for one shard: %v", err)
	}
	if _, err := c.Binding().StripeStamp(uint32(c.Binding().Stripes())); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("a stripe out of range: %v", err)
	}
}

// Check finds a change ring slot that names no stripe, and Repair's reset
// clears the ring.
func TestCheckAndRepairRing(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	if err := c.Set([]byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	c.shards[0].ring[3] = uint32(c.g.stripes)
	ps, err := c.Check()
	if err != nil || len(ps) != 1 {
		t.Fatalf("Check of a bad ring slot: %v %v", ps, err)
	}
	if _, err := c.Repair(); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, c)
}

// readGeometry refuses stripes and rings the planner would not make.
func TestReadGeometryRefusesBadStripes(t *testing.T) {
	data := shm.DataSize(1<<20, 0)
	g, err := plan(data, shm.DefaultSlots, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for what, change := range map[string]func(*cacheHeader){
		"stripes below the least":  func(h *cacheHeader) { h.Stripes = format.MinStripes / 2 },
		"stripes not a power of 2": func(h *cacheHeader) { h.Stripes += 1 },
		"stripes above the most":   func(h *cacheHeader) { h.Stripes = format.MaxStripes * 2 },
		"ring of another size":     func(h *cacheHeader) { h.Ring /= 2 },
		"stripes elsewhere":        func(h *cacheHeader) { h.StripesOff += 64 },
		"ring elsewhere":           func(h *cacheHeader) { h.RingOff += 64 },
	} {
		h := g.header()
		change(&h)
		if _, err := readGeometry(&h, int(data)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", what, err)
		}
	}
}

// The guarantee, raced: a writer attachment sets a key to 1, 2, 3, ... and
// publishes each number once its Set returned; reader attachments keep a
// copy filled as a per-process copy is (the stripe's count, then the
// value) and serve it while the count stays. A copy served must hold at
// least the number published before the check began.
func TestStripesGuaranteeRaced(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 2})
	key := []byte("raced")
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(c.Set(key, []byte("0"), 0))
	var published atomic.Int64
	const writes = 20000
	done := make(chan error, 2)
	for range 2 {
		r, err := Open(c.r.Path(), &Options{NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			var have, stamp uint64
			var stripe uint32
			served := 0
			for published.Load() < writes {
				want := published.Load()
				if served > 0 {
					now, err := r.Binding().StripeStamp(stripe)
					must(err)
					if now == stamp {
						if int64(have) < want {
							done <- fmt.Errorf("a copy of %d served after %d was written", have, want)
							return
						}
						served++
						continue
					}
				}
				var err error
				stripe, stamp, err = r.Binding().Stripe(key)
				must(err)
				v, err := r.Get(key)
				must(err)
				n, err := fmt.Sscan(string(v), &have)
				if n != 1 {
					panic(err)
				}
				served++
			}
			done <- nil
		}()
	}
	for i := int64(1); i <= writes; i++ {
		must(c.Set(key, []byte(fmt.Sprint(i)), 0))
		published.Store(i)
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// A region truncated to nothing under an open cache and created anew in
// the same file by the next opener: the old cache's mapping shows the new
// region, and a copy it kept, with its cursors and stamps, must not pass
// for current once the new region has made as many changes as the old
// one had. Each region starts its change rings and stripe counts where
// another's are not (random starts), so a cursor or a stamp of the old
// region is never the new region's after the same number of changes.
func TestRecreatedRegionIsNoContinuation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache")
	o := &Options{Size: 1 << 20, Shards: 1}
	old, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	b := old.Binding()
	cursors := []uint64{^uint64(0)}
	if _, _, err := b.StripeChanges(cursors, nil); err != nil {
		t.Fatal(err)
	}
	const writes = 3
	for i := range writes {
		if err := old.Set([]byte("k"), []byte(fmt.Sprint("old", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.StripeChanges(cursors, make([]uint32, 0, 64)); err != nil {
		t.Fatal(err)
	}
	st, stamp, err := b.Stripe([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if same, err := b.Unchanged(cursors, st); err != nil || !same {
		t.Fatalf("Unchanged before: %v %v", same, err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range writes {
		if err := c.Set([]byte("k"), []byte(fmt.Sprint("new", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := old.Get([]byte("k")); err != nil || string(v) != fmt.Sprint("new", writes-1) {
		t.Fatalf("the old cache reads %q, %v: not the new region", v, err)
	}
	if same, err := b.Unchanged(cursors, st); err != nil || same {
		t.Fatalf("Unchanged with the old region's cursors: %v, %v; want false", same, err)
	}
	if now, err := b.StripeStamp(st); err != nil || now == stamp {
		t.Fatalf("the stripe reads the old region's stamp %d (%d, %v)", stamp, now, err)
	}
}

// A change ring's head of 0, which no region writes (startCounts): the
// ring-head watch of the C library reads 0 for a page the file lost, so
// StripeChanges answers it as corrupt and moves no cursor to it, Check
// finds it, and Repair's reset moves the head on, after which a reader
// finds it lapped.
func TestStripesHeadZeroIsCorrupt(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	w := watchStripes(t, c)
	before := w.cursors[0]
	atomic.StoreUint64(&c.shards[0].h.RingHead, 0)
	if _, _, err := c.Binding().StripeChanges(w.cursors, make([]uint32, 0, 64)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("StripeChanges over a head of 0: %v, want ErrCorrupt", err)
	}
	if w.cursors[0] != before {
		t.Fatalf("the cursor moved from %d to %d", before, w.cursors[0])
	}
	fresh := []uint64{^uint64(0)}
	if _, _, err := c.Binding().StripeChanges(fresh, nil); !errors.Is(err, ErrCorrupt) || fresh[0] != ^uint64(0) {
		t.Fatalf("a fresh cursor over a head of 0: %v, cursor %d", err, fresh[0])
	}
	ps, err := c.Check()
	if err != nil || len(ps) == 0 {
		t.Fatalf("Check of a head of 0: %v %v, want a problem", ps, err)
	}
	if _, err := c.Repair(); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, c)
	if _, lapped := w.changes(); !lapped {
		t.Fatal("after the repair: not lapped")
	}
}
