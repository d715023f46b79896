package lru

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	_ "unsafe" // for go:linkname
)

// The track clock: the clock of the track table's in-step instant
// (SetInStep, TrackClock), which must be one instant in every process that
// maps the region.
//
// "In step" is a lease of a few seconds: the agent publishes until when its
// last confirmation holds, and every process compares that instant with its
// own reading of the clock. So the clock must read the same in every
// process on the host, and it must never jump: a jump back after the agent
// died would stretch the lease by the jump.
//
//   - CLOCK_MONOTONIC never jumps, but a time namespace offsets it (and
//     CLOCK_BOOTTIME alike): a reader in a container whose monotonic clock
//     is half an hour behind the agent's would serve tracked copies for half
//     an hour after the agent died, and one ahead would never serve them.
//   - CLOCK_REALTIME, the clock of TTLs (nowMillis), is the same in every
//     namespace, but steps. After a step back of X with the agent dead, the
//     last deadline holds X longer; no check of how far ahead a deadline
//     lies can tell, once less than the lease is left, a stale deadline from
//     a fresh one.
//
// So the track clock is the host's CLOCK_MONOTONIC, that of the initial
// time namespace: this process's CLOCK_MONOTONIC minus its namespace's
// monotonic offset, which the kernel shows in /proc/self/timens_offsets.
// The offset is fixed for a process's life: a namespace's offsets can be
// set only before a process enters it, and a process with the Go runtime
// (every process that uses this package or libshmlru.so) is multithreaded,
// which the kernel forbids to enter another time namespace. So it is read
// once. In the initial namespace the offset is 0, and the track clock is
// CLOCK_MONOTONIC as it always was: the region's format is unchanged.
//
// A process that cannot tell its offset (no /proc, or one that called
// unshare(CLONE_NEWTIME) itself, for which the file shows its children's
// namespace rather than its own) never takes the cache for in step, so its
// tracked reads go to the store, and SetInStep refuses in it. A kernel
// without time namespaces has no offsets: 0.

// nanotime is this process's CLOCK_MONOTONIC in nanoseconds (C reads it
// with clock_gettime), unlike time.Now's monotonic reading, which counts
// from the process's start. The runtime keeps this name linkable for the
// many packages that need a fast monotonic clock.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// monoOffset is this process's CLOCK_MONOTONIC minus the host's, read once.
var monoOffset = sync.OnceValues(func() (int64, error) { return readMonoOffset("/proc/self") })

// TrackClock returns the clock that SetInStep's instants are on: the
// host's CLOCK_MONOTONIC (that of the initial time namespace), in
// nanoseconds, one instant in every process on the host whatever its time
// namespace. In a process that cannot tell its namespace's offset (see
// SetInStep) it is its own CLOCK_MONOTONIC.
func TrackClock() int64 {
	off, _ := monoOffset()
	return nanotime() - off
}

// trackNow is TrackClock for the track table's readers: ok is false if this
// process cannot tell the host's clock, and must not take the cache for in
// step.
func trackNow() (now int64, ok bool) {
	off, err := monoOffset()
	return nanotime() - off, err == nil
}

// readMonoOffset reads the monotonic offset of the time namespace of the
// process whose /proc directory is proc.
func readMonoOffset(proc string) (int64, error) {
	const what = "lru: cannot tell this process's CLOCK_MONOTONIC offset from the host's (its time namespace's), which the tracking's in-step instant is measured on, so tracked entries are not served in it"
	own, errOwn := os.Readlink(proc + "/ns/time")
	b, err := os.ReadFile(proc + "/timens_offsets")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && errors.Is(errOwn, fs.ErrNotExist) {
			if _, err := os.Stat(proc + "/ns"); err == nil {
				return 0, nil // a kernel without time namespaces
			}
		}
		return 0, fmt.Errorf("%s: %w (mount /proc)", what, err)
	}
	kids, errKids := os.Readlink(proc + "/ns/time_for_children")
	if errOwn != nil || errKids != nil || own != kids {
		return 0, fmt.Errorf("%s: the process has made a time namespace for its children (%s, %s), and %s/timens_offsets shows theirs; open the cache in a child", what, own, kids, proc)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 3 || (f[0] != "monotonic" && f[0] != "1") { // 1: CLOCK_MONOTONIC
			continue
		}
		sec, err1 := strconv.ParseInt(f[1], 10, 64)
		nsec, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || nsec < 0 || nsec >= 1e9 || sec > 9e9 || sec < -9e9 {
			break
		}
		return sec*1e9 + nsec, nil
	}
	return 0, fmt.Errorf("%s: %s/timens_offsets has no monotonic offset: %q", what, proc, b)
}

// TrackClockOffset returns what code outside Go that reads the track table
// (the C path) subtracts from this process's CLOCK_MONOTONIC to read
// TrackClock, or an error if this process cannot tell: then it must not
// take the cache for in step.
func (v *NativeView) TrackClockOffset() (int64, error) { return monoOffset() }
