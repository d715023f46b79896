package lru

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmlru/shmlru/shm"
)

// The load table: the read-through loads under way on the whole host, one
// flight per key, so that however many processes miss a key at once, one
// of them loads it and the others wait (GetOrLoad in load.go builds on
// these three calls of Loads; C and Lua call them through libshmlru.so).
//
//	t, _ := l.Begin(key, lease)      // LoadMine: you load; LoadWaiting: someone else does
//	l.Wait(&t, timeout, lease)       // a waiter sleeps on the flight's seq word (a shared futex)
//	l.End(&t, LoadDone, "")          // the loader, after writing the value, wakes every waiter
//
// A key's flight is found by its hash within a window of loadWindow slots
// starting at hash mod the table's size. Everything in the table is read
// and written under the table's lock (a region lock word, taken over from a
// dead holder like the shards' locks) except seq, which waiters read
// without it to sleep on. Fields are written in an order that leaves a
// flight usable whatever instant its writer dies at, so a lock taken over
// needs no repair: a claimed flight names its owner last, and a released
// one frees its owner before it advances seq.
//
// A load ends in one of three ways: its loader calls End; its process
// dies (a waiter finds the owner's slot dead, as the locks do, and takes
// the load over); or its lease runs out (a waiter takes it over, and the old
// loader's Write and End then fail with ErrLoadLost, so that what
// the new loader writes is never replaced by the old one's). Each end
// advances seq and wakes the waiters, and records the outcome for the
// callers that waited on exactly that load (seq one past theirs), which
// keeps (keep.go) leave in the flight until they have read it.

// LoadState says where a caller stands in a read-through load (Loads.Begin,
// Loads.Wait) or how the loader ended it (Loads.End).
type LoadState uint8

// Load states. Their values are part of the C ABI (SHMLRU_LOAD_*).
const (
	// LoadMine: the caller is the key's loader. It reads the key once
	// more (a load may have ended just before it claimed), loads it if it
	// is still missing, writes it, and calls Loads.End whatever happens.
	LoadMine LoadState = 1
	// LoadWaiting: another caller is loading the key; Loads.Wait waits.
	LoadWaiting LoadState = 2
	// LoadDone: the load ended: read the key again, and if it is still
	// missing (the loader gave up, or the value was evicted at once),
	// Loads.Begin again. As Loads.End's outcome: the value is written.
	LoadDone LoadState = 3
	// LoadAbsent: the loader found that the key has no value.
	LoadAbsent LoadState = 4
	// LoadFailed: the loader failed; Loads.Wait returns its message.
	LoadFailed LoadState = 5
	// LoadAbandoned, as Loads.End's outcome only: the loader gave up
	// without an answer (its caller went away). Its waiters see LoadDone,
	// find nothing, and one of them loads.
	LoadAbandoned LoadState = 6
)

// String names the state.
func (s LoadState) String() string {
	switch s {
	case LoadMine:
		return "mine"
	case LoadWaiting:
		return "waiting"
	case LoadDone:
		return "done"
	case LoadAbsent:
		return "absent"
	case LoadFailed:
		return "failed"
	case LoadAbandoned:
		return "abandoned"
	}
	return fmt.Sprintf("LoadState(%d)", uint8(s))
}

// LoadTicket is a caller's place in one read-through load. Loads.Begin
// fills it in, and Loads.Wait, Loads.End and Loads.Write take it back. Flight, Seq and
// Hash identify the load and are opaque to callers (C keeps them in a
// shmlru_load); a ticket that does not name a load the caller may end or
// wait on is refused, never trusted.
type LoadTicket struct {
	State  LoadState
	Flight uint32 // slot in the load table; the table's size means "waiting for a free slot"
	Seq    uint32 // the slot's seq when the ticket was issued
	Hash   uint64 // the key's hash
}

