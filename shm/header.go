package shm

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// The region's on-disk layout. This file is its single definition: the
// offsets below are what every process that maps a region relies on, so a
// change to any of them is a new Version.
const (
	// Magic opens every region file.
	Magic = "SHMLRU\x00\x01"

	// Version is the layout version this package reads and writes. A region
	// of another version is refused with ErrVersion, never reinterpreted.
	Version = 1

	// HeaderSize is the size of the header page at offset 0.
	HeaderSize = 4096

	// DefaultSlots is how many processes may be attached to a region at
	// once when the creator does not say otherwise.
	DefaultSlots = 1024

	// MaxSlots bounds the slot table: lock words name their owner's slot in
	// 16 bits (see mutex.go).
	MaxSlots = 1<<16 - 1

	// byteOrderMark is written in the creator's native byte order; a reader
	// on a machine of the other byte order sees it reversed.
	byteOrderMark = 0x01020304

	// slotSize is the size of one entry of the slot table (see slot).
	slotSize = 8

	pageSize = 4096

	stateInitialising = 0
	stateReady        = 1
)

// header is the first page of every region. The field order is the layout:
// never reorder, only append before the end of the page (and bump Version if
// old readers would misread the result).
type header struct {
	magic      [8]byte // Magic
	version    uint32  // Version
	byteOrder  uint32  // byteOrderMark in the creator's byte order
	state      uint32  // stateInitialising or stateReady; written last, atomically
	headerSize uint32  // HeaderSize
	size       uint64  // size of the whole file in bytes
	created    int64   // creation time, Unix nanoseconds
	slots      uint32  // entries in the slot table
	slotsOff   uint32  // offset of the slot table from the start of the file
	dataOff    uint64  // offset of the data area (page aligned)
	dataSize   uint64  // size of the data area
}

// slot is one entry of the slot table: a process attached to the region
// holds an OFD lock on the slot's first byte and bumps gen when it claims it.
type slot struct {
	gen uint32 // incremented by each process that claims the slot
	pid uint32 // pid of the claiming process, as seen in its own pid namespace (informational)
}

// Offsets of the header's fields, derived from the struct so that they are
// written down once. The assertions in init fail the build's tests if the
// compiler ever lays the struct out differently from the documented offsets.
var (
	offState = unsafe.Offsetof(header{}.state)
)

func init() {
	if unsafe.Sizeof(header{}) != 64 || offState != 16 || unsafe.Sizeof(slot{}) != slotSize {
		panic("shm: header layout changed; bump Version and fix header.go")
	}
}

// layout computes where the slot table and the data area go in a file of
// size bytes with the given number of slots.
func layout(size int64, slots int) (slotsOff, dataOff, dataSize int64, err error) {
	if slots < 1 || slots > MaxSlots {
		return 0, 0, 0, fmt.Errorf("%w: %d process slots; use 1 to %d", ErrBadOptions, slots, MaxSlots)
	}
	slotsOff = HeaderSize
	dataOff = alignUp(slotsOff+int64(slots)*slotSize, pageSize)
	if size < dataOff+pageSize {
		return 0, 0, 0, fmt.Errorf("%w: size %d is too small; a region needs at least %d bytes", ErrBadOptions, size, dataOff+pageSize)
	}
	return slotsOff, dataOff, size - dataOff, nil
}

// DataSize returns the size of the data area that a region of size bytes
// with the given number of process slots (0 = DefaultSlots) has, or 0 if
// such a region is impossible. Callers use it to plan their layout before
// the region exists.
func DataSize(size int64, slots int) int64 {
	if slots == 0 {
		slots = DefaultSlots
	}
	_, _, dataSize, err := layout(size, slots)
	if err != nil {
		return 0
	}
	return dataSize
}

func alignUp(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }

// decodeHeader reads a header from the first bytes of a file. It never
// trusts the bytes: every field is checked by validate before use.
func decodeHeader(b []byte) (h header, ok bool) {
	if len(b) < int(unsafe.Sizeof(header{})) {
		return h, false
	}
	e := binary.NativeEndian
	copy(h.magic[:], b[0:8])
	h.version = e.Uint32(b[8:])
	h.byteOrder = e.Uint32(b[12:])
	h.state = e.Uint32(b[16:])
	h.headerSize = e.Uint32(b[20:])
	h.size = e.Uint64(b[24:])
	h.created = int64(e.Uint64(b[32:]))
	h.slots = e.Uint32(b[40:])
	h.slotsOff = e.Uint32(b[44:])
	h.dataOff = e.Uint64(b[48:])
	h.dataSize = e.Uint64(b[56:])
	return h, true
}

// isZero reports whether b holds only zero bytes: the header page of a file
// whose creator died before writing anything.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// validate checks a header read from a file of fileSize bytes. It returns an
// error wrapping ErrNotRegion or ErrVersion that says what is wrong and what
// to do; it does not look at the state (callers decide what an unfinished
// region means to them).
func (h *header) validate(path string, fileSize int64) error {
	if string(h.magic[:]) != Magic {
		return fmt.Errorf("%w: %s does not start with the shmlru magic; it is another program's file (choose another path, or remove it if it is stale)", ErrNotRegion, path)
	}
	if h.byteOrder != byteOrderMark {
		return fmt.Errorf("%w: %s was created on a machine of the other byte order", ErrVersion, path)
	}
	if h.version != Version {
		return fmt.Errorf("%w: %s has layout version %d, this build reads version %d; use the shmlru release that created it, or remove the region and let this one create it anew", ErrVersion, path, h.version, Version)
	}
	if h.headerSize != HeaderSize {
		return fmt.Errorf("%w: %s: header size %d, want %d", ErrNotRegion, path, h.headerSize, HeaderSize)
	}
	if h.size != uint64(fileSize) {
		return fmt.Errorf("%w: %s: header says %d bytes but the file has %d (truncated or extended by something else); remove it and create it anew", ErrNotRegion, path, h.size, fileSize)
	}
	slotsOff, dataOff, dataSize, err := layout(int64(h.size), int(h.slots))
	if err != nil || h.size > 1<<46 || uint64(slotsOff) != uint64(h.slotsOff) || uint64(dataOff) != h.dataOff || uint64(dataSize) != h.dataSize {
		return fmt.Errorf("%w: %s: inconsistent geometry in header (size %d, %d slots at %d, data at %d+%d)", ErrNotRegion, path, h.size, h.slots, h.slotsOff, h.dataOff, h.dataSize)
	}
	return nil
}
