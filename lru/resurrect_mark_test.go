package lru

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The mark of a resurrected entry (ResurrectFlag): every reader, in this
// process or another, reports SourceResurrected until the entry's
// deadline, as the call that resurrected it did (lua-resty-mlcache's hit
// level 4 from its shared dict); after the deadline the next call loads
// again.

// TestResurrectedValueReadsResurrectedEverywhere: resurrected through one
// handle, the value reads as LookResurrected and SourceResurrected through
// another, a waiter that finds it in Prepare is answered resurrected, and
// once its ResurrectTTL ends the loader runs again and its value is a
// plain load, then a plain hit.
func TestResurrectedValueReadsResurrectedEverywhere(t *testing.T) {
	a, b := twoHandles(t, nil)
	ctx := context.Background()
	key := []byte("k")
	o := LoadOptions{TTL: time.Hour, ResurrectTTL: time.Minute}
	a.Set(key, []byte("old"), time.Hour)
	expireNow(t, a, key)
	var n atomic.Int32
	fail := countingLoader(&n, nil, nil, "", errors.New("db down"))
	if v, src, err := a.Load(ctx, nil, key, fail, o); err != nil || string(v) != "old" || src != SourceResurrected {
		t.Fatalf("resurrecting Load: %q %v %v", v, src, err)
	}
	_, m, _, err := b.Peek(nil, key)
	if err != nil || m.Flags != ResurrectFlag {
		t.Fatalf("resurrected entry's flags %#x (%v), want ResurrectFlag", m.Flags, err)
	}
	l, err := b.look(nil, key, false, false)
	if err != nil || l.State != LookResurrected || string(l.Value) != "old" || l.FreshUntil != m.Expires {
		t.Fatalf("look from the other handle: %+v %v; want LookResurrected until the deadline", l, err)
	}
	if v, src, err := b.Load(ctx, nil, key, fail, o); err != nil || string(v) != "old" || src != SourceResurrected {
		t.Fatalf("Load from the other handle: %q %v %v; want the value, resurrected", v, src, err)
	}
	if n.Load() != 1 {
		t.Fatalf("loader ran %d times; want once (the reads back are no loads)", n.Load())
	}

	// A load claimed just as the resurrection ended finds it in Prepare.
	r, err := b.Loads().ReadThrough(o, false)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := b.Loads().Begin(key, time.Minute)
	if err != nil || tk.State != LoadMine {
		t.Fatalf("Begin: %v %v", tk.State, err)
	}
	pl, _, err := r.Prepare(&tk, make([]byte, 0, 16), key)
	if err != nil || pl.State != LookResurrected || tk.State != LoadDone {
		t.Fatalf("Prepare: %v, ticket %v, %v; want LookResurrected ending the load", pl.State, tk.State, err)
	}

	// Past its deadline: the loader runs again.
	expireNow(t, a, key)
	ok := countingLoader(&n, nil, nil, "new", nil)
	if v, src, err := b.Load(ctx, nil, key, ok, o); err != nil || string(v) != "new" || src != SourceLoaded {
		t.Fatalf("after ResurrectTTL: %q %v %v; want the loader's value", v, src, err)
	}
	if v, src, err := a.Load(ctx, nil, key, ok, o); err != nil || string(v) != "new" || src != SourceHit {
		t.Fatalf("then: %q %v %v; want a plain hit", v, src, err)
	}
	if _, m, _, _ := a.Peek(nil, key); m.Flags != 0 {
		t.Fatalf("reloaded entry's flags %#x, want none", m.Flags)
	}
}

