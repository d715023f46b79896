package lru

import (
	"errors"
	"fmt"
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

// A tracked read-through's Finish without the guard its Prepare took (a
// zero FillTicket: shmlru_load_finish with guard NULL) is refused with
// nothing done, as other bad arguments are: before, the store's refusal
// ended the load as failed ("loaded value not cached") for every waiter.
func TestReadThroughTrackedFinishWithoutGuard(t *testing.T) {
	a, b := twoHandles(t, nil)
	inStep(t, a)
	r, err := a.Loads().ReadThrough(LoadOptions{Tracked: true, NegativeTTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("tk")
	tk, err := a.Loads().Begin(key, time.Minute)
	if err != nil || tk.State != LoadMine {
		t.Fatalf("Begin: %v %v", tk.State, err)
	}
	w, err := b.Loads().Begin(key, time.Minute)
	if err != nil || w.State != LoadWaiting {
		t.Fatalf("waiter's Begin: %v %v", w.State, err)
	}
	_, g, err := r.Prepare(&tk, make([]byte, 0, 16), key)
	if err != nil || g.Gen == 0 {
		t.Fatalf("Prepare: %+v %v", g, err)
	}
	for _, ld := range []Loaded{
		{Outcome: LoadedValue, Value: []byte("v"), Type: TypeBytes},
		{Outcome: LoadedAbsent},
	} {
		if _, err := r.Finish(&tk, key, FillTicket{}, ld); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Finish %v without the guard: %v, want ErrBadOptions", ld.Outcome, err)
		}
		if tk.State != LoadMine {
			t.Fatalf("the ticket after a refused Finish: %v", tk.State)
		}
	}
	if _, err := b.Loads().Wait(&w, 0, time.Minute); err != nil || w.State != LoadWaiting {
		t.Fatalf("the waiter after refused calls: %v %v, want still waiting", w.State, err)
	}
	if _, err := r.Finish(&tk, key, g, Loaded{Outcome: LoadedValue, Value: []byte("v"), Type: TypeBytes}); err != nil {
		t.Fatal(err)
	}
	if v, _, err := a.Tracker().Get(nil, key); err != nil || string(v) != "v" {
		t.Fatalf("the fill: %q %v", v, err)
	}
}

// A fill ticket is its key's: StoreFill (shmlru_fill_store, and a tracked
// read-through's Finish) given one that BeginFill issued for a key of
// another slot refuses it. Its count is another slot's, so a change of
// this key made after the ticket was taken went unseen and the value read
// before it was stored, served as in step until the key changed again.
func TestStoreFillRefusesAnotherKeysTicket(t *testing.T) {
	c := newCache(t, nil)
	inStep(t, c)
	tr := c.Tracker()
	a := []byte("a")
	var b []byte
	for i := 0; ; i++ {
		b = []byte(fmt.Sprint("b", i))
		if tr.slot(hashKey(b)) != tr.slot(hashKey(a)) {
			break
		}
	}
	g, err := tr.BeginFill(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Invalidate(b); err != nil { // b changes after its value was read
		t.Fatal(err)
	}
	if ok, err := tr.StoreFill(b, []byte("old"), false, WriteOptions{}, g); ok || !errors.Is(err, ErrBadOptions) {
		t.Errorf("StoreFill of b with a's ticket: stored %v, %v; want ErrBadOptions", ok, err)
	}
	if _, _, err := tr.Get(nil, b); !errors.Is(err, ErrNotFound) {
		t.Errorf("b after the fill with a's ticket: %v, want nothing served", err)
	}

	// The read-through's Finish refuses it before anything is done.
	r, err := c.Loads().ReadThrough(LoadOptions{Tracked: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := c.Loads().Begin(b, time.Minute)
	if err != nil || tk.State != LoadMine {
		t.Fatalf("Begin: %v %v", tk.State, err)
	}
	if _, _, err := r.Prepare(&tk, make([]byte, 0, 16), b); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Finish(&tk, b, g, Loaded{Outcome: LoadedValue, Value: []byte("v"), Type: TypeBytes}); !errors.Is(err, ErrBadOptions) || tk.State != LoadMine {
		t.Errorf("Finish of b with a's ticket: %v, ticket %v; want ErrBadOptions, still mine", err, tk.State)
	}
}
