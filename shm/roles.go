package shm

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Roles: a role is a job that one attachment of a region does at a time
// for all the others (package lru's tracking agent is one). It is held the
// way a process slot is (see slots.go): by an OFD lock on one byte of the
// file, here a byte of the data area that the role's owner names. The
// kernel drops the lock when the holder closes the region or dies, however
// it dies, so a role is never left held by no one, and a candidate that
// asks again takes it at once.

// TryLockRole takes the role whose lock covers the byte at off in the data
// area, without waiting. It reports whether this attachment now holds it
// (taking a role it holds already succeeds). The byte's contents do not
// matter and are not changed: an OFD lock is advisory and does not touch
// the mapping.
func (r *Region) TryLockRole(off int) (bool, error) {
	err := r.roleLock(off, unix.F_WRLCK, unix.F_OFD_SETLK)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES):
		return false, nil
	}
	return false, err
}

// UnlockRole gives up the role whose lock covers the byte at off in the
// data area. Giving up a role not held is not an error.
func (r *Region) UnlockRole(off int) error {
	return r.roleLock(off, unix.F_UNLCK, unix.F_OFD_SETLK)
}

// RoleHeld asks the kernel whether any attachment holds the role whose lock
// covers the byte at off in the data area. It is a system call. Only a
// write lock is a role's holder: a read lock there is not (any reader of
// the file can take one; see slots.go).
func (r *Region) RoleHeld(off int) (bool, error) {
	// GETLK tells only of locks that conflict with ours, and our own OFD
	// locks never do: a role we hold reads as free.
	typ, err := lockOn(r.f, r.dataByte(off))
	if err != nil {
		return false, err
	}
	return typ == unix.F_WRLCK, nil
}

// Shares: the reading side of the same lock. A share is an OFD read lock
// on one byte of the data area, which any number of attachments may hold
// at once; holding one says "I still need what this byte stands for" to
// any attachment that asks (Shared) before it reuses it (package lru's
// waiters keep the flight they wait on this way). Like a role, a share is
// dropped by the kernel when its holder closes the region or dies.

// Share takes a share of the byte at off in the data area, without
// waiting. Taking a share this attachment holds already succeeds, and does
// not stack: one Unshare drops it.
func (r *Region) Share(off int) error {
	return r.roleLock(off, unix.F_RDLCK, unix.F_OFD_SETLK)
}

// Unshare drops this attachment's share of the byte at off in the data
// area. Dropping a share not held is not an error.
func (r *Region) Unshare(off int) error {
	return r.roleLock(off, unix.F_UNLCK, unix.F_OFD_SETLK)
}

// Shared asks the kernel whether another attachment holds a share (or a
// role) of the byte at off in the data area; this attachment's own does
// not count. It is a system call. A read lock counts here, unlike for a
// role or a slot: a share is one. A process that can only read the file
// cannot take one, since Open refuses a region that anyone may read
// without writing (trust.go). This library drops its own shares within
// lru's keep bound; a process that may write the region and holds shares
// on purpose keeps flights from reuse as long as it likes, as it can
// stall the region in other ways: write access is trust (the README's
// "Sharing a region with other users").
func (r *Region) Shared(off int) (bool, error) {
	typ, err := lockOn(r.f, r.dataByte(off))
	if err != nil {
		return false, err
	}
	return typ != unix.F_UNLCK, nil
}

func (r *Region) roleLock(off int, typ int16, cmd int) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if off < 0 || off >= len(r.data) {
		return errors.New("shm: role byte outside the data area")
	}
	lk := unix.Flock_t{Type: typ, Start: r.dataByte(off), Len: 1}
	return fcntlLock(r.f, cmd, &lk)
}

// dataByte is the file offset of byte off of the data area.
func (r *Region) dataByte(off int) int64 {
	return int64(uintptr(unsafe.Pointer(&r.data[0]))-uintptr(unsafe.Pointer(&r.m[0]))) + int64(off)
}