// TestResurrectedAgainKeepsItsUserFlags: a resurrected value keeps the
// user flags the binding gave it beside the mark, and resurrected again
// once expired; with a stale window the mark sits beside StaleFlag and the
// window, which the look still reads.
func TestResurrectedAgainKeepsItsUserFlags(t *testing.T) {
	c := newCache(t, nil)
	key := []byte("k")
	const user = 0x4A534F4E // resty.shmlru.mlcache's flags of a table
	r, err := c.Loads().ReadThrough(LoadOptions{TTL: time.Hour, ResurrectTTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	finish := func(ld Loaded) Answer {
		t.Helper()
		tk, err := c.Loads().Begin(key, time.Minute)
		if err != nil || tk.State != LoadMine {
			t.Fatalf("Begin: %v %v", tk.State, err)
		}
		a, err := r.Finish(&tk, key, FillTicket{}, ld)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	finish(Loaded{Outcome: LoadedValue, Value: []byte("{}"), Type: TypeBytes, Flags: user})
	for i := 0; i < 2; i++ {
		expireNow(t, c, key)
		a := finish(Loaded{Outcome: LoadedFailed, Resurrect: true, Value: []byte("{}"), Type: TypeBytes, Flags: user, Err: errors.New("down")})
		if a.Source != SourceResurrected || !a.Kept {
			t.Fatalf("resurrection %d: %+v", i, a)
		}
		l, err := r.Look(make([]byte, 0, 16), key)
		if err != nil || l.State != LookResurrected || l.Meta.Flags != user|ResurrectFlag {
			t.Fatalf("resurrection %d: look %v flags %#x (%v)", i, l.State, l.Meta.Flags, err)
		}
	}

	s, err := c.Loads().ReadThrough(LoadOptions{TTL: time.Hour, StaleTTL: time.Hour, ResurrectTTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	c.Set(key, []byte("old"), time.Hour)
	expireNow(t, c, key)
	tk, _ := c.Loads().Begin(key, time.Minute)
	if _, err := s.Finish(&tk, key, FillTicket{}, Loaded{Outcome: LoadedFailed, Resurrect: true, Value: []byte("old"), Type: TypeBytes, Err: errors.New("down")}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Look(make([]byte, 0, 16), key)
	window := uint32(time.Hour.Milliseconds())
	if err != nil || l.State != LookResurrected || l.Meta.Flags != StaleFlag|ResurrectFlag|window || l.FreshUntil != l.Meta.Expires-int64(window) {
		t.Fatalf("resurrected with a stale window: %v flags %#x fresh until %d of %d (%v)", l.State, l.Meta.Flags, l.FreshUntil, l.Meta.Expires, err)
	}
}

// TestReadThroughFinishRefusesResurrectFlag: the mark in the flags a
// binding gives is refused with nothing done, as StaleFlag is; and a
// stale window too long to sit below the mark is refused.
func TestReadThroughFinishRefusesResurrectFlag(t *testing.T) {
	c := newCache(t, nil)
	r, err := c.Loads().ReadThrough(LoadOptions{TTL: time.Minute, ResurrectTTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("k")
	if _, err := r.Finish(nil, key, FillTicket{}, Loaded{Outcome: LoadedValue, Value: []byte("v"), Type: TypeBytes, Flags: ResurrectFlag}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Finish with ResurrectFlag: %v, want ErrBadOptions", err)
	}
	if l, _ := r.Look(make([]byte, 0, 16), key); l.State != LookMiss {
		t.Errorf("Finish with ResurrectFlag wrote a value read as %v", l.State)
	}
	if err := (LoadOptions{TTL: time.Minute, StaleTTL: maxStaleWindow + time.Millisecond}).Check(); !errors.Is(err, ErrBadTTL) {
		t.Errorf("StaleTTL past the window's bits: %v, want ErrBadTTL", err)
	}
	if err := (LoadOptions{TTL: time.Minute, StaleTTL: maxStaleWindow}).Check(); err != nil {
		t.Errorf("the longest StaleTTL: %v", err)
	}
}

// TestTrackedGenerationIsNoResurrectMark: a tracked entry's flags are its
// generation, whose bit 29 says nothing of a resurrection.
func TestTrackedGenerationIsNoResurrectMark(t *testing.T) {
	if resurrected(Meta{Flags: ResurrectFlag | 7}, true) {
		t.Fatal("a tracked entry's generation read as a resurrection")
	}
	if !resurrected(Meta{Flags: ResurrectFlag}, false) {
		t.Fatal("an untracked entry's mark not read")
	}
}

// TestTrackedGenerationNeverHasResurrectFlag: an untracked look sees a
// tracked entry too, and its flags are the generation; as a generation
// never has StaleFlag (it would read as a stale window), it never has
// ResurrectFlag, which would read as a resurrection.
func TestTrackedGenerationNeverHasResurrectFlag(t *testing.T) {
	c := newCache(t, nil)
	if g := nextGen(ResurrectFlag - 1); g&(ResurrectFlag|StaleFlag) != 0 || g == 0 {
		t.Errorf("nextGen(%#x) = %#x", ResurrectFlag-1, g)
	}
	c.tr.t.Gen = ResurrectFlag - 1
	if _, err := c.Tracker().InvalidateAll(); err != nil {
		t.Fatal(err)
	}
	inStep(t, c)
	trackFill(t, c, "k", "v")
	r, err := c.Loads().ReadThrough(LoadOptions{TTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	l, err := r.Look(make([]byte, 0, 16), []byte("k"))
	if err != nil || l.State != LookFresh {
		t.Fatalf("an untracked look of a tracked entry (flags %#x): %v, want LookFresh (%v)", l.Meta.Flags, l.State, err)
	}
}

// TestTakeoverFindsResurrectedValue: a loading process killed after its
// failed load wrote the resurrected value, before the load's end, leaves
// the value to the waiter that takes the load over; that waiter's look
// once more finds it resurrected, ends the load and serves it as
// SourceResurrected, without running its loader.
func TestTakeoverFindsResurrectedValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20})
	k := startChild(t, "loadhook", path, "none") // claims "k", holds it
	if got := k.line(); got != "claimed" {
		t.Fatalf("child said %q\n%s", got, k.stderr)
	}
	key := []byte("k")
	var n atomic.Int32
	got := make(chan string, 1)
	go func() {
		v, src, err := c.Load(context.Background(), nil, key, countingLoader(&n, nil, nil, "new", nil),
			LoadOptions{TTL: time.Minute, ResurrectTTL: time.Minute})
		got <- fmt.Sprintf("%q %v %v", v, src, err)
	}()
	eventually(t, "the caller to wait", func() bool { return loadStats(t, c).Waits == 1 })
	// The entry as the loader's failed-load write leaves it, then the
	// loader's death before the load's end.
	if _, err := c.Write(key, []byte("old"), WriteOptions{TTL: time.Minute, Flags: ResurrectFlag}); err != nil {
		t.Fatal(err)
	}
	if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	k.cmd.Wait()
	if g, want := <-got, fmt.Sprintf("%q %v %v", "old", SourceResurrected, nil); g != want || n.Load() != 0 {
		t.Fatalf("the waiter that took over: %s after %d loads; want %s and no load", g, n.Load(), want)
	}
	if s := loadStats(t, c); s.Takeovers != 1 {
		t.Fatalf("load stats %+v, want one takeover", s)
	}
}

// TestLoaderFindsResurrectedValue: a caller that claimed a load (a
// takeover of a loader that died after it wrote its resurrected value, or
// a claim just after a load that resurrected ended) finds the value in its
// look once more: the load is ended, and the value is the answer, as
// SourceResurrected, without its loader running.
func TestLoaderFindsResurrectedValue(t *testing.T) {
	c := newCache(t, nil)
	o := LoadOptions{TTL: time.Minute, ResurrectTTL: time.Minute}
	for _, typ := range []Type{TypeBytes, TypeNone} {
		key := []byte(fmt.Sprint("k", typ))
		var v []byte
		if typ == TypeBytes {
			v = []byte("old")
		}
		if _, err := c.Write(key, v, WriteOptions{TTL: time.Minute, Type: typ, Flags: ResurrectFlag}); err != nil {
			t.Fatal(err)
		}
		tk, err := c.Loads().Begin(key, time.Minute)
		if err != nil || tk.State != LoadMine {
			t.Fatalf("Begin: %v %v", tk.State, err)
		}
		var n atomic.Int32
		res := c.runLoader(context.Background(), &tk, key, countingLoader(&n, nil, nil, "new", nil), o, nil)
		wantErr := error(nil)
		if typ == TypeNone {
			wantErr = ErrNotFound
		}
		if string(res.v) != string(v) || res.src != SourceResurrected || !errors.Is(res.err, wantErr) || (res.err == nil) != (wantErr == nil) || n.Load() != 0 {
			t.Errorf("%v: %q %v %v after %d loads; want %q, SourceResurrected, %v and no load", typ, res.v, res.src, res.err, n.Load(), v, wantErr)
		}
		if tk.State == LoadMine {
			t.Errorf("%v: the load is still the caller's", typ)
		}
	}
}
