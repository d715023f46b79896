package shm

import "errors"

// Sentinel errors. They are the one vocabulary for everything about the
// region itself: package lru re-exports each of them under the same name
// (lru.ErrClosed is shm.ErrClosed), so a caller tests errors.Is against
// either package and gets the same answer. Every error returned by Open wraps
// one of these (or an *os.PathError from the operating system) and carries a
// message that names the file and says what to do.
var (
	// ErrNotRegion means the file exists but is not a shmlru region: a
	// directory, a short file, a foreign file (one whose first page is
	// zero included), a damaged header, or a header that disagrees with
	// the file's size. Nothing in the file was changed.
	ErrNotRegion = errors.New("shmlru: not a shmlru region")

	// ErrVersion means the region was written by another layout version of
	// shmlru (usually a newer one), or on a machine of the other byte order.
	// Nothing in the file was changed.
	ErrVersion = errors.New("shmlru: region layout version not supported")

	// ErrGeometry means the caller insisted (Options.Exact) on a geometry
	// that differs from the existing region's.
	ErrGeometry = errors.New("shmlru: region geometry differs from the one requested")

	// ErrNoSpace means the file system could not reserve the region's size.
	ErrNoSpace = errors.New("shmlru: no space to reserve the region")

	// ErrNoSlot means every process slot of the region is held by a live
	// process.
	ErrNoSlot = errors.New("shmlru: all process slots of the region are in use")

	// ErrClosed means the region (or the cache over it) was already closed.
	ErrClosed = errors.New("shmlru: closed")

	// ErrBadOptions means the options passed to Open are out of range; the
	// message says which.
	ErrBadOptions = errors.New("shmlru: invalid options")

	// ErrUntrusted means the file at the region's path is not one Open
	// adopts: a symbolic link, a file with more than one name that someone
	// else could have given it, a file with a POSIX access ACL, a file
	// owned by a user the caller does not trust (see Options.TrustUIDs),
	// or one that others can write beyond what the caller's Mode shares
	// (see trust.go). The message names the owner and the mode and says
	// how to share a region on purpose. Nothing in the file was read or
	// changed.
	ErrUntrusted = errors.New("shmlru: region file not trusted")

	// ErrBusy means the region is not ready and another process held its
	// creation lock for longer than Open waits (CreateWait). The message
	// names the holder when the system tells it.
	ErrBusy = errors.New("shmlru: region is being created by another process")

	// ErrCorrupt means the region's contents are inconsistent, or its file
	// shrank underneath the mapping (truncated by another program). The
	// message says which, and what was done about it.
	ErrCorrupt = errors.New("shmlru: region is corrupt")
)
