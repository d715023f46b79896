package lru

import (
	"sync"
	"time"
)

// Keeps: how a waiter's process makes sure that the outcome of the load it
// waits on is still in the flight when it comes to read it.
//
// A load's outcome (the loader's failure message, or "absent") stays in
// its flight until the flight is claimed for another load. A waiter may
// come to read it well after the load ended (an nginx worker polls every
// 20 ms at most, and any process may be descheduled), and on a busy host
// another key's load could have claimed the flight by then. So a process
// keeps every flight its waiters wait on: it holds a share of the flight's
// first byte (shm.Region.Share, an OFD read lock) from the moment it is
// issued a waiting ticket, under the table's lock, until each of its
// waiting tickets for that flight has read the outcome (or taken the load
// over, or given up). claim takes a free flight whose outcome is still to
// be read only if no attachment keeps it; it takes another flight of the
// window, or waits for one.
//
// Bounds, so that a waiter that is gone frees the flight: the kernel drops
// a dead process's shares with its file descriptions, and a live process
// drops a keep that no ticket has waited on for keepIdle (a ticket given
// up without a word: a Lua request that timed out or was aborted, a C
// caller that stopped polling). A waiter that keeps polling, or sleeps in
// Loads.Wait, is never that idle.
//
// Nothing of this is in the region but the outcome itself: a process that
// does not keep flights (a build without keeps) only loses outcomes as
// every process did before.

// keepIdle is how long a keep may go without a ticket waiting on it before
// its process drops it. A variable for the tests: a Cache takes its value
// when it is opened.
var keepIdle = time.Second

// keeps are this attachment's keeps, by flight.
type keeps struct {
	mu    sync.Mutex
	m     map[uint32]*keep
	sweep *time.Timer   // runs sweepKeeps while m is not empty
	idle  time.Duration // keepIdle
}

// keep is one flight that this attachment keeps.
type keep struct {
	seq    uint32    // the seq of the load the tickets wait on (as LoadTicket.Seq)
	refs   int       // waiting tickets issued for that load and not yet through
	active int       // Loads.Wait calls in progress on the flight
	used   time.Time // when a ticket was last issued or waited on it
}

// flightByte is the offset in the data area of flight i's first byte,
// which its keeps share.
func (c *Cache) flightByte(i uint32) int {
	return c.g.loadsOff + loadTableHeaderSize + int(i)*flightSize
}

// keepFlight keeps flight i for a waiting ticket just issued on the load
// at seq. claim calls it with the table locked, so that the flight is kept
// before its load can end. If the share cannot be taken the ticket waits
// all the same, and may find the outcome gone, as without keeps.
func (c *Cache) keepFlight(i, seq uint32) {
	k := &c.lt.keeps
	k.mu.Lock()
	defer k.mu.Unlock()
	e, _ := c.keepLocked(i, seq)
	if e == nil {
		return
	}
	if e.seq != seq {
		// Kept for an earlier load of the flight whose tickets have not
		// all come back; they no longer count.
		e.seq, e.refs = seq, 0
	}
	e.refs++
	e.used = time.Now()
}

// keepLocked returns this attachment's keep of flight i, taking the share
// for a new one (for the load at seq, with no ticket yet); nil if the share
// cannot be taken. k.mu is held.
func (c *Cache) keepLocked(i, seq uint32) (e *keep, created bool) {
	k := &c.lt.keeps
	if e := k.m[i]; e != nil {
		return e, false
	}
	if c.r.Share(c.flightByte(i)) != nil {
		return nil, false
	}
	if k.m == nil {
		k.m = make(map[uint32]*keep)
	}
	e = &keep{seq: seq}
	k.m[i] = e
	if k.sweep == nil {
		k.sweep = time.AfterFunc(k.idle, c.sweepKeeps)
	}
	return e, true
}

// keptHere reports whether this attachment keeps flight i. (Shared does
// not see this attachment's own shares.)
func (c *Cache) keptHere(i uint32) bool {
	k := &c.lt.keeps
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[i] != nil
}

// kept reports whether any attachment keeps flight i. It may make a system
// call. A share the kernel cannot tell about counts as none: a flight is
// never held back on a guess.
func (c *Cache) kept(i uint32) bool {
	if c.keptHere(i) {
		return true
	}
	held, err := c.r.Shared(c.flightByte(i))
	return err == nil && held
}

// waitingOn counts a Loads.Wait call on a ticket waiting on flight i (the
// load at seq), and returns the function that ends it. A ticket whose keep
// was dropped while nobody waited is kept again (outside the table's lock:
// if its load has ended since, the outcome may be gone already).
func (c *Cache) waitingOn(i, seq uint32) (done func()) {
	k := &c.lt.keeps
	k.mu.Lock()
	e, created := c.keepLocked(i, seq)
	if e != nil {
		if created {
			e.refs = 1 // kept again: this ticket is its one
		}
		e.active++
		e.used = time.Now()
	}
	k.mu.Unlock()
	return func() {
		if e == nil {
			return
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		e.active--
		e.used = time.Now()
		c.dropIfUnused(i, e)
	}
}

// releaseKeep says that a ticket that waited on flight i (the load at seq)
// is through: it read the outcome, took the load over, or gave up.
func (c *Cache) releaseKeep(i, seq uint32) {
	k := &c.lt.keeps
	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.m[i]; e != nil && e.seq == seq {
		e.refs--
		c.dropIfUnused(i, e)
	}
}

// dropIfUnused drops the keep e of flight i once no ticket of this
// attachment needs it. k.mu is held.
func (c *Cache) dropIfUnused(i uint32, e *keep) {
	k := &c.lt.keeps
	if e.refs <= 0 && e.active <= 0 && k.m[i] == e {
		c.r.Unshare(c.flightByte(i))
		delete(k.m, i)
	}
}

// sweepKeeps drops the keeps that no ticket has waited on for keepIdle,
// and runs again while any remain.
func (c *Cache) sweepKeeps() {
	k := &c.lt.keeps
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweep = nil
	if c.closed.Load() {
		k.m = nil // closing the region dropped the shares
		return
	}
	now := time.Now()
	for i, e := range k.m {
		if e.active <= 0 && now.Sub(e.used) >= k.idle {
			c.r.Unshare(c.flightByte(i))
			delete(k.m, i)
		}
	}
	if len(k.m) > 0 {
		k.sweep = time.AfterFunc(k.idle/2, c.sweepKeeps)
	}
}
