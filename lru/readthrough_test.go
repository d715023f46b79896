package lru

import (
	"errors"
	"testing"
	"time"
)

// A read-through's Prepare and Finish given a ticket claimed for another
// key are refused with nothing done: the claimed load is still the
// caller's, and its waiters hear nothing about the other key. Otherwise a
// fresh value of the other key ends the load as done, and an absence of
// the other key (or an uncached value) ends it as that key's answer.
func TestReadThroughTicketForAnotherKey(t *testing.T) {
	a, b := twoHandles(t, nil)
	if err := a.Set([]byte("other"), []byte("fresh"), time.Minute); err != nil {
		t.Fatal(err)
	}
	r, err := a.Loads().ReadThrough(LoadOptions{TTL: time.Minute, NegativeTTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := a.Loads().Begin([]byte("mine"), time.Minute)
	if err != nil || tk.State != LoadMine {
		t.Fatalf("Begin: %v %v", tk.State, err)
	}
	w, err := b.Loads().Begin([]byte("mine"), time.Minute)
	if err != nil || w.State != LoadWaiting {
		t.Fatalf("waiter's Begin: %v %v", w.State, err)
	}
	if _, _, err := r.Prepare(&tk, nil, []byte("other")); !errors.Is(err, ErrBadTicket) {
		t.Errorf("Prepare with another key's name: %v, want ErrBadTicket", err)
	}
	for _, ld := range []Loaded{
		{Outcome: LoadedAbsent},
		{Outcome: LoadedUncached, Value: []byte("x"), Type: TypeBytes},
		{Outcome: LoadedValue, Value: []byte("x"), Type: TypeBytes},
		{Outcome: LoadedFailed, Err: errors.New("boom")},
	} {
		if tk.State != LoadMine {
			t.Fatalf("ticket %v after a refused call", tk.State)
		}
		if _, err := r.Finish(&tk, []byte("other"), FillTicket{}, ld); !errors.Is(err, ErrBadTicket) {
			t.Errorf("Finish %v with another key's name: %v, want ErrBadTicket", ld.Outcome, err)
		}
	}
	if _, err := b.Loads().Wait(&w, 0, time.Minute); err != nil || w.State != LoadWaiting {
		t.Errorf("the waiter after refused calls: %v %v, want still waiting", w.State, err)
	}
	if v, err := a.Get([]byte("other")); err != nil || string(v) != "fresh" {
		t.Errorf("other: %q %v", v, err)
	}
	if _, err := r.Finish(&tk, []byte("mine"), FillTicket{}, Loaded{Outcome: LoadedValue, Value: []byte("v"), Type: TypeBytes}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Loads().Wait(&w, 0, time.Minute); err != nil || w.State != LoadDone {
		t.Errorf("the waiter after the load: %v %v, want done", w.State, err)
	}
}

// StaleFlag in the user flags a read-through's Finish is given is refused
// with nothing done: the bit is the read-through's own mark of a stale
// window, and a value written with it would be read as fresh only until
// its expiry less the low bits (at once soft stale, refreshed by every
// caller), whatever the options said.
func TestReadThroughFinishRefusesStaleFlag(t *testing.T) {
	c := newCache(t, nil)
	r, err := c.Loads().ReadThrough(LoadOptions{TTL: time.Minute, ResurrectTTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("k")
	for _, ld := range []Loaded{
		{Outcome: LoadedValue, Value: []byte("v"), Type: TypeBytes, Flags: StaleFlag | 50000},
		{Outcome: LoadedFailed, Value: []byte("v"), Resurrect: true, Type: TypeBytes, Flags: StaleFlag | 50000, Err: errors.New("x")},
	} {
		tk, err := c.Loads().Begin(key, time.Minute)
		if err != nil || tk.State != LoadMine {
			t.Fatalf("Begin: %v %v", tk.State, err)
		}
		if _, err := r.Finish(&tk, key, FillTicket{}, ld); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Finish %v with StaleFlag in its flags: %v, want ErrBadOptions", ld.Outcome, err)
		}
		if l, _ := r.Look(make([]byte, 0, 16), key); l.State != LookMiss {
			t.Errorf("Finish %v with StaleFlag wrote a value read as %v", ld.Outcome, l.State)
		}
		if tk.State == LoadMine {
			c.Loads().End(&tk, LoadAbandoned, "")
		}
		c.Delete(key)
	}
	if _, err := r.Finish(nil, key, FillTicket{}, Loaded{Outcome: LoadedValue, Value: []byte("v"), Type: TypeBytes, Flags: StaleFlag}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Finish outside a load with StaleFlag: %v, want ErrBadOptions", err)
	}
}
