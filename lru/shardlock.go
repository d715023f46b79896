package lru

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/shmlru/shmlru/shm"
)

// The life of one operation on a shard:
//
//	if err := s.begin(); err != nil { return err } // process-local mutex, fault guard
//	defer s.end(&err)                              // always releases what it holds
//	s.acquire()  or  s.observe()                    // the region lock
//
// Operations that serve callers acquire: if the lock's owner died, they take
// it over and repair the shard. Observers (Peek, Range, Stats, Check, ...)
// observe: they never repair, so an operator sees a shard as a dead process
// left it, and they hand the lock back so that the next acquire repairs.
// Whole-shard work runs those three steps through one wrapper, withLock.
//
// Whatever panics while the shard is in use, end decides whose fault it was
// and never releases the lock on a shard left half changed:
//
//   - corruptError, or a bounds check of ours: the region is inconsistent;
//     the shard is reset (observers leave it) and the caller gets ErrCorrupt.
//   - a fault inside the mapping: the file shrank underneath it; the cache is
//     broken and retires its attachment (ErrCorrupt from then on).
//   - a fault anywhere else: the caller's memory (a C pointer, a slice over
//     a truncated mmap of the caller's); ErrFault, and the shard is reset if
//     the fault came mid-change.
//   - a panic in the caller's callback (Range): re-raised to the caller with
//     both locks released and the region untouched.

// begin starts an operation on the shard: it takes the process-local mutex
// and arms fault recovery. Every begin that returns nil is paired with a
// deferred end, which must be deferred before the region lock is taken.
func (s *shard) begin() error {
	s.mu.Lock()
	if s.c.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	if p := s.c.broken.Load(); p != nil {
		s.mu.Unlock()
		return *p
	}
	// A fault on the mapping (the file truncated underneath us) panics
	// instead of killing the process; end recovers it.
	s.prevFault = debug.SetPanicOnFault(true)
	return nil
}

// acquire takes the shard's region lock. If the previous owner died holding
// it, the shard is repaired: reset if the owner died mid-mutation, its LRU
// queue rebuilt if the owner died moving an entry. It says what it did.
func (s *shard) acquire() repaired {
	takenOver := s.c.r.Lock(&s.h.Lock)
	s.locked = true
	switch dirty := s.dirty(); {
	case takenOver:
		s.h.Stats.Recoveries++
		s.h.DeadPid = 0
		if dirty {
			s.resetCounted()
			return repairedReset
		}
		if !s.lruIntact() {
			s.repairLRU() // the owner died in a touch
			return repairedQueue
		}
		return repairedNothing
	case dirty:
		// A lock released over a half-made change: no path of ours does
		// that, and this check (one load of the lock's own cache line)
		// makes sure that no reader ever builds on one.
		s.resetCounted()
		return repairedReset
	}
	return notTakenOver
}

// repaired says what acquire found and did.
type repaired uint8

const (
	notTakenOver    repaired = iota // the lock was free or released normally
	repairedNothing                 // taken over from a dead owner; the shard was whole
	repairedQueue                   // ... the LRU queue was rebuilt
	repairedReset                   // ... the shard was reset
)

// observe takes the shard's region lock for an operation that changes
// nothing. A lock whose owner died is taken without repairing, and handed
// back as an orphan by end; whether a change was left half made is
// recorded either way (leftDirty, see leftBroken).
func (s *shard) observe() {
	s.observing = true
	from := s.c.r.LockObserve(&s.h.Lock)
	s.locked = true
	// A dirty mark under a lock that was free is a change cut short too
	// (the native path leaves an orphan then, but an observer does not
	// rely on it): never read through it.
	s.leftDirty = s.dirty()
	if from != 0 {
		s.orphaned = true
		if o := s.c.r.TokenOwner(from); o.Pid != 0 {
			s.h.DeadPid = uint32(o.Pid) // so later looks still say who died
		}
	}
}

// lockHow says how withLock takes the shard's region lock.
type lockHow uint8

const (
	// lockObserve: fn changes nothing. A dead owner's lock is taken
	// without repair and handed back as an orphan (see observe).
	lockObserve lockHow = 0
	// lockChange: fn may change the shard. A dead owner's lock is taken
	// over and the shard repaired first (see acquire); s.did says how.
	lockChange lockHow = 1
	// lockAskOwner: before taking the lock, ask who holds it, into
	// s.heldBy. That is a look at the lock word and, when it is held,
	// at its owner's liveness (a system call), which only the
	// operators' calls (Stats, Check, Repair) want to pay for.
	lockAskOwner lockHow = 2
)

