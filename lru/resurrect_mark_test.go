package lru

import (
	"context"
	"errors"
	"sync/atomic"
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
