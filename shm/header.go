package shm

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// The region's on-disk layout. This file is its single definition: the
// header struct below is the header's bytes (see header.bytes), so no offset
// is written down anywhere else, and a change to it is a new Version.
const (
	// Magic opens every region file.
	Magic = "SHMLRU\x00\x01"

	// Version is the layout version this package reads and writes. A region
	// of another version is refused with ErrVersion, never reinterpreted.
	//
	// Version 2 made creation leave its header in the file before the file
	// grows, and gave the state distinct constants and a ready mark, so that
	// neither a foreign file nor a damaged header is ever taken for an
	// interrupted creation and re-created.
	Version = 2

	// HeaderSize is the size of the header page at offset 0.
	HeaderSize = 4096

	// DefaultSlots is how many processes may be attached to a region at
	// once when the creator does not say otherwise.
	DefaultSlots = 1024

	// MaxSlots bounds the slot table: lock words name their owner by its
	// slot + 1 in 16 bits (see slots.go), 0 is an unheld word, and the slot
	// field 0xffff is reserved for an "orphan" lock token, which names no
	// slot.
	MaxSlots = 1<<16 - 2

	// byteOrderMark is written in the creator's native byte order; a reader
	// on a machine of the other byte order sees it reversed.
	byteOrderMark = 0x01020304

	// slotSize is the size of one entry of the slot table (see slot).
	slotSize = 8

	pageSize = 4096
)

// The header's state and ready mark. stateInitialising and stateReady
// differ in every byte, are neither 0 nor 1 (version 1's states), and
// readyMark has no zero byte, so damage to the header does not turn a ready
// region into one that is being created unless it rewrites eight particular
// bytes: a state that is neither constant is refused as damage, and so is a
// header that says "initialising" but carries the ready mark, which only a
// region that was ready once has.
const (
	stateInitialising = 0x74696e69 // "init" in little-endian bytes
	stateReady        = 0x59444552 // "REDY"
	readyMark         = 0x65636e6f // "once"
)

// header is the first page of every region. The field order is the layout:
// never reorder (a change is a new Version). magic, version and byteOrder
// stay at offsets 0, 8 and 12 in every version, so that each version can
// recognise and refuse the others.
type header struct {
	magic     [8]byte // Magic
	version   uint32  // Version
	byteOrder uint32  // byteOrderMark in the creator's byte order
	// state and mark form one 8-byte aligned word, stored at once (see
	// stateWord): (stateInitialising, 0) while the region is being created,
	// (stateReady, readyMark) from the moment it is ready. Nothing else is
	// a region.
	state      uint32
	mark       uint32
	size       uint64 // size of the whole file in bytes, once creation has reserved it
	created    int64  // creation time, Unix nanoseconds (informational)
	slots      uint32 // entries in the slot table
	slotsOff   uint32 // offset of the slot table from the start of the file
	dataOff    uint64 // offset of the data area (page aligned)
	dataSize   uint64 // size of the data area
	headerSize uint32 // HeaderSize
	_          uint32 // zero
}

// slot is one entry of the slot table: a process attached to the region
// holds an OFD lock on the slot's first byte and bumps gen when it claims it.
type slot struct {
	gen uint32 // incremented by each process that claims the slot
	pid uint32 // pid of the claiming process, as seen in its own pid namespace (informational)
}

// Offsets of the header's fields, derived from the struct.
var (
	offState = unsafe.Offsetof(header{}.state)
	offMark  = unsafe.Offsetof(header{}.mark)
)

func init() {
	var h header
	t, fields := reflect.TypeOf(h), uintptr(0)
	for i := range t.NumField() {
		fields += t.Field(i).Type.Size()
	}
	if unsafe.Sizeof(h) != 72 || fields != unsafe.Sizeof(h) || // no hidden padding: the struct's bytes are the header's
		unsafe.Offsetof(h.version) != 8 || unsafe.Offsetof(h.byteOrder) != 12 || // where every version looks
		offState%8 != 0 || offMark != offState+4 || // one word for atomic stores
		unsafe.Sizeof(slot{}) != slotSize {
		panic("shm: header layout changed; bump Version and fix header.go")
	}
}

// bytes returns h's memory, which is its encoding: the struct is the layout
// and a region is in its creator's native byte order (byteOrder checks it),
// so encoding and decoding are copies, and no field's offset is written
// down anywhere but in the struct.
func (h *header) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(h)), unsafe.Sizeof(*h))
}

// stateWord returns the 8-byte word that state and mark make in memory, for
// one atomic store of both. It goes through bytes, so that it is right in
// either byte order.
func stateWord(state, mark uint32) uint64 {
	var b [8]byte
	binary.NativeEndian.PutUint32(b[0:], state)
	binary.NativeEndian.PutUint32(b[4:], mark)
	return binary.NativeEndian.Uint64(b[:])
}

