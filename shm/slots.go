package shm

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Why slots and OFD locks, and not kill(pid, 0):
//
// A lock word that held the owner's pid could not tell a dead owner from a
// live process that reused its pid, and it means nothing to a process in
// another pid namespace (two containers sharing one volume each see their
// own pid 1). Instead every attachment claims a slot of the region's slot
// table by taking an OFD lock (F_OFD_SETLK) on the slot's first byte of the
// file. The kernel keeps that lock exactly as long as the attachment's file
// description is open, drops it when the process dies however it dies, and
// reports it to any process that maps the same file, whatever its pid
// namespace. Each claim bumps the slot's generation, and a lock word names
// its owner by slot and generation, so a slot reclaimed by a new process is
// not mistaken for the dead owner that held it before.

// Only a write lock is an attachment. Taking one needs a descriptor open
// for writing, while anyone who can read the file can take a read lock on
// any byte of it; so a read lock on a slot's byte is never taken for a live
// attachment (slotHeld), and a slot that only read locks block is reported
// as such (claimSlot). A read lock does block the write lock a newcomer
// claims the slot with, and no byte of the file is out of a reader's reach:
// that is why the trust rule (trust.go) adopts no file that anyone can
// read without being able to write.

// claimSlot takes the first free slot, starting at a place derived from the
// pid so that processes starting together do not all probe slot 0 first.
func (r *Region) claimSlot() error {
	n := len(r.slots)
	pid := os.Getpid()
	start := pid % n
	readLocked := 0
	for i := 0; i < n; i++ {
		s := (start + i) % n
		err := r.lockSlotByte(s)
		if err == nil {
			gen := atomic.AddUint32(&r.slots[s].gen, 1)
			atomic.StoreUint32(&r.slots[s].pid, uint32(pid))
			r.slot = s
			r.token = makeToken(s, gen)
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
			return err
		}
		if typ, err := r.slotLock(s); err == nil && typ == unix.F_RDLCK {
			readLocked++
		}
	}
	if readLocked > 0 {
		return fmt.Errorf("%w (%d of them are not held by attached processes but blocked by read locks: a process that opened the file without attaching is locking it; find it with lslocks and stop it)", ErrNoSlot, readLocked)
	}
	return ErrNoSlot
}

// slotByte is the file offset that slot s's OFD lock covers. The slot
// table always starts right after the header page (validate insists), so
// this reads nothing from the mapping: it works when the file has shrunk.
func (r *Region) slotByte(s int) int64 { return HeaderSize + int64(s)*slotSize }

func (r *Region) lockSlotByte(s int) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: r.slotByte(s), Len: 1}
	return fcntlLock(r.f, unix.F_OFD_SETLK, &lk)
}

// slotHeld asks the kernel whether another open file description holds the
// write lock of slot s, which is what an attachment holds. A read lock there
// is not an attachment (see above). It is a system call: it runs only on a
// waiter's slow path.
func (r *Region) slotHeld(s int) bool {
	if s == r.slot && !r.retired.Load() {
		return true
	}
	typ, err := r.slotLock(s)
	if err != nil {
		// We cannot tell; assume alive and keep waiting (a wrong "dead"
		// would let two processes into one lock).
		return true
	}
	return typ == unix.F_WRLCK
}

// slotLock returns the type of a lock that another open file description
// holds on slot s's byte: F_WRLCK, F_RDLCK or F_UNLCK for none. A write
// lock and a read lock never share a byte, so the one reported is the
// only kind there.
func (r *Region) slotLock(s int) (int16, error) {
	return lockOn(r.f, r.slotByte(s))
}

// lockOn asks the kernel what kind of lock another open file description
// holds on byte off of f (F_OFD_GETLK reports none of our own).
func lockOn(f *os.File, off int64) (int16, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	err := fcntlLock(f, unix.F_OFD_GETLK, &lk)
	return lk.Type, err
}

// fcntlLock runs an OFD lock command on f, retried on EINTR. It goes
// through the file's SyscallConn, which keeps the descriptor from being
// closed while the command runs: with f.Fd(), a Close on another goroutine
// could close it in between, and a file opened meanwhile that reused the
// number would get the lock instead.
func fcntlLock(f *os.File, cmd int, lk *unix.Flock_t) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if lockErr = unix.FcntlFlock(fd, cmd, lk); lockErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return ErrClosed
	}
	return lockErr
}

// Token layout of a lock word (see mutex.go):
//
//	bit 31      waiters: some process may be asleep on the word
//	bits 16-30  generation of the owner's slot, modulo 2^15
//	bits 0-15   owner's slot + 1 (never 0, so a held word is never 0)
//
// The slot field 0xffff names no slot (MaxSlots stops one short of it): it
// is the orphan token, a lock held by no one alive that the next Lock takes
// over and repairs (see ReleaseOrphan).
const (
	waitersBit  = 1 << 31
	slotMask    = 0xffff
	genShift    = 16
	genMask     = 0x7fff
	orphanToken = slotMask
)

func makeToken(slot int, gen uint32) uint32 {
	return uint32(slot+1) | (gen&genMask)<<genShift
}

