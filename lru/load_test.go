package lru

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// Read-through within one process. Two handles on one region are two
// attachments with tokens of their own, so they meet in the load table
// exactly as two processes do; load_multiproc_test.go uses real processes.

func twoHandles(t *testing.T, o *Options) (a, b *Cache) {
	t.Helper()
	if o == nil {
		o = &Options{Size: 4 << 20}
	}
	path := filepath.Join(t.TempDir(), "c")
	return openAt(t, path, o), openAt(t, path, o)
}

// eventually waits for cond, failing the test after 10 s. It polls: what
// it waits for happens in another attachment, which cannot signal us.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func loadStats(t *testing.T, c *Cache) LoadCounters {
	t.Helper()
	s, err := c.Loads().Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingLoader returns a loader that counts its calls, blocks until
// release is closed (nil: does not block), and returns value.
func countingLoader(n *atomic.Int32, started chan<- struct{}, release <-chan struct{}, value string, err error) Loader {
	return func(ctx context.Context, key []byte) ([]byte, error) {
		n.Add(1)
		if started != nil {
			select { // a second call must not block the test
			case started <- struct{}{}:
			default:
			}
		}
		if release != nil {
			<-release
		}
		if err != nil {
			return nil, err
		}
		return []byte(value), nil
	}
}

func TestGetOrLoadHitAndMiss(t *testing.T) {
	c := newCache(t, nil)
	var n atomic.Int32
	load := countingLoader(&n, nil, nil, "loaded", nil)
	ctx := context.Background()
	v, src, err := c.Load(ctx, nil, []byte("k"), load, LoadOptions{TTL: time.Hour})
	if err != nil || string(v) != "loaded" || src != SourceLoaded {
		t.Fatalf("first Load: %q, %v, %v; want loaded, SourceLoaded", v, src, err)
	}
	v, src, err = c.Load(ctx, []byte("x:"), []byte("k"), load, LoadOptions{TTL: time.Hour})
	if err != nil || string(v) != "x:loaded" || src != SourceHit {
		t.Fatalf("second Load: %q, %v, %v; want x:loaded, SourceHit", v, src, err)
	}
	if n.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", n.Load())
	}
	if ttl, _ := c.TTL([]byte("k")); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("TTL of the loaded value %v, want (0, 1h]", ttl)
	}
	if s := loadStats(t, c); s.Loads != 1 || s.Waits != 0 {
		t.Fatalf("load stats %+v, want one load and no wait", s)
	}
}

// Callers of one key in two attachments: one loader runs, the other caller
// sleeps in the load table until it has written, and reads the value.
func TestGetOrLoadOneLoaderAcrossAttachments(t *testing.T) {
	a, b := twoHandles(t, nil)
	var n atomic.Int32
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	load := countingLoader(&n, started, release, "v", nil)
	type result struct {
		v   []byte
		src Source
		err error
	}
	res := make(chan result, 2)
	go func() {
		v, src, err := a.Load(context.Background(), nil, []byte("k"), load, LoadOptions{})
		res <- result{v, src, err}
	}()
	<-started
	go func() {
		v, src, err := b.Load(context.Background(), nil, []byte("k"), load, LoadOptions{})
		res <- result{v, src, err}
	}()
	eventually(t, "b to wait on a's load", func() bool { return loadStats(t, a).Waits == 1 })
	close(release)
	srcs := map[Source]int{}
	for range 2 {
		r := <-res
		if r.err != nil || string(r.v) != "v" {
			t.Fatalf("Load: %q, %v", r.v, r.err)
		}
		srcs[r.src]++
	}
	if n.Load() != 1 || srcs[SourceLoaded] != 1 || srcs[SourceWaited] != 1 {
		t.Fatalf("loader ran %d times, sources %v; want 1, one loaded and one waited", n.Load(), srcs)
	}
}

