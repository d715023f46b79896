package lru

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"
)

// Tracking keeps some of a cache's entries in step with an outside store
// that announces its changes, as Redis does with client-side caching
// (module near builds on it). The store stays the truth; the cache holds
// copies, and the track table in the region says which copies may still
// be served. One process on the host, the agent, listens to the store's
// stream of changes and applies it here; every process reads and fills.
//
// Three mechanisms, each one word or a few of the track table:
//
//   - The generation. A tracked entry carries the generation it was
//     filled in as its flags, and is served only while the table's
//     generation is the same. When the stream may have lost messages (the
//     connection dropped, the agent changed, the store restarted or was
//     flushed) the agent calls Tracker.InvalidateAll: one atomic add drops every
//     tracked entry, whatever the cache's size, before anyone reads again.
//   - In step. The agent publishes until when it knows the cache is in
//     step (Tracker.SetInStep): it sent the store a ping at t, got the answer after
//     every change message that came before it, and applied them all, so
//     the cache reflects every change the store made before t, and it
//     publishes t plus the staleness bound it promises. Past that instant
//     (the agent died, froze, or its connection stalled) tracked entries
//     are not served, and callers read the store. The instant is on the
//     track clock (trackclock.go), the host's CLOCK_MONOTONIC, which is
//     one instant in every process whatever its time namespace.
//   - Fill tickets. A fill reads the store at some instant and stores
//     later; a change between the two (Redis's "caching in progress" race)
//     would leave the old value cached with nothing left to remove it. So
//     a fill takes a ticket first (BeginFill): the generation and the
//     key's invalidation count, one of the words after the table's header
//     that keys share by hash. It stores with the ticket (StoreFill) only
//     if that count has not moved: Invalidate advances it before it
//     deletes the key, and StoreFill checks it under the shard's lock,
//     which Invalidate's delete takes after it. A fill either sees the
//     advance and keeps nothing, or stores before the delete, which then
//     removes what it stored.
//
// The agent role is held like a process slot: by an OFD lock on the track
// table's first byte of the file, which the kernel drops when the holder
// dies (Tracker.ClaimAgent).

// ErrNotInStep is the error of a tracked read or fill while the cache is
// not known to be in step with its store: no agent holds the role, or its
// stream of changes is late. Read the store, and do not cache what it says.
var ErrNotInStep = errors.New("lru: the cache is not in step with its store (no tracking agent, or its invalidation stream is late); read the store directly")

// FillTicket is what a fill must show to store its value: the generation
// and the key's invalidation count as they were before it read the store
// (see Tracker.BeginFill).
type FillTicket struct {
	Gen   uint32 // the generation the value will carry
	Slot  uint32 // which invalidation count is the key's
	Count uint32 // its value at BeginFill
}

// TrackState is a cache's tracking state, for operators.
type TrackState struct {
	Gen      uint32        // the generation tracked entries must carry
	InStep   bool          // tracked entries may be served now
	Lead     time.Duration // how long they still may without a new confirmation (if InStep)
	AgentPid int           // pid of the agent, 0 if no process holds the role
	Counters TrackCounters
}

// Tracker is a cache's track table, for a layer that keeps entries in step
// with an outside store (module near, and the tracked calls of the C
// library and its Lua modules): its readers and fillers (Get, BeginFill,
// StoreFill) in every process, and the one agent per host that applies the
// store's changes (ClaimAgent, Invalidate, InvalidateAll, SetInStep).
// Cache.Load with LoadOptions.Tracked fills through it too. Cache.Tracker
// returns it; it is valid for as long as the Cache.
type Tracker struct {
	c      *Cache
	t      *trackTable
	counts []uint32    // the invalidation counts after the table's header
	off    int         // of the table in the data area: its first byte is the agent role's lock
	agent  atomic.Bool // this attachment holds the agent role
}

// Tracker returns the cache's track table (see Tracker).
func (c *Cache) Tracker() *Tracker { return &c.tr }

func (c *Cache) bindTrack(data []byte) {
	c.tr.c = c
	c.tr.t = (*trackTable)(unsafe.Pointer(&data[c.g.trackOff]))
	c.tr.counts = unsafe.Slice((*uint32)(unsafe.Pointer(&data[c.g.trackOff+trackTableHeaderSize])), c.g.trackCounts)
	c.tr.off = c.g.trackOff
}

// initTrack sets a new track table's first generation (gen is never 0, so
// that an entry without flags never passes for a tracked one).
func initTrack(t *trackTable) { t.Gen = 1 }

// gen returns the generation if the cache is in step, else 0. It reads the
// mapping: call it under a fault guard.
func (tr *Tracker) gen() uint32 {
	until := atomic.LoadInt64(&tr.t.InStep)
	if until == 0 {
		return 0
	}
	if now, ok := trackNow(); !ok || now >= until {
		return 0
	}
	return atomic.LoadUint32(&tr.t.Gen)
}