// TokenBits is the encoding of a lock word, for code outside this package
// that takes and releases the region's locks itself (the C library's
// native path; c/layout.h is generated from it). The encoding is part of
// the region's layout: a change to it is a new Version.
type TokenBits struct {
	WaitersBit  uint32 // set while a process may sleep on the word: whoever clears the word must wake one
	SlotMask    uint32 // word & SlotMask is the owner's slot + 1, 0 in an unheld word
	GenShift    uint32 // (word >> GenShift) & GenMask is the generation of the owner's slot
	GenMask     uint32
	OrphanToken uint32 // a lock held by no one alive: the next Lock takes it over and repairs (see ReleaseOrphan)
}

// TokenLayout returns the encoding of a lock word (see TokenBits).
func TokenLayout() TokenBits {
	return TokenBits{WaitersBit: waitersBit, SlotMask: slotMask, GenShift: genShift, GenMask: genMask, OrphanToken: orphanToken}
}

// Alive reports whether the owner named by a lock word's token is still
// attached. A token that names no valid slot (a corrupt word, an orphan) is
// dead.
func (r *Region) alive(token uint32) bool {
	s := int(token&slotMask) - 1
	if s < 0 || s >= len(r.slots) {
		return false
	}
	if atomic.LoadUint32(&r.slots[s].gen)&genMask != (token>>genShift)&genMask {
		return false // the slot was claimed again: its old owner is gone
	}
	return r.slotHeld(s)
}

// Token is this attachment's lock token: what a word it holds contains
// (without the waiters bit). Code that records ownership in a word of its
// own (package lru's load table) writes it there.
func (r *Region) Token() uint32 { return r.token }

// Alive reports whether the attachment named by token (a lock word's value,
// with or without the waiters bit) is still attached. It makes a system
// call unless the token is this attachment's; call it on slow paths only.
// The orphan token, a token naming no slot, and one whose slot has been
// claimed again since are all dead.
func (r *Region) Alive(token uint32) bool { return r.alive(token &^ waitersBit) }

// AvoidTokens makes sure that none of the lock words holds this
// attachment's token already. The caller passes every lock word it keeps in
// the data area, right after Open.
//
// Why: the generation in a token has 15 bits, so after 2^15 claims of one
// slot a newcomer's token can equal that of a process which died holding a
// lock. That lock would then never be taken over while the newcomer lives:
// the word's owner looks alive. A dead owner's token stays in a word only
// until someone takes the lock over, and no one but its owner ever writes a
// token (ReleaseOrphan writes the orphan token instead), so a check made
// once, after the claim, holds for the attachment's whole life. The slot's
// OFD lock is ours, so bumping its generation again races with no one.
func (r *Region) AvoidTokens(words []*uint32) error {
	return r.guard(func() {
		inUse := func(token uint32) bool {
			for _, w := range words {
				if atomic.LoadUint32(w)&^waitersBit == token {
					return true
				}
			}
			return false
		}
		// Each round moves to the next generation; at most len(words)
		// of them can be taken, so this ends long before it could wrap.
		for n := 0; inUse(r.token) && n <= genMask; n++ {
			gen := atomic.AddUint32(&r.slots[r.slot].gen, 1)
			r.token = makeToken(r.slot, gen)
		}
	})
}

// Retire makes this attachment look dead to every other process, while the
// process lives on: its slot's OFD lock is released, so any lock word that
// still names it is taken over by the next process that wants it. A cache
// whose mapping failed retires its attachment, because it can no longer
// promise to release what it holds. After Retire the region must not be
// locked again through r; Close still unmaps it.
func (r *Region) Retire() {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed.Load() || !r.retired.CompareAndSwap(false, true) {
		return // closing the file released the slot already
	}
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: r.slotByte(r.slot), Len: 1}
	fcntlLock(r.f, unix.F_OFD_SETLK, &lk)
}

// Owner describes who holds a lock word, for operators' tools.
type Owner struct {
	Held   bool // the word is held
	Slot   int  // owner's slot (-1 for an orphan)
	Pid    int  // owner's pid in its own pid namespace (0 if unknown)
	Alive  bool // the owner is still attached
	Orphan bool // held by no one: an observer found its owner dead and left the repair to the next user
}

// LockOwner describes the current holder of the lock word w without
// changing it. It fails with ErrClosed after Close and with ErrCorrupt if
// the word's page is gone from the file.
func (r *Region) LockOwner(w *uint32) (o Owner, err error) {
	err = r.guard(func() { o = r.lockOwner(w) })
	return o, err
}

// lockOwner is LockOwner for callers that already guard the mapping.
func (r *Region) lockOwner(w *uint32) Owner { return r.TokenOwner(atomic.LoadUint32(w)) }

// TokenOwner describes the owner named by a lock word's value (a token as
// LockObserve returns it), for callers that guard the mapping themselves.
func (r *Region) TokenOwner(v uint32) Owner {
	v &^= waitersBit
	if v == 0 {
		return Owner{}
	}
	if v == orphanToken {
		return Owner{Held: true, Slot: -1, Orphan: true}
	}
	o := Owner{Held: true, Slot: int(v&slotMask) - 1}
	if o.Slot >= 0 && o.Slot < len(r.slots) {
		o.Pid = int(atomic.LoadUint32(&r.slots[o.Slot].pid))
	}
	o.Alive = r.alive(v)
	return o
}

// Attached counts the slots whose OFD lock is held: the processes (more
// exactly, open handles) attached to the region now, this one included. It
// makes one system call per slot that was ever claimed.
func (r *Region) Attached() (int, error) {
	as, err := r.Attachments()
	return len(as), err
}