// ErrLoadLost is the error of Loads.Write and Loads.End when the load is no
// longer the caller's: its lease ran out and another caller took it over.
// Loads.Write then writes nothing, so the new loader's value is never
// replaced by the old one's; the new loader's outcome is what waiters see.
// The late loader may still answer its own caller with what it loaded.
var ErrLoadLost = errors.New("lru: the load was taken over by another caller (its lease ran out)")

// ErrBadTicket is the error for a LoadTicket that Loads.Begin did not issue
// to this cache, or whose state does not allow the call.
var ErrBadTicket = errors.New("lru: not a load ticket of this cache in a state that allows the call")

// loadWindow is how many slots from its home slot a key's flight may take.
// Eight cache-line pairs read under the table lock on a miss; a window
// with none free is rare (8 keys of one window loading at once) and makes
// the caller wait for a slot (see Loads.Begin).
const loadWindow = 8

// DefaultLease is the lease GetOrLoad gives its loads when LoadOptions
// leaves it 0: a loader still running after it may be taken over by a
// waiter (lua-resty-lock's default exptime is 30 s too).
const DefaultLease = 30 * time.Second

// Loads is a cache's table of the read-through loads under way on the
// host, for code that runs a load step by step rather than through
// Cache.GetOrLoad and Cache.Load: the C library and its Lua modules, whose
// loaders yield to an event loop between the steps. Begin claims a key's
// load or joins the one under way, Wait waits for it, Write stores what
// the loader loaded and End tells the waiters how it ended. Stats counts
// every load on the host, GetOrLoad's too. Cache.Loads returns it; it is
// valid for as long as the Cache.
type Loads struct {
	c       *Cache
	t       *loadTable
	flights []flight
	keeps   keeps // the flights this attachment's waiters keep (keep.go)
}

// Loads returns the cache's load table (see Loads), for the bindings.
func (c *Cache) Loads() *Loads { return &c.lt }

func (c *Cache) bindLoads(data []byte) {
	c.lt.c = c
	c.lt.t, c.lt.flights = loadTableIn(data, &c.g)
	c.lt.keeps.idle = keepIdle
}

// loadTableIn returns the load table's header and flights in a data area
// of geometry g.
func loadTableIn(data []byte, g *geometry) (*loadTable, []flight) {
	return (*loadTable)(unsafe.Pointer(&data[g.loadsOff])),
		unsafe.Slice((*flight)(unsafe.Pointer(&data[g.loadsOff+loadTableHeaderSize])), g.loads)
}

// withTable runs fn with the load table locked, under the region's fault
// guard. A fault (the file truncated) breaks the cache as it does in the
// shards. The futex words fn asked to wake (see finish) are woken after
// the table is unlocked: a wake is a system call, and waking a dozen
// sleepers is not something to do while every loader on the host queues
// on the lock.
func (c *Cache) withTable(fn func(lt *loadTable, fl []flight)) error {
	if err := c.usable(); err != nil {
		return err
	}
	// Lock requires one goroutine per word and process (see shm.Lock).
	c.ltMu.Lock()
	defer c.ltMu.Unlock()
	err := c.r.Guard(func() {
		c.r.Lock(&c.lt.t.Lock) // a dead holder left nothing to repair (see above)
		defer c.r.Unlock(&c.lt.t.Lock)
		fn(c.lt.t, c.lt.flights)
	})
	if len(c.wakes) > 0 {
		c.r.Guard(func() {
			for _, w := range c.wakes {
				shm.Wake(w)
			}
		})
		c.wakes = c.wakes[:0]
	}
	c.noteFault(err)
	return err
}