// slot picks a key's invalidation count from its hash: bits the shard and
// bucket do not use alone, so that one hot shard's keys spread over the
// counts.
func (tr *Tracker) slot(h uint64) uint32 { return uint32(h>>16) & uint32(len(tr.counts)-1) }

// withTrack runs fn under the region's fault guard; a fault (the file
// truncated) breaks the cache as it does in the shards.
func (c *Cache) withTrack(fn func(tr *Tracker)) error {
	if err := c.usable(); err != nil {
		return err
	}
	err := c.r.Guard(func() { fn(&c.tr) })
	c.noteFault(err)
	return err
}

// Get returns the value of a tracked entry at key, appended to dst: one
// filled by StoreFill in the current generation, while the cache is in
// step. A cached absence (a fill that found no value) is returned with
// Meta.Type TypeNone and an empty value. ErrNotFound: nothing servable is
// cached; fill it. ErrNotInStep: read the store and do not fill.
func (tr *Tracker) Get(dst, key []byte) ([]byte, Meta, error) {
	v, m, _, err := tr.c.Read(dst, key, ReadOptions{Absent: true, Tracked: true})
	return v, m, err
}

// BeginFill starts a fill of key: call it before reading the store, and
// pass what it returns to StoreFill. ErrNotInStep: the cache is not in
// step, so whatever the store says must not be kept.
func (tr *Tracker) BeginFill(key []byte) (f FillTicket, err error) {
	c := tr.c
	if err := c.checkKey(key); err != nil {
		return f, err
	}
	h := hashKey(key)
	err = c.withTrack(func(tr *Tracker) {
		// The count first: a gen read after it that says "in step" was in
		// step when the count was read, so no change message that came
		// before the count was lost.
		f.Slot = tr.slot(h)
		f.Count = atomic.LoadUint32(&tr.counts[f.Slot])
		f.Gen = tr.gen()
	})
	if err == nil && f.Gen == 0 {
		err = ErrNotInStep
	}
	return f, err
}

// StoreFill stores a filled value at key as a tracked entry (absent: the
// store has no value, and an absence is cached), unless the key may have
// changed in the store since BeginFill issued f: it was invalidated, or
// every tracked entry was. It reports whether the value was stored; a fill
// that was not needs no action (its caller may use the value it read, which
// was the store's when it read it). o.Flags and o.Type are set by
// StoreFill; o.Mode must be ModeSet.
func (tr *Tracker) StoreFill(key, value []byte, absent bool, o WriteOptions, f FillTicket) (stored bool, err error) {
	c := tr.c
	if err := tr.checkTicket(key, f); err != nil {
		return false, err
	}
	if o.Mode != ModeSet {
		return false, fmt.Errorf("%w: a fill is a plain set (WriteOptions.Mode %d)", ErrBadOptions, o.Mode)
	}
	o.Flags = f.Gen
	if absent {
		o.Type, value = TypeNone, nil
	}
	o.fill = &f
	_, err = c.Write(key, value, o)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errFillRefused):
		c.withTrack(func(tr *Tracker) { atomic.AddUint64(&tr.t.Stats.Refused, 1) })
		return false, nil
	}
	return false, err
}

// checkTicket refuses a fill ticket that BeginFill cannot have issued for
// key. One of another key's slot would be checked against that slot's
// invalidation count, which a change of key does not advance.
func (tr *Tracker) checkTicket(key []byte, f FillTicket) error {
	if f.Gen == 0 || f.Gen&StaleFlag != 0 || int(f.Slot) >= len(tr.counts) {
		return fmt.Errorf("%w: FillTicket %+v was not issued by BeginFill", ErrBadOptions, f)
	}
	if f.Slot != tr.slot(hashKey(key)) {
		return fmt.Errorf("%w: FillTicket %+v was issued for another key", ErrBadOptions, f)
	}
	return nil
}

// errFillRefused is write's answer to a fill whose ticket no longer holds.
var errFillRefused = errors.New("lru: fill refused: the key changed while it loaded")

// fillCurrent reports, with the key's shard locked, whether a fill's
// ticket still holds: the generation and the key's invalidation count
// unchanged.
func (tr *Tracker) fillCurrent(f *FillTicket) bool {
	return atomic.LoadUint32(&tr.t.Gen) == f.Gen && atomic.LoadUint32(&tr.counts[f.Slot]) == f.Count
}

// ticketHolds reports whether a fill's ticket still holds now: no change to
// its key (nor InvalidateAll) has been applied since BeginFill.
func (c *Cache) ticketHolds(f *FillTicket) bool {
	ok := false
	c.withTrack(func(tr *Tracker) { ok = tr.fillCurrent(f) })
	return ok
}

// Invalidate removes key's tracked copy because the store changed it: no
// fill that read the store before the change keeps its value. The agent
// calls it for each key of a change message.
func (tr *Tracker) Invalidate(key []byte) error {
	c := tr.c
	if err := c.checkKey(key); err != nil {
		return err
	}
	h := hashKey(key)
	if err := c.withTrack(func(tr *Tracker) {
		atomic.AddUint32(&tr.counts[tr.slot(h)], 1) // before the delete: see the top of this file
		atomic.AddUint64(&tr.t.Stats.Invalidations, 1)
	}); err != nil {
		return err
	}
	_, err := c.Delete(key)
	return err
}

