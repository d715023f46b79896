package shm

import (
	"sync/atomic"
	"time"
)

// OwnerCheckInterval is how long a waiter sleeps on a lock word before it
// asks whether the owner is still alive. Locks are held for microseconds, so
// a waiter that sleeps this long is either behind a preempted owner (alive:
// it waits again) or behind a dead one (it takes the lock over). It bounds
// how long a dead owner can stall the others.
const OwnerCheckInterval = 10 * time.Millisecond

// spinFor is how long a contended Lock keeps re-reading the word before it
// sleeps in the kernel. Critical sections take a fraction of a microsecond,
// and a sleep and its wake-up cost two system calls of about a microsecond
// each, so spinning wins while the owner runs on another core. The bound
// caps what is wasted when the owner is not running (more processes than
// cores).
const spinFor = 4 * time.Microsecond

// Lock acquires the lock word w, a 4-byte aligned uint32 inside the region's
// data area shared by every process that maps it. Uncontended, it is one
// compare-and-swap and no system call.
//
// Lock is not reentrant, and the caller must serialise its own goroutines on
// one word (for example with a sync.Mutex per word): a word that already
// holds this attachment's token is then a leftover (a corrupt file, or a
// takeover that raced) and is taken over rather than waited on forever.
//
// takenOver is true when the previous owner died while holding the lock (or
// the word named no live owner, or an observer handed it back as an orphan,
// see ReleaseOrphan). The caller owns the lock either way, and in that case
// must repair or reset whatever the dead owner may have left half done
// before it relies on the protected data.
func (r *Region) Lock(w *uint32) (takenOver bool) {
	if atomic.CompareAndSwapUint32(w, 0, r.token) {
		return false
	}
	return r.lockSlow(w) != 0
}

// LockObserve is Lock for observers, which must not repair what a dead owner
// left (an operator inspecting a cache wants to see it as it is). It waits
// for a live owner like Lock. It returns the word it took over from a dead
// owner, 0 if the lock was free or released normally; when it is not 0 the
// caller may read, must change nothing, and must release the lock with
// ReleaseOrphan so that the next Lock still sees a dead owner and repairs.
func (r *Region) LockObserve(w *uint32) (takenFrom uint32) {
	if atomic.CompareAndSwapUint32(w, 0, r.token) {
		return 0
	}
	return r.lockSlow(w)
}

// lockSlow waits for w and returns the owner it took the lock over from (0
// when the lock was released normally).
func (r *Region) lockSlow(w *uint32) uint32 {
	start := time.Now()
	for i := 1; ; i++ {
		if atomic.LoadUint32(w) == 0 && atomic.CompareAndSwapUint32(w, 0, r.token) {
			return 0
		}
		if i%64 == 0 && time.Since(start) > spinFor {
			break
		}
	}
	// The owner we are waiting behind and since when: its liveness costs a
	// system call, so it is asked only once per interval of waiting on it.
	var waitingOn uint32
	var since time.Time
	slept := false
	for {
		v := atomic.LoadUint32(w)
		if v == 0 {
			// Once we have slept, others may be asleep beside us: keep
			// the waiters bit so that our Unlock wakes one of them. Never
			// having slept, we leave it to sleepers to set it again.
			mine := r.token
			if slept {
				mine |= waitersBit
			}
			if atomic.CompareAndSwapUint32(w, 0, mine) {
				return 0
			}
			continue
		}
		owner := v &^ waitersBit
		// Our own token is a leftover (see Lock's doc comment); an orphan
		// was handed back by an observer and has no owner to ask about.
		dead := owner == r.token || owner == orphanToken
		if !dead && owner != waitingOn {
			waitingOn, since = owner, time.Now()
		} else if !dead && time.Since(since) >= OwnerCheckInterval {
			dead = !r.alive(owner)
			since = time.Now()
		}
		if dead {
			if atomic.CompareAndSwapUint32(w, v, r.token|waitersBit) {
				return owner
			}
			continue
		}
		if v&waitersBit == 0 && !atomic.CompareAndSwapUint32(w, v, v|waitersBit) {
			continue
		}
		futexWaitTimeout(w, v|waitersBit, OwnerCheckInterval)
		slept = true
	}
}

// Unlock releases the lock word w and wakes one waiter if any sleeps on it.
func (r *Region) Unlock(w *uint32) {
	if atomic.SwapUint32(w, 0)&waitersBit != 0 {
		futexWakeOne(w)
	}
}

// ReleaseOrphan releases a lock that LockObserve took over from a dead
// owner, leaving it held by no one alive: the next Lock takes it over at
// once and repairs, exactly as it would have done from the dead owner.
//
// Why an orphan token and not the dead owner's own: that owner's slot may
// have been claimed again since, with a generation that wrapped round to the
// same token, and a live process would then seem to hold the lock forever.
// Every waiter is woken, because each must see that the word changed hands.
func (r *Region) ReleaseOrphan(w *uint32) {
	if atomic.SwapUint32(w, orphanToken)&waitersBit != 0 {
		futexWakeAll(w)
	}
}