// setReady marks the header live (a header in a mapping) ready, in one
// store, so that no process ever sees ready without the mark or the mark
// without ready.
func setReady(live *header) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&live.state)), stateWord(stateReady, readyMark))
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
// trusts the bytes: every field is checked by check before use.
func decodeHeader(b []byte) (h header, ok bool) {
	if len(b) < int(unsafe.Sizeof(h)) {
		return h, false
	}
	copy(h.bytes(), b)
	return h, true
}

// intentPage returns the header page that a creation writes into the empty
// file before it grows it: the header in state initialising, then zeros.
func (h *header) intentPage() []byte {
	page := make([]byte, HeaderSize)
	copy(page, h.bytes())
	return page
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// What a file is, as check tells it.
type kind int

const (
	kindReady  kind = iota + 1 // a ready region
	kindIntent                 // a creation that this package started and that has not finished
)

// check tells what the header page of a file of fileSize bytes describes.
// It returns an error wrapping ErrNotRegion or ErrVersion that says what is
// wrong and what to do for anything that is neither a ready region nor a
// creation this package provably started (its header page, written before
// the file grew, in state initialising without the ready mark).
func check(page []byte, path string, fileSize int64) (header, kind, error) {
	h, _ := decodeHeader(page)
	if string(h.magic[:]) != Magic {
		if isZero(page) {
			return h, 0, fmt.Errorf("%w: %s starts with %d zero bytes, not a region header; a creation by shmlru writes its header before the file grows, so this is another program's file (choose another path, or remove it if it is stale)", ErrNotRegion, path, HeaderSize)
		}
		return h, 0, fmt.Errorf("%w: %s does not start with the shmlru magic; it is another program's file (choose another path, or remove it if it is stale)", ErrNotRegion, path)
	}
	if h.byteOrder != byteOrderMark {
		return h, 0, fmt.Errorf("%w: %s was created on a machine of the other byte order", ErrVersion, path)
	}
	if h.version != Version {
		return h, 0, fmt.Errorf("%w: %s has layout version %d, this build reads version %d; use the shmlru release that created it, or remove the region and let this one create it anew", ErrVersion, path, h.version, Version)
	}
	var k kind
	switch {
	case h.state == stateReady && h.mark == readyMark:
		k = kindReady
	case h.state == stateInitialising && h.mark == 0:
		k = kindIntent
	case h.state == stateInitialising:
		return h, 0, fmt.Errorf("%w: %s: the header is damaged: it says the region is being created, but its ready mark (%#x) says it was ready once, so it is not created anew (that would lose its entries); nothing was changed: copy the file if its contents matter, then remove it to start afresh", ErrNotRegion, path, h.mark)
	default:
		return h, 0, fmt.Errorf("%w: %s: the header is damaged (state %#x, ready mark %#x): it is neither a region being created nor a ready one; nothing was changed: copy the file if its contents matter, then remove it to start afresh", ErrNotRegion, path, h.state, h.mark)
	}
	if h.headerSize != HeaderSize {
		return h, 0, fmt.Errorf("%w: %s: header size %d, want %d (a damaged header; remove the file to start afresh)", ErrNotRegion, path, h.headerSize, HeaderSize)
	}
	slotsOff, dataOff, dataSize, err := layout(int64(h.size), int(h.slots))
	if err != nil || h.size > 1<<46 || uint64(slotsOff) != uint64(h.slotsOff) || uint64(dataOff) != h.dataOff || uint64(dataSize) != h.dataSize {
		return h, 0, fmt.Errorf("%w: %s: inconsistent geometry in header (size %d, %d slots at %d, data at %d+%d); a damaged header: remove the file to start afresh", ErrNotRegion, path, h.size, h.slots, h.slotsOff, h.dataOff, h.dataSize)
	}
	if k == kindIntent {
		// The file grows from the header page to its size during creation
		// (by fallocate) and never past it; and the page after the header
		// is zeros as written.
		if fileSize < HeaderSize || uint64(fileSize) > h.size || !isZero(page[unsafe.Sizeof(h):]) {
			return h, 0, fmt.Errorf("%w: %s: a header of a region being created for %d bytes, but the file has %d bytes or its header page is not as written; remove it to start afresh", ErrNotRegion, path, h.size, fileSize)
		}
		return h, k, nil
	}
	if h.size != uint64(fileSize) {
		return h, 0, fmt.Errorf("%w: %s: header says %d bytes but the file has %d (truncated or extended by something else); remove it and create it anew", ErrNotRegion, path, h.size, fileSize)
	}
	return h, k, nil
}
