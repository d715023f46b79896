package shm

import (
	"errors"
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

// claimSlot takes the first free slot, starting at a place derived from the
// pid so that processes starting together do not all probe slot 0 first.
func (r *Region) claimSlot() error {
	n := len(r.slots)
	pid := os.Getpid()
	start := pid % n
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
	}
	return ErrNoSlot
}

func (r *Region) slotByte(s int) int64 { return int64(r.hdr.slotsOff) + int64(s)*slotSize }

func (r *Region) lockSlotByte(s int) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: r.slotByte(s), Len: 1}
	for {
		err := unix.FcntlFlock(r.f.Fd(), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}

// slotHeld asks the kernel whether any open file description holds the OFD
// lock of slot s. It is a system call: it runs only on a waiter's slow path.
func (r *Region) slotHeld(s int) bool {
	if s == r.slot {
		return true
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: r.slotByte(s), Len: 1}
	for {
		err := unix.FcntlFlock(r.f.Fd(), unix.F_OFD_GETLK, &lk)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// We cannot tell; assume alive and keep waiting (a wrong
			// "dead" would let two processes into one lock).
			return true
		}
		return lk.Type != unix.F_UNLCK
	}
}

// Token layout of a lock word (see mutex.go):
//
//	bit 31      waiters: some process may be asleep on the word
//	bits 16-30  generation of the owner's slot, modulo 2^15
//	bits 0-15   owner's slot + 1 (never 0, so a held word is never 0)
const (
	waitersBit = 1 << 31
	slotMask   = 0xffff
	genMask    = 0x7fff
)

func makeToken(slot int, gen uint32) uint32 {
	return uint32(slot+1) | (gen&genMask)<<16
}

// Alive reports whether the owner named by a lock word's token is still
// attached. A token that names no valid slot (a corrupt word) is dead.
func (r *Region) alive(token uint32) bool {
	s := int(token&slotMask) - 1
	if s < 0 || s >= len(r.slots) {
		return false
	}
	if atomic.LoadUint32(&r.slots[s].gen)&genMask != (token>>16)&genMask {
		return false // the slot was claimed again: its old owner is gone
	}
	return r.slotHeld(s)
}

// Owner describes who holds a lock word, for operators' tools.
type Owner struct {
	Held  bool // the word is held
	Slot  int  // owner's slot
	Pid   int  // owner's pid in its own pid namespace (0 if unknown)
	Alive bool // the owner is still attached
}

// LockOwner describes the current holder of the lock word w without
// changing it.
func (r *Region) LockOwner(w *uint32) Owner {
	v := atomic.LoadUint32(w) &^ waitersBit
	if v == 0 {
		return Owner{}
	}
	o := Owner{Held: true, Slot: int(v&slotMask) - 1}
	if o.Slot >= 0 && o.Slot < len(r.slots) {
		o.Pid = int(atomic.LoadUint32(&r.slots[o.Slot].pid))
	}
	o.Alive = r.alive(v)
	return o
}

// Attached counts the slots whose OFD lock is held: the processes (more
// exactly, open handles) attached to the region now. It makes one system
// call per slot that was ever claimed.
func (r *Region) Attached() int {
	n := 0
	for s := range r.slots {
		if atomic.LoadUint32(&r.slots[s].gen) != 0 && r.slotHeld(s) {
			n++
		}
	}
	return n
}
