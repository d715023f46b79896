package shm

import "errors"

// Sentinel errors. Every error returned by Open wraps one of these (or an
// *os.PathError from the operating system), so callers can test with errors.Is
// and still print a message that names the file and says what to do.
var (
	// ErrNotRegion means the file exists but is not a shmlru region: a
	// directory, an empty or short file, a foreign file, or a header that
	// disagrees with the file's size. Nothing in the file was changed.
	ErrNotRegion = errors.New("shm: not a shmlru region")

	// ErrVersion means the region was written by another layout version of
	// shmlru (usually a newer one). Nothing in the file was changed.
	ErrVersion = errors.New("shm: region layout version not supported")

	// ErrGeometry means the caller insisted on a geometry (size) that differs
	// from the existing region's.
	ErrGeometry = errors.New("shm: region geometry differs from the one requested")

	// ErrNoSpace means the file system could not reserve the region's size.
	ErrNoSpace = errors.New("shm: no space to reserve the region")

	// ErrNoSlot means every process slot of the region is held by a live
	// process.
	ErrNoSlot = errors.New("shm: all process slots of the region are in use")

	// ErrClosed means the region was already closed.
	ErrClosed = errors.New("shm: region is closed")

	// ErrBadOptions means the options passed to Open are out of range.
	ErrBadOptions = errors.New("shm: invalid options")
)