// withLock runs fn with the shard's region lock held, under the
// operation's fault recovery (begin, end), and returns fn's error or the
// one that recovery found. It is the one wrapper for whole-shard work
// (Flush, Len, Range, Stats, Check, Repair, Changes): the single-key
// operations, whose hot paths differ (lock-free reads, retries), call
// begin, acquire and end themselves. how says whether fn changes the shard
// and whether it needs to know who held the lock before (see lockHow).
func (s *shard) withLock(how lockHow, fn func() error) (err error) {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end(&err)
	s.heldBy, s.did = shm.Owner{}, notTakenOver
	if how&lockAskOwner != 0 {
		if s.heldBy, err = s.lockOwner(); err != nil {
			return err
		}
	}
	if how&lockChange != 0 {
		s.did = s.acquire()
	} else {
		s.observe()
	}
	return fn()
}

// leftBroken returns an error if observe found the shard as a dead process
// left it and not whole, so that an observer which reads entries does not
// hand out a value written halfway. The next operation that acquires the
// lock repairs the shard.
func (s *shard) leftBroken() error {
	if s.leftDirty {
		return fmt.Errorf("%w: shard %d of %s was left mid-change by a process that died; the next Get or write to it, or Repair (`shmctl check --repair`), repairs it", ErrCorrupt, s.idx, s.c.r.Path())
	}
	if !s.orphaned {
		return nil
	}
	if !s.lruIntact() {
		return fmt.Errorf("%w: shard %d of %s: a process died while moving an entry in the LRU queue; the next Get or write to it, or Repair (`shmctl check --repair`), rebuilds the queue", ErrCorrupt, s.idx, s.c.r.Path())
	}
	return nil
}

// end finishes an operation begun with begin. It must be called directly
// by defer: it recovers panics raised while the shard was in use.
func (s *shard) end(err *error) {
	p := recover()
	var foreign any
	if p != nil {
		*err, foreign = s.recoverPanic(p)
	}
	s.release()
	debug.SetPanicOnFault(s.prevFault)
	s.mu.Unlock()
	if s.c.broken.Load() != nil {
		s.c.retireBroken()
	}
	if foreign != nil {
		// Not ours to hide (a caller's panic in a Range callback, or a
		// bug), but re-raised only now, with both locks released: a
		// caller that recovers must not leave the shard locked by a live
		// process, which every other process would wait on forever.
		panic(foreign)
	}
}

// release gives the region lock back: as an orphan if observe took it from a
// dead owner (whose pid observe kept in the shard header). A shard still
// marked dirty here while the mapping failed (mid-change, and even the reset
// failed) keeps its lock: the attachment retires, and the next process
// takes the lock over from it and resets the shard, exactly as after a
// crash. A shard found dirty with the mapping whole was marked by someone
// else (a process writing the file without the lock): the lock goes back
// as an orphan, so that the next locker resets the shard at once rather
// than wait on this live process, which may never come back to it.
func (s *shard) release() {
	if !s.locked {
		return
	}
	observing := s.observing
	s.locked, s.observing = false, false
	if s.orphaned || s.leftDirty || s.c.broken.Load() != nil {
		// An observer that found a change cut short hands the lock on as
		// an orphan too, so that the next acquire resets the shard.
		s.orphaned = s.orphaned || (observing && s.leftDirty)
		s.releaseSlow()
		return
	}
	if s.dirty() {
		s.c.r.ReleaseOrphan(&s.h.Lock)
		return
	}
	s.c.r.Unlock(&s.h.Lock)
}

// releaseSlow is release for an observer that took the lock from a dead
// owner, or for a cache whose mapping failed, whose lock word's page may
// have gone with the file's tail: then no process can reach the lock, and
// retiring is all that is left to do.
func (s *shard) releaseSlow() {
	orphan := s.orphaned
	s.orphaned, s.leftDirty = false, false
	defer func() {
		if p := recover(); p != nil {
			if _, fault := shm.FaultAddr(p); !fault {
				panic(p)
			}
		}
	}()
	switch {
	case orphan:
		s.c.r.ReleaseOrphan(&s.h.Lock)
	case !s.dirty():
		s.c.r.Unlock(&s.h.Lock)
	}
}