// Goroutines of one process coalesce before the load table: one of them
// meets the other processes, the rest share its result, its error value
// included.
func TestGetOrLoadCoalescesGoroutines(t *testing.T) {
	c := newCache(t, nil)
	var n atomic.Int32
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	boom := errors.New("database down")
	load := countingLoader(&n, started, release, "", boom)
	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GetOrLoad(context.Background(), []byte("k"), load, LoadOptions{})
			errs <- err
		}()
	}
	<-started
	// Every other caller is parked on the leader: no one else can be in
	// the load table.
	eventually(t, "every caller to join the leader", func() bool {
		c.localMu.Lock()
		defer c.localMu.Unlock()
		return c.local["k"] != nil && c.local["k"].followers == callers-1
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		var le *LoadError
		if !errors.As(err, &le) || !errors.Is(err, boom) {
			t.Fatalf("caller got %v, want a *LoadError wrapping the loader's error", err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", n.Load())
	}
	if _, err := c.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a failed load Get says %v; nothing must be cached", err)
	}
}

// A loader's error reaches the callers waiting in other attachments, as
// its message; nothing is cached, and the next miss loads again.
func TestGetOrLoadErrorReachesWaiters(t *testing.T) {
	a, b := twoHandles(t, nil)
	var n atomic.Int32
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	loadErr := errors.New("upstream said 503")
	load := countingLoader(&n, started, release, "", loadErr)
	errA := make(chan error, 1)
	go func() {
		_, err := a.GetOrLoad(context.Background(), []byte("k"), load, LoadOptions{})
		errA <- err
	}()
	<-started
	errB := make(chan error, 1)
	go func() {
		_, err := b.GetOrLoad(context.Background(), []byte("k"), load, LoadOptions{})
		errB <- err
	}()
	eventually(t, "b to wait", func() bool { return loadStats(t, a).Waits == 1 })
	close(release)
	if err := <-errA; !errors.Is(err, loadErr) {
		t.Fatalf("loader's caller got %v", err)
	}
	var le *LoadError
	if err := <-errB; !errors.As(err, &le) || le.Msg != loadErr.Error() || le.Err != nil {
		t.Fatalf("waiter got %v (%+v), want a *LoadError with the loader's message", err, le)
	}
	if s := loadStats(t, b); s.Failures != 1 {
		t.Fatalf("stats %+v, want one failure", s)
	}
	v, err := b.GetOrLoad(context.Background(), []byte("k"), countingLoader(&n, nil, nil, "ok", nil), LoadOptions{})
	if err != nil || string(v) != "ok" || n.Load() != 2 {
		t.Fatalf("next miss: %q, %v, %d loads; want it loaded again", v, err, n.Load())
	}
}

// "Not found" from the loader is remembered for NegativeTTL as an entry
// of TypeNone, which every read treats as not found; without NegativeTTL
// every miss asks the loader again.
func TestGetOrLoadNegativeCaching(t *testing.T) {
	c := newCache(t, nil)
	var n atomic.Int32
	absent := countingLoader(&n, nil, nil, "", fmt.Errorf("no row: %w", ErrNotFound))
	ctx := context.Background()
	for i := range 2 {
		_, err := c.GetOrLoad(ctx, []byte("none"), absent, LoadOptions{})
		if !errors.Is(err, ErrNotFound) || n.Load() != int32(i+1) {
			t.Fatalf("without NegativeTTL, call %d: %v after %d loads", i, err, n.Load())
		}
	}
	n.Store(0)
	o := LoadOptions{TTL: time.Hour, NegativeTTL: time.Hour}
	for i := range 3 {
		_, src, err := c.Load(ctx, nil, []byte("neg"), absent, o)
		wantSrc := SourceHit
		if i == 0 {
			wantSrc = SourceLoaded
		}
		if !errors.Is(err, ErrNotFound) || src != wantSrc {
			t.Fatalf("call %d: %v, %v; want ErrNotFound from %v", i, err, src, wantSrc)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1 (the absence is remembered)", n.Load())
	}
	if _, err := c.Get([]byte("neg")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a cached absence: %v, want ErrNotFound", err)
	}
	if _, m, _, err := c.Peek(nil, []byte("neg")); err != nil || m.Type != TypeNone || m.Size != 0 {
		t.Fatalf("Peek of a cached absence: %+v, %v; want TypeNone, empty", m, err)
	}
	if err := c.Add([]byte("neg"), []byte("added"), 0); err != nil {
		t.Fatalf("Add over a cached absence: %v; it holds no value", err)
	}
	if v, _ := c.Get([]byte("neg")); string(v) != "added" {
		t.Fatalf("after Add: %q", v)
	}
}

// Replace and CAS see no value in a cached absence.
func TestCachedAbsenceIsNoValueToWrites(t *testing.T) {
	c := newCache(t, nil)
	if _, err := c.Write([]byte("k"), nil, WriteOptions{Type: TypeNone}); err != nil {
		t.Fatal(err)
	}
	if err := c.Replace([]byte("k"), []byte("x"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replace over a cached absence: %v, want ErrNotFound", err)
	}
	if _, err := c.Write([]byte("k"), []byte("x"), WriteOptions{Type: TypeNone}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("a TypeNone value with bytes: %v, want ErrBadValue", err)
	}
}

// Stale-while-revalidate: a value past its fresh time but within its stale
// window is served at once, and one background load refreshes it.
func TestGetOrLoadStaleWhileRevalidate(t *testing.T) {
	a, b := twoHandles(t, nil)
	ctx := context.Background()
	// An entry whose stale window is longer than its TTL: already past
	// its fresh time, still well within its deadline.
	w := WriteOptions{TTL: time.Hour, Flags: StaleFlag | uint32((2 * time.Hour).Milliseconds())}
	if _, err := a.Write([]byte("k"), []byte("old"), w); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	load := countingLoader(&n, started, release, "new", nil)
	o := LoadOptions{TTL: time.Hour, StaleTTL: time.Minute}
	v, src, err := a.Load(ctx, nil, []byte("k"), load, o)
	if err != nil || string(v) != "old" || src != SourceStale {
		t.Fatalf("Load: %q, %v, %v; want the stale value", v, src, err)
	}
	<-started // the refresh runs in the background
	// Everyone else gets the stale value too, and starts no second load.
	for _, c := range []*Cache{a, b} {
		v, src, err := c.Load(ctx, nil, []byte("k"), load, o)
		if err != nil || string(v) != "old" || src != SourceStale {
			t.Fatalf("Load during the refresh: %q, %v, %v", v, src, err)
		}
	}
	close(release)
	// Wait for the refresh to end: join its load.
	t2, err := b.Loads().Begin([]byte("k"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if t2.State == LoadWaiting {
		if _, err := b.Loads().Wait(&t2, time.Minute, 0); err != nil || t2.State != LoadDone {
			t.Fatalf("waiting for the refresh: %v, %v", t2.State, err)
		}
	} else if err := b.Loads().End(&t2, LoadAbandoned, ""); err != nil {
		t.Fatal(err)
	}
	v, src, err = b.Load(ctx, nil, []byte("k"), load, o)
	if err != nil || string(v) != "new" || src != SourceHit {
		t.Fatalf("after the refresh: %q, %v, %v; want the new value, fresh", v, src, err)
	}
	if n.Load() != 1 {
		t.Fatalf("refreshed %d times, want 1", n.Load())
	}
	_, m, _ := b.GetInto(nil, []byte("k"))
	if m.Flags != StaleFlag|uint32(time.Minute.Milliseconds()) {
		t.Fatalf("flags of the refreshed entry %#x, want the stale window", m.Flags)
	}
	if ttl, _ := b.TTL([]byte("k")); ttl <= time.Hour || ttl > time.Hour+time.Minute {
		t.Fatalf("deadline of the refreshed entry in %v, want TTL+StaleTTL", ttl)
	}
}

// ResurrectTTL: when the loader fails and an expired value is at hand, it
// is served and made fresh again; without it, the error goes out.
func TestGetOrLoadResurrect(t *testing.T) {
	c := newCache(t, nil)
	ctx := context.Background()
	c.Set([]byte("k"), []byte("old"), time.Hour)
	expireNow(t, c, []byte("k"))
	var n atomic.Int32
	fail := countingLoader(&n, nil, nil, "", errors.New("db timeout"))
	if _, err := c.GetOrLoad(ctx, []byte("k"), fail, LoadOptions{TTL: time.Hour}); err == nil {
		t.Fatal("without ResurrectTTL a failed load must be an error")
	}
	c.Set([]byte("k"), []byte("old"), time.Hour)
	expireNow(t, c, []byte("k"))
	v, src, err := c.Load(ctx, nil, []byte("k"), fail, LoadOptions{TTL: time.Hour, ResurrectTTL: time.Minute})
	if err != nil || string(v) != "old" || src != SourceResurrected {
		t.Fatalf("Load: %q, %v, %v; want the old value resurrected", v, src, err)
	}
	if ttl, _ := c.TTL([]byte("k")); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("resurrected TTL %v, want (0, 1m]", ttl)
	}
	if v, src, err := c.Load(ctx, nil, []byte("k"), fail, LoadOptions{TTL: time.Hour}); err != nil || string(v) != "old" || src != SourceResurrected {
		t.Fatalf("next Load: %q, %v, %v; want the resurrected value, still resurrected", v, src, err)
	}
}

// A waiter's context bounds its wait: cancelled, or past its deadline
// behind a slower loader, it gets the context's error, and the load goes
// on for everyone else.
func TestGetOrLoadWaiterContext(t *testing.T) {
	a, b := twoHandles(t, nil)
	var n atomic.Int32
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	load := countingLoader(&n, started, release, "v", nil)
	done := make(chan error, 1)
	go func() {
		_, err := a.GetOrLoad(context.Background(), []byte("k"), load, LoadOptions{})
		done <- err
	}()
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := b.GetOrLoad(ctx, []byte("k"), load, LoadOptions{})
		cancelled <- err
	}()
	eventually(t, "the waiter to wait", func() bool { return loadStats(t, a).Waits == 1 })
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := b.GetOrLoad(short, []byte("k"), load, LoadOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter behind a slower loader: %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, src, err := b.Load(context.Background(), nil, []byte("k"), load, LoadOptions{}); err != nil || string(v) != "v" || src != SourceHit {
		t.Fatalf("after the load: %q, %v, %v", v, src, err)
	}
	if n.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", n.Load())
	}
}

// A loader whose own caller goes away abandons the load: a waiter takes it
// over at once and loads.
func TestGetOrLoadAbandonedByLoadersContext(t *testing.T) {
	a, b := twoHandles(t, nil)
	var n atomic.Int32
	started := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	slow := func(ctx context.Context, key []byte) ([]byte, error) {
		n.Add(1)
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.GetOrLoad(ctx, []byte("k"), slow, LoadOptions{})
		done <- err
	}()
	<-started
	got := make(chan error, 1)
	go func() {
		v, src, err := b.Load(context.Background(), nil, []byte("k"), countingLoader(&n, nil, nil, "b's", nil), LoadOptions{})
		if err == nil && (string(v) != "b's" || src != SourceLoaded) {
			err = fmt.Errorf("got %q from %v", v, src)
		}
		got <- err
	}()
	eventually(t, "b to wait", func() bool { return loadStats(t, a).Waits == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoning caller: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v; want it to take over and load", err)
	}
	if s := loadStats(t, a); s.Abandoned != 1 || n.Load() != 2 {
		t.Fatalf("stats %+v after %d loads; want one abandoned, then a second load", s, n.Load())
	}
}

// A loader that panics ends its load (abandoned) on the way out, so no
// one waits on it, and the panic reaches its caller.
func TestGetOrLoadLoaderPanics(t *testing.T) {
	c := newCache(t, nil)
	func() {
		defer func() {
			if p := recover(); p != "loader bug" {
				t.Fatalf("recovered %v, want the loader's panic", p)
			}
		}()
		c.GetOrLoad(context.Background(), []byte("k"), func(context.Context, []byte) ([]byte, error) { panic("loader bug") }, LoadOptions{})
	}()
	var n atomic.Int32
	if v, err := c.GetOrLoad(context.Background(), []byte("k"), countingLoader(&n, nil, nil, "v", nil), LoadOptions{}); err != nil || string(v) != "v" {
		t.Fatalf("after the panic: %q, %v", v, err)
	}
	if s := loadStats(t, c); s.Abandoned != 1 {
		t.Fatalf("stats %+v, want the panicked load abandoned", s)
	}
}

// A lease that runs out lets a waiter take the load over from a live but
// stuck loader; the old loader's Loads.End then says it lost the load.
func TestLoadLeaseRunsOut(t *testing.T) {
	a, b := twoHandles(t, nil)
	ta, err := a.Loads().Begin([]byte("k"), time.Millisecond)
	if err != nil || ta.State != LoadMine {
		t.Fatalf("Loads.Begin: %+v, %v", ta, err)
	}
	tb, err := b.Loads().Begin([]byte("k"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if tb.State == LoadWaiting {
		if _, err := b.Loads().Wait(&tb, time.Minute, 0); err != nil {
			t.Fatal(err)
		}
	}
	if tb.State != LoadMine {
		t.Fatalf("after the lease: %v, want LoadMine (taken over)", tb.State)
	}
	if _, err := b.Loads().Write(&tb, []byte("k"), []byte("new"), WriteOptions{}); err != nil {
		t.Fatalf("new loader's Loads.Write: %v", err)
	}
	if _, err := a.Loads().Write(&ta, []byte("k"), []byte("late"), WriteOptions{}); !errors.Is(err, ErrLoadLost) {
		t.Fatalf("old loader's Loads.Write: %v, want ErrLoadLost", err)
	}
	if v, err := a.Get([]byte("k")); err != nil || string(v) != "new" {
		t.Fatalf("after both writes: %q, %v; want the new loader's", v, err)
	}
	if err := a.Loads().End(&ta, LoadDone, ""); !errors.Is(err, ErrLoadLost) {
		t.Fatalf("old loader's Loads.End: %v, want ErrLoadLost", err)
	}
	if err := b.Loads().End(&tb, LoadDone, ""); err != nil {
		t.Fatalf("new loader's Loads.End: %v", err)
	}
	if s := loadStats(t, a); s.Takeovers != 1 {
		t.Fatalf("stats %+v, want one takeover", s)
	}
}

// When every slot of a key's window is loading other keys, the caller
// waits for a slot to free, and then claims one.
func TestLoadWindowFull(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20})
	n := c.Geometry().Loads
	// loadWindow+1 keys whose flights all start at slot 0.
	var keys [][]byte
	for i := 0; len(keys) <= loadWindow; i++ {
		k := []byte(fmt.Sprint("key", i))
		if int(hashKey(k))&(n-1) == 0 {
			keys = append(keys, k)
		}
	}
	var tickets []LoadTicket
	for _, k := range keys[:loadWindow] {
		tk, err := c.Loads().Begin(k, 0)
		if err != nil || tk.State != LoadMine {
			t.Fatalf("Loads.Begin(%s): %+v, %v", k, tk, err)
		}
		tickets = append(tickets, tk)
	}
	last, err := c.Loads().Begin(keys[loadWindow], 0)
	if err != nil || last.State != LoadWaiting || last.Flight != uint32(n) {
		t.Fatalf("Loads.Begin with the window full: %+v, %v; want to wait for a free slot", last, err)
	}
	if _, err := c.Loads().Wait(&last, 0, 0); err != nil || last.State != LoadWaiting {
		t.Fatalf("poll with the window full: %v, %v", last.State, err)
	}
	if err := c.Loads().End(&tickets[3], LoadDone, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Loads().Wait(&last, time.Minute, 0); err != nil || last.State != LoadDone {
		t.Fatalf("after a slot freed: %v, %v; want LoadDone (look again)", last.State, err)
	}
	again, err := c.Loads().Begin(keys[loadWindow], 0)
	if err != nil || again.State != LoadMine || again.Flight != tickets[3].Flight {
		t.Fatalf("Loads.Begin after a slot freed: %+v, %v; want the freed slot", again, err)
	}
}

// Tickets that Loads.Begin did not issue, or in the wrong state, are refused
// and change nothing.
func TestLoadBadTickets(t *testing.T) {
	c := newCache(t, nil)
	mine, err := c.Loads().Begin([]byte("k"), 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		call func() error
		want error
	}{
		{"Loads.End of a waiting ticket", func() error { t := mine; t.State = LoadWaiting; return c.Loads().End(&t, LoadDone, "") }, ErrBadTicket},
		{"Loads.End out of the table", func() error { t := mine; t.Flight = 1 << 30; return c.Loads().End(&t, LoadDone, "") }, ErrBadTicket},
		{"Loads.End with a foreign seq", func() error { t := mine; t.Seq += 7; return c.Loads().End(&t, LoadDone, "") }, ErrLoadLost},
		{"Loads.End with outcome LoadMine", func() error { t := mine; return c.Loads().End(&t, LoadMine, "") }, ErrBadOptions},
		{"Loads.Write of a waiting ticket", func() error {
			t := mine
			t.State = LoadWaiting
			_, err := c.Loads().Write(&t, []byte("k"), nil, WriteOptions{})
			return err
		}, ErrBadTicket},
		{"Loads.Write of another key", func() error { _, err := c.Loads().Write(&mine, []byte("x"), nil, WriteOptions{}); return err }, ErrBadTicket},
		{"Loads.Write out of the table", func() error {
			t := mine
			t.Flight = 1 << 30
			_, err := c.Loads().Write(&t, []byte("k"), nil, WriteOptions{})
			return err
		}, ErrBadTicket},
		{"Loads.Write with a foreign seq", func() error {
			t := mine
			t.Seq += 7
			_, err := c.Loads().Write(&t, []byte("k"), nil, WriteOptions{})
			return err
		}, ErrLoadLost},
		{"Loads.Wait of a ticket that is mine", func() error { t := mine; _, err := c.Loads().Wait(&t, 0, 0); return err }, ErrBadTicket},
		{"Loads.Wait out of the table", func() error {
			t := mine
			t.State, t.Flight = LoadWaiting, 1<<30
			_, err := c.Loads().Wait(&t, 0, 0)
			return err
		}, ErrBadTicket},
		{"Loads.Wait with a negative timeout", func() error {
			t := mine
			t.State = LoadWaiting
			_, err := c.Loads().Wait(&t, -1, 0)
			return err
		}, ErrBadOptions},
		{"Loads.Begin with a negative lease", func() error { _, err := c.Loads().Begin([]byte("x"), -1); return err }, ErrBadOptions},
		{"Loads.Begin of an empty key", func() error { _, err := c.Loads().Begin(nil, 0); return err }, ErrEmptyKey},
		{"Load with a nil loader", func() error { _, err := c.GetOrLoad(context.Background(), []byte("x"), nil, LoadOptions{}); return err }, ErrBadOptions},
		{"Load with StaleTTL and no TTL", func() error {
			_, err := c.GetOrLoad(context.Background(), []byte("x"), countingLoader(new(atomic.Int32), nil, nil, "", nil), LoadOptions{StaleTTL: time.Second})
			return err
		}, ErrBadOptions},
		{"Load with a negative TTL", func() error {
			_, err := c.GetOrLoad(context.Background(), []byte("x"), countingLoader(new(atomic.Int32), nil, nil, "", nil), LoadOptions{NegativeTTL: -time.Second})
			return err
		}, ErrBadTTL},
		{"Load of TypeNone values", func() error {
			_, err := c.GetOrLoad(context.Background(), []byte("x"), countingLoader(new(atomic.Int32), nil, nil, "", nil), LoadOptions{Type: TypeNone})
			return err
		}, ErrBadOptions},
	}
	for _, b := range bad {
		if err := b.call(); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
	}
	// The real load is untouched by all of that.
	if err := c.Loads().End(&mine, LoadDone, ""); err != nil {
		t.Fatalf("Loads.End of the real ticket: %v", err)
	}
}

// A load table full of garbage (a corrupt or foreign file) costs at most a
// takeover per slot: every call still gets an answer, and nothing hangs.
func TestLoadTableGarbage(t *testing.T) {
	c := newCache(t, nil)
	table := unsafe.Slice((*byte)(unsafe.Pointer(c.lt.t)), loadTableSize(c.g.loads))
	for i := range table {
		table[i] = byte(i*131 + 7)
	}
	var n atomic.Int32
	for i := range 64 {
		key := []byte(fmt.Sprint("k", i))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := c.GetOrLoad(ctx, key, countingLoader(&n, nil, nil, "v", nil), LoadOptions{})
		cancel()
		if err != nil || string(v) != "v" {
			t.Fatalf("GetOrLoad(%s) over a garbage table: %q, %v", key, v, err)
		}
	}
	if n.Load() != 64 {
		t.Fatalf("%d loads for 64 keys", n.Load())
	}
}

// Changes advances with every change a reader could see, and only then.
func TestChangesClock(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	k := []byte("k")
	clock := func() uint64 {
		n, err := c.Binding().Changes(k)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	last := clock()
	step := func(what string, moved bool, do func()) {
		t.Helper()
		do()
		now := clock()
		if (now != last) != moved {
			t.Errorf("%s: clock %d -> %d, want moved=%v", what, last, now, moved)
		}
		last = now
	}
	step("Set", true, func() { c.Set(k, []byte("v"), 0) })
	step("Get", false, func() { c.Get(k) })
	step("Set of another key", true, func() { c.Set([]byte("other"), []byte("v"), 0) })
	step("Expire", true, func() { c.Expire(k, time.Hour) })
	step("Incr", true, func() { c.IncrInit([]byte("n"), 1, 0, 0) })
	step("Delete", true, func() { c.Delete(k) })
	step("Delete of nothing", false, func() { c.Delete(k) })
	step("Flush", true, func() { c.Flush() })
	if _, err := c.Binding().Changes(nil); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("Changes of an empty key: %v", err)
	}
	if !bytes.Equal(k, []byte("k")) {
		t.Fatal("key changed")
	}
}

// keysHomedAt returns n keys whose flights start at slot home of c's load
// table.
func keysHomedAt(c *Cache, home uint32, n int) [][]byte {
	loads := uint32(c.Geometry().Loads)
	var keys [][]byte
	for i := 0; len(keys) < n; i++ {
		if k := []byte(fmt.Sprint("homed", home, "-", i)); uint32(hashKey(k))&(loads-1) == home {
			keys = append(keys, k)
		}
	}
	return keys
}

// churn is a busy host's other keys: it claims loads of keys that start
// at flight home until every flight of the window it may take is taken,
// then ends them all with outcome, and returns the flights they took.
func churn(t *testing.T, c *Cache, home uint32, outcome LoadState) map[uint32]bool {
	t.Helper()
	took := map[uint32]bool{}
	var claimed []LoadTicket
	for _, k := range keysHomedAt(c, home, loadWindow+1) {
		tk, err := c.Loads().Begin(k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if tk.State == LoadWaiting && tk.Flight == uint32(c.g.loads) {
			break // no flight left in the window
		}
		if tk.State != LoadMine {
			t.Fatalf("churn: Loads.Begin(%s): %+v", k, tk)
		}
		took[tk.Flight] = true
		claimed = append(claimed, tk)
	}
	for i := range claimed {
		if err := c.Loads().End(&claimed[i], outcome, "churn"); err != nil {
			t.Fatal(err)
		}
	}
	return took
}

// A waiter reads its load's outcome however many other keys' loads have
// used the table since the load ended: the flight is kept for it, other
// loads take the window's other flights, and the flight is free again once
// every waiter has read it.
func TestLoadOutcomeKeptWhileTableBusy(t *testing.T) {
	for _, end := range []struct {
		outcome LoadState
		msg     string
	}{{LoadFailed, "db down"}, {LoadAbsent, ""}} {
		t.Run(end.outcome.String(), func(t *testing.T) {
			a, b := twoHandles(t, &Options{Size: 1 << 20})
			key := []byte("k")
			mine, err := a.Loads().Begin(key, 0)
			if err != nil || mine.State != LoadMine {
				t.Fatalf("Loads.Begin: %+v, %v", mine, err)
			}
			// Two waiting tickets of one attachment and one of the
			// loader's own: one keep each, counted per ticket.
			var waiting []LoadTicket
			for _, c := range []*Cache{b, b, a} {
				w, err := c.Loads().Begin(key, 0)
				if err != nil || w.State != LoadWaiting || w.Flight != mine.Flight {
					t.Fatalf("waiter's Loads.Begin: %+v, %v", w, err)
				}
				waiting = append(waiting, w)
			}
			if err := a.Loads().End(&mine, end.outcome, end.msg); err != nil {
				t.Fatal(err)
			}
			read := func(c *Cache, w *LoadTicket) {
				t.Helper()
				took := churn(t, a, mine.Flight, LoadFailed)
				msg, err := c.Loads().Wait(w, 0, 0)
				if err != nil || w.State != end.outcome || msg != end.msg {
					t.Fatalf("waiter after the table moved on: %v %q, %v; want %v %q", w.State, msg, err, end.outcome, end.msg)
				}
				if took[mine.Flight] {
					t.Fatalf("another key's load took flight %d while its outcome was kept", mine.Flight)
				}
			}
			read(b, &waiting[0])
			read(a, &waiting[2])
			read(b, &waiting[1])
			if took := churn(t, b, mine.Flight, LoadDone); !took[mine.Flight] {
				t.Fatalf("flight %d is still kept after every waiter read it", mine.Flight)
			}
		})
	}
}

// A keep is dropped by a waiter that gives up (its context ends), and by
// its attachment once the ticket has gone keepIdle without a wait (a
// ticket dropped without a word); a waiter that goes on polling keeps it.
// (The kernel drops a dead process's: TestLoadKeepOfDeadWaiter.)
func TestLoadKeepBounds(t *testing.T) {
	old := keepIdle
	keepIdle = 200 * time.Millisecond
	t.Cleanup(func() { keepIdle = old })
	a, b := twoHandles(t, &Options{Size: 1 << 20})
	key := []byte("k")
	// fail runs a load of key that wait (given its flight) makes b wait
	// on, ends it as failed, and says on which flight and whether the
	// flight is still kept then.
	fail := func(wait func(flight uint32)) (flight uint32, kept bool) {
		t.Helper()
		mine, err := a.Loads().Begin(key, 0)
		if err != nil || mine.State != LoadMine {
			t.Fatalf("Loads.Begin: %+v, %v", mine, err)
		}
		wait(mine.Flight)
		if err := a.Loads().End(&mine, LoadFailed, "db down"); err != nil {
			t.Fatal(err)
		}
		return mine.Flight, !churn(t, a, mine.Flight, LoadDone)[mine.Flight]
	}
	begin := func(flight uint32) LoadTicket {
		t.Helper()
		w, err := b.Loads().Begin(key, 0)
		if err != nil || w.State != LoadWaiting || w.Flight != flight {
			t.Fatalf("waiter's Loads.Begin: %+v, %v", w, err)
		}
		return w
	}

	t.Run("polling", func(t *testing.T) {
		var w LoadTicket
		_, kept := fail(func(flight uint32) {
			w = begin(flight)
			// An event loop's waiter: it polls, with gaps well below
			// keepIdle, for longer than keepIdle.
			for start := time.Now(); time.Since(start) < 3*b.lt.keeps.idle; time.Sleep(b.lt.keeps.idle / 10) {
				if _, err := b.Loads().Wait(&w, 0, 0); err != nil || w.State != LoadWaiting {
					t.Fatalf("poll: %v, %v", w.State, err)
				}
			}
		})
		if !kept {
			t.Fatal("a polling waiter's keep was dropped")
		}
		if msg, err := b.Loads().Wait(&w, 0, 0); err != nil || w.State != LoadFailed || msg != "db down" {
			t.Fatalf("polling waiter: %v %q, %v", w.State, msg, err)
		}
	})

	t.Run("context", func(t *testing.T) {
		flight, kept := fail(func(flight uint32) {
			ctx, cancel := context.WithCancel(context.Background())
			res := make(chan error, 1)
			go func() {
				_, err := b.GetOrLoad(ctx, key, countingLoader(new(atomic.Int32), nil, nil, "v", nil), LoadOptions{})
				res <- err
			}()
			eventually(t, "the waiter to wait", func() bool { return b.keptHere(flight) })
			cancel()
			if err := <-res; !errors.Is(err, context.Canceled) {
				t.Fatalf("the cancelled waiter: %v", err)
			}
		})
		if kept || b.keptHere(flight) {
			t.Fatal("a waiter that gave up still keeps its flight")
		}
	})

	t.Run("dropped ticket", func(t *testing.T) {
		flight, kept := fail(func(flight uint32) { begin(flight) })
		if !kept {
			t.Fatal("the flight was not kept for its waiting ticket")
		}
		eventually(t, "the dropped ticket's keep to go", func() bool { return !b.keptHere(flight) })
		if !churn(t, a, flight, LoadDone)[flight] {
			t.Fatal("the flight is still kept after its keep went")
		}
	})
}

// A loader whose lease ran out while it loaded is taken over; the new
// loader writes its value, and the late loader's write (a value, a cached
// absence or a resurrected one) is refused, so the new value stays. The
// late loader's caller still gets what it loaded.
func TestLoadLateLoaderKeepsNewValue(t *testing.T) {
	for _, late := range []struct {
		name    string
		o       LoadOptions
		stale   bool   // an expired value is at hand to resurrect
		v       []byte // what the late loader returns, or nil
		err     error  // ... or its error
		wantV   string // what its caller gets
		wantSrc Source
		wantErr error
	}{
		{name: "value", v: []byte("v1"), wantV: "v1", wantSrc: SourceLoaded},
		{name: "absent", o: LoadOptions{NegativeTTL: time.Hour}, err: ErrNotFound, wantSrc: SourceLoaded, wantErr: ErrNotFound},
		{name: "resurrect", o: LoadOptions{ResurrectTTL: time.Hour}, stale: true, err: errors.New("db down"), wantV: "old", wantSrc: SourceResurrected},
	} {
		t.Run(late.name, func(t *testing.T) {
			a, b := twoHandles(t, nil)
			key := []byte("k")
			if late.stale {
				a.Set(key, []byte("old"), time.Hour)
				expireNow(t, a, key)
			}
			started := make(chan struct{}, 1)
			release := make(chan struct{})
			slow := func(ctx context.Context, key []byte) ([]byte, error) {
				started <- struct{}{}
				<-release
				return late.v, late.err
			}
			o := late.o
			o.TTL, o.Lease = time.Hour, time.Millisecond
			type result struct {
				v   []byte
				src Source
				err error
			}
			res := make(chan result, 1)
			go func() {
				v, src, err := a.Load(context.Background(), nil, key, slow, o)
				res <- result{v, src, err}
			}()
			<-started
			// b finds the lease run out (at once, or when it next asks
			// after the loader) and loads the key itself.
			v, src, err := b.Load(context.Background(), nil, key, countingLoader(new(atomic.Int32), nil, nil, "v2", nil), LoadOptions{TTL: time.Hour})
			if err != nil || string(v) != "v2" || src != SourceLoaded {
				t.Fatalf("the load that took over: %q, %v, %v", v, src, err)
			}
			close(release)
			r := <-res
			if string(r.v) != late.wantV || r.src != late.wantSrc || !errors.Is(r.err, late.wantErr) || (late.wantErr == nil && r.err != nil) {
				t.Errorf("the late loader's caller: %q, %v, %v; want %q, %v, %v", r.v, r.src, r.err, late.wantV, late.wantSrc, late.wantErr)
			}
			for _, c := range []*Cache{a, b} {
				if v, err := c.Get(key); err != nil || string(v) != "v2" {
					t.Errorf("after the late loader: %q, %v; want the new loader's v2", v, err)
				}
			}
			if s := loadStats(t, a); s.Takeovers != 1 {
				t.Errorf("load stats %+v, want one takeover", s)
			}
		})
	}
}
