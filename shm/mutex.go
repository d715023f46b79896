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
// the word named no live owner). The caller owns the lock either way, and in
// that case must repair or reset whatever the dead owner may have left half
// done before it relies on the protected data.
func (r *Region) Lock(w *uint32) (takenOver bool) {
	if atomic.CompareAndSwapUint32(w, 0, r.token) {
		return false
	}
	return r.lockSlow(w)
}

func (r *Region) lockSlow(w *uint32) bool {
	start := time.Now()
	for i := 1; ; i++ {
		if atomic.LoadUint32(w) == 0 && atomic.CompareAndSwapUint32(w, 0, r.token) {
			return false
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
				return false
			}
			continue
		}
		owner := v &^ waitersBit
		dead := owner == r.token // see the doc comment: a leftover
		if !dead && owner != waitingOn {
			waitingOn, since = owner, time.Now()
		} else if !dead && time.Since(since) >= OwnerCheckInterval {
			dead = !r.alive(owner)
			since = time.Now()
		}
		if dead {
			if atomic.CompareAndSwapUint32(w, v, r.token|waitersBit) {
				return true
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