// recoverPanic turns a panic raised while the shard was in use into an
// error, or returns it as foreign for end to re-raise (see the top of this
// file for who is blamed for what).
func (s *shard) recoverPanic(p any) (error, any) {
	switch e := p.(type) {
	case callerPanic:
		s.resetIfTorn()
		return nil, e.p
	case corruptError:
		return s.corrupted(e.msg), nil
	}
	if addr, fault := shm.FaultAddr(p); fault && s.c.r.Contains(addr) {
		err := s.c.r.Shrank(addr)
		s.c.broken.CompareAndSwap(nil, &err)
		s.resetIfTorn() // a change cut short must not survive: best effort
		return err, nil
	}
	if shm.IsMemoryFault(p) {
		s.resetIfTorn()
		return fmt.Errorf("%w (%v); nothing was stored, and no torn value can be read", ErrFault, p), nil
	}
	if e, ok := p.(runtime.Error); ok {
		// A bounds check of our own code (an index out of range) is the
		// last line of defence against a corrupt region: every index read
		// from the region is checked before use, so this one slipped
		// through a check that corruption made wrong.
		return s.corrupted(fmt.Sprintf("shard %d: %v", s.idx, e)), nil
	}
	s.resetIfTorn()
	return nil, p
}

// corrupted is the error for an inconsistency found in the shard. An
// operation that holds the lock to change things resets the shard, so that
// the cache goes on serving; an observer leaves it for a repair on request.
func (s *shard) corrupted(msg string) error {
	switch {
	case !s.locked:
		return fmt.Errorf("%w: %s", ErrCorrupt, msg)
	case s.observing:
		return fmt.Errorf("%w: %s (left as it is: the next Get or write to the shard, or Repair, resets it)", ErrCorrupt, msg)
	}
	s.bestEffort(s.resetCounted)
	return fmt.Errorf("%w: %s (the shard was reset)", ErrCorrupt, msg)
}

// resetIfTorn resets the shard if the operation that panicked was in the
// middle of changing it: a value half copied must never be released under
// the lock for others to read.
func (s *shard) resetIfTorn() {
	if s.locked && !s.observing {
		s.bestEffort(func() {
			if s.dirty() {
				s.resetCounted()
			}
		})
	}
}

// bestEffort runs fn, which repairs the shard while end handles a panic,
// without letting a second fault escape. It takes no lock (the operation
// holds it already): it only contains a panic of fn. If fn faults, the
// mapping is gone: the cache is marked broken, and a dirty mark that could
// not be cleared keeps the lock (see release).
func (s *shard) bestEffort(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("%w: %s: repair of shard %d failed: %v", ErrCorrupt, s.c.r.Path(), s.idx, p)
			s.c.broken.CompareAndSwap(nil, &err)
		}
	}()
	fn()
}

// retireBroken makes a cache whose mapping failed stop looking alive to the
// other processes (shm.Region.Retire), once the operations still running in
// this process have finished: until then one of them may hold a lock it is
// about to release normally.
func (c *Cache) retireBroken() {
	c.retire.Do(func() {
		for i := range c.shards {
			c.shards[i].mu.Lock()
		}
		c.r.Retire()
		for i := range c.shards {
			c.shards[i].mu.Unlock()
		}
	})
}

// corruptError is panicked by the shard code when it finds the region
// inconsistent; end turns it into ErrCorrupt.
type corruptError struct{ msg string }

func (s *shard) corrupt(format string, args ...any) {
	panic(corruptError{fmt.Sprintf("shard %d: ", s.idx) + fmt.Sprintf(format, args...)})
}

// callerPanic carries a panic raised by the caller's own code (a Range
// callback) through end, which re-raises the value inside.
type callerPanic struct{ p any }

// callerFn calls a caller's callback, marking any panic it raises as the
// caller's.
func callerFn(fn func(key []byte, m Meta, valueSize int) bool, key []byte, m Meta, size int) bool {
	defer func() {
		if p := recover(); p != nil {
			panic(callerPanic{p})
		}
	}()
	return fn(key, m, size)
}