// usable returns the error an operation on the cache's tables (load,
// track) fails with before it starts: the cache closed, or broken.
func (c *Cache) usable() error {
	if c.closed.Load() {
		return ErrClosed
	}
	if p := c.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// noteFault breaks the cache if err says its mapping faulted (the file
// truncated), as a fault in a shard does.
func (c *Cache) noteFault(err error) {
	if err != nil && errors.Is(err, ErrCorrupt) {
		c.broken.CompareAndSwap(nil, &err)
		c.retireBroken()
	}
}

// Begin claims the read-through load of key, which the caller has just
// missed. With LoadMine the caller loads it (see LoadMine) and must end the
// load with End; with LoadWaiting another caller is loading it and Wait
// waits for the outcome. lease bounds how long the load stays the caller's
// while its process lives (0: until it ends or the process dies).
func (l *Loads) Begin(key []byte, lease time.Duration) (t LoadTicket, err error) {
	c := l.c
	if err := c.checkKey(key); err != nil {
		return t, err
	}
	if lease < 0 {
		return t, fmt.Errorf("%w: negative lease %v", ErrBadOptions, lease)
	}
	t.Hash = hashKey(key)
	err = c.withTable(func(lt *loadTable, fl []flight) { c.claim(lt, fl, &t, lease) })
	return t, err
}

// claim is Loads.Begin with the table locked.
func (c *Cache) claim(lt *loadTable, fl []flight, t *LoadTicket, lease time.Duration) {
	n := uint32(len(fl))
	home := uint32(t.Hash) & (n - 1)
	free := n
	// Free flights whose last outcome may still be read: taken only if
	// no attachment keeps them (keep.go), which costs a system call each.
	var unread [loadWindow]uint32
	nunread := 0
	for k := uint32(0); k < loadWindow && k < n; k++ {
		i := (home + k) & (n - 1)
		f := &fl[i]
		switch {
		case f.Owner == 0:
			if o := LoadState(f.Outcome); o == LoadAbsent || o == LoadFailed {
				unread[nunread] = i
				nunread++
			} else if free == n {
				free = i
			}
		case f.Hash == t.Hash:
			// The key is loading (or a key with the same 64-bit hash:
			// its waiters then find nothing and claim again). Whether
			// its loader still lives is a system call, which the
			// waiter makes at once, outside the lock (Loads.Wait).
			if leaseOver(f, nowMillis()) {
				c.takeOver(lt, f, i, t, lease)
				return
			}
			lt.Stats.Waits++
			*t = LoadTicket{State: LoadWaiting, Flight: i, Seq: atomic.LoadUint32(&f.Seq), Hash: t.Hash}
			c.keepFlight(i, t.Seq)
			return
		}
	}
	for _, i := range unread[:nunread] {
		if free != n {
			break
		}
		if !c.kept(i) {
			free = i
		}
	}
	if free == n {
		// Every slot of the window is loading another key, or keeps
		// an outcome for its waiters. One whose loader is gone is
		// ours; otherwise wait for any slot to free.
		for k := uint32(0); k < loadWindow && k < n; k++ {
			if i := (home + k) & (n - 1); c.expired(&fl[i]) {
				c.takeOver(lt, &fl[i], i, t, lease)
				return
			}
		}
		*t = LoadTicket{State: LoadWaiting, Flight: n, Seq: atomic.LoadUint32(&lt.Freed), Hash: t.Hash}
		return
	}
	f := &fl[free]
	f.Hash = t.Hash
	f.Started = nowMillis()
	f.Outcome, f.MsgLen = 0, 0
	atomic.StoreInt64(&f.Deadline, leaseEnd(f.Started, lease))
	if testHook != nil {
		testHook("load-claim")
	}
	atomic.StoreUint32(&f.Owner, c.r.Token()) // last: the flight is now claimed
	lt.Stats.Loads++
	*t = LoadTicket{State: LoadMine, Flight: free, Seq: atomic.LoadUint32(&f.Seq), Hash: t.Hash}
}

func leaseEnd(now int64, lease time.Duration) int64 {
	if lease == 0 {
		return 0
	}
	return now + max(lease.Milliseconds(), 1)
}

// expired reports whether a claimed flight's load is over without having
// ended: its process died, or its lease ran out. It may make a system call
// (the owner's liveness).
func (c *Cache) expired(f *flight) bool {
	owner := atomic.LoadUint32(&f.Owner)
	return owner != 0 && (leaseOver(f, nowMillis()) || !c.r.Alive(owner))
}

// leaseOver reports whether the lease of f's loader has run out at now.
func leaseOver(f *flight, now int64) bool {
	d := atomic.LoadInt64(&f.Deadline)
	return d != 0 && now >= d
}

// takeOver makes the caller the loader of f, whose loader is gone: the load
// ends as abandoned (its waiters look again and join the new one) and
// begins again as the caller's.
func (c *Cache) takeOver(lt *loadTable, f *flight, i uint32, t *LoadTicket, lease time.Duration) {
	c.finish(lt, f, LoadDone, "") // counted as a takeover, not as abandoned
	lt.Stats.Takeovers++
	lt.Stats.Loads++
	f.Hash = t.Hash
	f.Started = nowMillis()
	atomic.StoreInt64(&f.Deadline, leaseEnd(f.Started, lease))
	atomic.StoreUint32(&f.Owner, c.r.Token())
	*t = LoadTicket{State: LoadMine, Flight: i, Seq: atomic.LoadUint32(&f.Seq), Hash: t.Hash}
}

// finish ends the load in f with an outcome and has everyone waiting on
// it woken, and anyone waiting for a free slot (after the unlock, see
// withTable).
func (c *Cache) finish(lt *loadTable, f *flight, outcome LoadState, msg string) {
	switch outcome {
	case LoadFailed:
		lt.Stats.Failures++
	case LoadAbandoned:
		lt.Stats.Abandoned++
		outcome = LoadDone // waiters look again; one of them loads
	}
	f.Outcome = uint32(outcome)
	f.MsgLen = uint32(copy(f.Msg[:], msg))
	atomic.StoreUint32(&f.Owner, 0)
	if testHook != nil {
		testHook("load-finish")
	}
	atomic.AddUint32(&f.Seq, 1)
	atomic.AddUint32(&lt.Freed, 1)
	c.wakes = append(c.wakes, &f.Seq, &lt.Freed)
}

// End ends the caller's load (a ticket in state LoadMine) with its
// outcome: LoadDone once the value is written, LoadAbsent if the key has
// no value, LoadFailed with the loader's error message (cut to 88 bytes),
// or LoadAbandoned. Every caller waiting on the load wakes. It fails with
// ErrLoadLost if the load was taken over meanwhile (see LoadTicket).
func (l *Loads) End(t *LoadTicket, outcome LoadState, msg string) error {
	c := l.c
	if t.State != LoadMine {
		return fmt.Errorf("%w: Loads.End with a ticket in state %v", ErrBadTicket, t.State)
	}
	if outcome < LoadDone || outcome > LoadAbandoned {
		return fmt.Errorf("%w: outcome %v; use LoadDone, LoadAbsent, LoadFailed or LoadAbandoned", ErrBadOptions, outcome)
	}
	if t.Flight >= uint32(c.g.loads) {
		return fmt.Errorf("%w: flight %d of %d", ErrBadTicket, t.Flight, c.g.loads)
	}
	lost := false
	err := c.withTable(func(lt *loadTable, fl []flight) {
		f := &fl[t.Flight]
		if f.Owner != c.r.Token() || f.Seq != t.Seq || f.Hash != t.Hash {
			lost = true
			return
		}
		c.finish(lt, f, outcome, msg)
	})
	if err != nil {
		return err
	}
	t.State = outcome
	if lost {
		return ErrLoadLost
	}
	return nil
}

// Write writes the value that the caller's load (a ticket in state
// LoadMine, for key) loaded, as Cache.Write does, but only while the load
// is still the caller's. Once another caller has taken it over (its lease ran
// out), nothing is written and the error is ErrLoadLost: the new loader
// writes the key, and a late loader must not replace what it wrote. A
// loader writes every value it loads this way (an absence, a resurrected
// value, or a refresh too).
func (l *Loads) Write(t *LoadTicket, key, value []byte, o WriteOptions) (WriteResult, error) {
	c := l.c
	if t.State != LoadMine {
		return WriteResult{}, fmt.Errorf("%w: Loads.Write with a ticket in state %v", ErrBadTicket, t.State)
	}
	if t.Flight >= uint32(c.g.loads) {
		return WriteResult{}, fmt.Errorf("%w: flight %d of %d", ErrBadTicket, t.Flight, c.g.loads)
	}
	if len(key) > 0 && hashKey(key) != t.Hash {
		return WriteResult{}, fmt.Errorf("%w: the ticket is for another key", ErrBadTicket)
	}
	mine := *t
	o.load = &mine
	return c.Write(key, value, o)
}

// ownsLoad reports whether t's load is still the caller's: its flight
// names this attachment and has not ended since t was issued. A writer
// asks with the key's shard locked, and reads the two words without the
// table's lock: a takeover that comes after the answer is followed by the
// new loader's own write, which must wait for that shard lock, so the new
// value always lands last. Call it under a fault guard.
func (c *Cache) ownsLoad(t *LoadTicket) bool {
	f := &c.lt.flights[t.Flight]
	return atomic.LoadUint32(&f.Owner) == c.r.Token() && atomic.LoadUint32(&f.Seq) == t.Seq
}

// Wait waits at most timeout for the load that a ticket in state
// LoadWaiting waits on (0 only looks). It sets the ticket's state to what
// it found: still LoadWaiting when the time ran out; LoadMine when the
// loader was gone and the caller has taken the load over; LoadDone,
// LoadAbsent, or LoadFailed with the loader's message when the load ended.
//
// The caller sleeps on a word of the region that the loader's End
// wakes. Every OwnerCheckInterval of sleep it asks whether the loader is
// still alive and within its lease, so a loader that died is replaced
// within about that time. lease is the caller's lease should it take over.
//
// The load's outcome is kept for the ticket (keep.go) for as long as its
// caller goes on waiting: sleeping in Wait, or polling with a gap of
// less than a second between calls.
func (l *Loads) Wait(t *LoadTicket, timeout, lease time.Duration) (msg string, err error) {
	return l.c.waitLoad(t, timeout, lease, nil)
}

// waitLoad is Loads.Wait that also stops, still waiting, when stop says so
// after a wake-up (see waitCtx).
func (c *Cache) waitLoad(t *LoadTicket, timeout, lease time.Duration, stop func() bool) (msg string, err error) {
	if t.State != LoadWaiting {
		return "", fmt.Errorf("%w: Loads.Wait with a ticket in state %v", ErrBadTicket, t.State)
	}
	if t.Flight > uint32(c.g.loads) {
		return "", fmt.Errorf("%w: flight %d of %d", ErrBadTicket, t.Flight, c.g.loads)
	}
	if lease < 0 || timeout < 0 {
		return "", fmt.Errorf("%w: negative lease %v or timeout %v", ErrBadOptions, lease, timeout)
	}
	if t.Flight < uint32(c.g.loads) {
		done := c.waitingOn(t.Flight, t.Seq)
		defer done()
	}
	start := time.Now()
	lastCheck := start
	// The first look asks after the loader at once: a caller polling
	// with a zero timeout (an event loop) must find a dead one too.
	for first := true; ; first = false {
		ended := false
		err := c.r.Guard(func() {
			word := c.ticketWord(t)
			if !first {
				left := timeout - time.Since(start)
				shm.Wait(word, t.Seq, min(left, shm.OwnerCheckInterval))
			}
			ended = atomic.LoadUint32(word) != t.Seq
			if !ended && t.Flight < uint32(c.g.loads) {
				// A free flight whose seq has not moved: its end
				// was cut short (the process died between the two
				// stores of finish). The load is over all the same.
				ended = atomic.LoadUint32(&c.lt.flights[t.Flight].Owner) == 0
			} else if !ended {
				// Waiting for a free slot: look again every
				// interval, so that Loads.Begin finds the slots of
				// loaders that died (which end no load, and so
				// bump no word).
				ended = time.Since(start) >= shm.OwnerCheckInterval
			}
		})
		if err != nil {
			return "", err
		}
		if ended {
			return c.outcome(t)
		}
		if t.Flight < uint32(c.g.loads) && (first || time.Since(lastCheck) >= shm.OwnerCheckInterval) {
			lastCheck = time.Now()
			seq := t.Seq
			took, err := c.takeOverIfGone(t, lease)
			if took {
				c.releaseKeep(t.Flight, seq) // a loader now, no longer a waiter
			}
			if took || err != nil {
				return "", err
			}
		}
		if time.Since(start) >= timeout || (stop != nil && stop()) {
			return "", nil // still LoadWaiting
		}
	}
}

// ticketWord is the futex word a waiting ticket sleeps on: its flight's
// seq, or the table's freed word when it waits for a free slot.
func (c *Cache) ticketWord(t *LoadTicket) *uint32 {
	if t.Flight < uint32(c.g.loads) {
		return &c.lt.flights[t.Flight].Seq
	}
	return &c.lt.t.Freed
}

// wakeTicket wakes the sleepers on a waiting ticket's word, so that one
// whose context ended notices (the others look and sleep again).
func (c *Cache) wakeTicket(t *LoadTicket) {
	c.r.Guard(func() { shm.Wake(c.ticketWord(t)) })
}

// takeOverIfGone takes over the load a waiter waits on if its loader is
// gone, and says whether it did. The loader's liveness, a system call, is
// asked without the table's lock; the lock is taken only to take over,
// after checking that the load is still the one the waiter asked about.
func (c *Cache) takeOverIfGone(t *LoadTicket, lease time.Duration) (took bool, err error) {
	f := &c.lt.flights[t.Flight]
	var owner uint32
	gone := false
	if err := c.r.Guard(func() {
		owner = atomic.LoadUint32(&f.Owner)
		gone = owner != 0 && atomic.LoadUint32(&f.Seq) == t.Seq && c.expired(f)
	}); err != nil || !gone {
		return false, err
	}
	err = c.withTable(func(lt *loadTable, fl []flight) {
		if f.Owner == owner && f.Seq == t.Seq && f.Hash == t.Hash {
			c.takeOver(lt, f, t.Flight, t, lease)
			took = true
		}
	})
	return took, err
}

// outcome reads how the load a waiter waited on ended, which the
// waiter's keep (keep.go) has left in the flight. Should it be gone all
// the same (the keep could not be taken, or a process that keeps no
// flights claimed it), the caller looks again (LoadDone), as it would
// after an abandoned load.
func (c *Cache) outcome(t *LoadTicket) (msg string, err error) {
	t.State = LoadDone
	if t.Flight == uint32(c.g.loads) {
		return "", nil // a slot freed: look again, and claim one
	}
	defer c.releaseKeep(t.Flight, t.Seq)
	err = c.withTable(func(lt *loadTable, fl []flight) {
		f := &fl[t.Flight]
		// seq one past the ticket's: the load ended. Still at it with
		// no owner: its end was cut short between its two stores
		// (finish), after the outcome was written.
		ended := f.Seq == t.Seq+1 || (f.Seq == t.Seq && f.Owner == 0)
		if !ended || f.Hash != t.Hash {
			return
		}
		switch o := LoadState(f.Outcome); o {
		case LoadAbsent, LoadFailed:
			t.State = o
			msg = string(f.Msg[:min(f.MsgLen, LoadMsgSize)])
		}
	})
	return msg, err
}

// Stats returns the read-through counters of the whole cache.
func (l *Loads) Stats() (s LoadCounters, err error) {
	err = l.c.withTable(func(lt *loadTable, _ []flight) { s = LoadCounters(lt.Stats) })
	return s, err
}