// InvalidateAll drops every tracked entry at once, and marks the cache not
// in step until the next SetInStep. The agent calls it whenever its stream
// of changes may have lost a message, and when it takes the role. It
// returns the new generation.
func (tr *Tracker) InvalidateAll() (gen uint32, err error) {
	err = tr.c.withTrack(func(tr *Tracker) {
		atomic.StoreInt64(&tr.t.InStep, 0)
		for {
			old := atomic.LoadUint32(&tr.t.Gen)
			gen = nextGen(old)
			if atomic.CompareAndSwapUint32(&tr.t.Gen, old, gen) {
				break
			}
		}
		atomic.AddUint64(&tr.t.Stats.Generations, 1)
	})
	return gen, err
}

// nextGen is the generation after g: it skips 0 (no flags) and stays clear
// of StaleFlag and ResurrectFlag, so that a tracked entry, which an
// untracked read-through sees too, never looks like a stale-while-
// revalidate or a resurrected one.
func nextGen(g uint32) uint32 {
	g = (g + 1) &^ (StaleFlag | ResurrectFlag)
	if g == 0 {
		g = 1
	}
	return g
}

// SetInStep publishes that the cache is in step with its store until the
// instant until (on TrackClock's clock), or, with 0, that it is not. Only
// the agent calls it, after it has applied every change message that came
// before the confirmation it dates until from. An instant earlier than the
// one already published is ignored unless it is 0, so that a slow
// confirmation never shortens a later one. In a process that cannot tell
// its time namespace's offset from the host's (no /proc) it
// publishes nothing but 0, and returns why.
func (tr *Tracker) SetInStep(until int64) error {
	if _, err := monoOffset(); err != nil && until != 0 {
		return err
	}
	return tr.c.withTrack(func(tr *Tracker) {
		if until == 0 {
			atomic.StoreInt64(&tr.t.InStep, 0)
			return
		}
		for {
			old := atomic.LoadInt64(&tr.t.InStep)
			if old >= until || atomic.CompareAndSwapInt64(&tr.t.InStep, old, until) {
				return
			}
		}
	})
}

// ClaimAgent takes the agent role if no live attachment holds it, and
// reports whether this one now does. The kernel gives the role up when the
// holder closes the cache or dies; a process that wants it calls
// ClaimAgent again from time to time (module near does every few
// milliseconds). A new agent must call InvalidateAll before anything else:
// nothing told the cache of the changes made while no one listened.
func (tr *Tracker) ClaimAgent() (bool, error) {
	c := tr.c
	if c.closed.Load() {
		return false, ErrClosed
	}
	ok, err := c.r.TryLockRole(tr.off)
	if err != nil || !ok {
		return false, err
	}
	if tr.agent.Swap(true) {
		return true, nil // held already
	}
	err = c.withTrack(func(tr *Tracker) {
		atomic.StoreUint32(&tr.t.AgentPid, uint32(os.Getpid()))
		atomic.AddUint64(&tr.t.Stats.Agents, 1)
	})
	return err == nil, err
}

// ReleaseAgent gives the agent role up (Close does too) and marks the
// cache not in step: no one listens to the store any more.
func (tr *Tracker) ReleaseAgent() error {
	c := tr.c
	if !tr.agent.Swap(false) {
		return nil
	}
	if err := c.withTrack(func(tr *Tracker) {
		atomic.StoreInt64(&tr.t.InStep, 0)
		atomic.StoreUint32(&tr.t.AgentPid, 0)
	}); err != nil {
		return err
	}
	return c.r.UnlockRole(tr.off)
}

// State returns the cache's tracking state. Whether a process holds the
// agent role is asked of the kernel (a system call): a process that died
// holding it reads as AgentPid 0.
func (tr *Tracker) State() (s TrackState, err error) {
	c := tr.c
	err = c.withTrack(func(tr *Tracker) {
		s.Gen = atomic.LoadUint32(&tr.t.Gen)
		if until := atomic.LoadInt64(&tr.t.InStep); until != 0 {
			if now, ok := trackNow(); ok && until > now {
				s.InStep, s.Lead = true, time.Duration(until-now)
			}
		}
		s.AgentPid = int(atomic.LoadUint32(&tr.t.AgentPid))
		s.Counters = TrackCounters{
			Invalidations: atomic.LoadUint64(&tr.t.Stats.Invalidations),
			Generations:   atomic.LoadUint64(&tr.t.Stats.Generations),
			Refused:       atomic.LoadUint64(&tr.t.Stats.Refused),
			Agents:        atomic.LoadUint64(&tr.t.Stats.Agents),
		}
	})
	if err != nil || tr.agent.Load() {
		return s, err // the kernel never reports our own lock to us
	}
	if held, herr := c.r.RoleHeld(tr.off); herr == nil && !held {
		s.AgentPid = 0
	}
	return s, nil
}
