package shm

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The futex operations without FUTEX_PRIVATE_FLAG: the word lives in a
// MAP_SHARED file mapping, and private futexes would only wake waiters of the
// same process.
const (
	futexWait = 0 // FUTEX_WAIT
	futexWake = 1 // FUTEX_WAKE
)

// futexWaitTimeout sleeps while *w == val, at most d. It returns on wake,
// on timeout, on a signal, or at once if *w != val; callers re-check.
func futexWaitTimeout(w *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWait, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWakeOne wakes one process sleeping on w.
func futexWakeOne(w *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWake, 1, 0, 0, 0)
}

// futexWakeAll wakes every process sleeping on w.
func futexWakeAll(w *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWake, uintptr(1<<31-1), 0, 0, 0)
}

// Wait sleeps while the word w in the region's data area holds val, at
// most d. It returns when another process wakes the word (Wake), when d
// has passed, on a signal, or at once if *w != val: callers re-check what
// they wait for. It is for waits that are not locks (the read-through
// loads of package lru); locks use Lock.
func Wait(w *uint32, val uint32, d time.Duration) {
	if d <= 0 {
		return
	}
	futexWaitTimeout(w, val, d)
}

// Wake wakes every process sleeping on the word w in Wait.
func Wake(w *uint32) { futexWakeAll(w) }
