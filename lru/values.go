package lru

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/shmlru/shmlru/internal/format"
)

// Values as every language sees them: the type tags, Meta, and the
// encodings of numbers and booleans. A list value's encoding is in
// listvalue.go; wall time, which deadlines are in, in wall.go.

// Type tags a value, so that a number written by one language reads as a
// number in another (as in ngx.shared.DICT).
type Type uint8

// Value types.
const (
	TypeBytes  Type = 0 // an opaque byte string (a Lua string)
	TypeNumber Type = 1 // a float64, stored as 8 bytes in the region's byte order
	TypeBool   Type = 2 // one byte, 0 or 1
	TypeList   Type = 3 // a list of values, see listvalue.go
	// TypeNone is a cached absence: a read-through loader found nothing
	// for the key, and NegativeTTL asked to remember that (load.go). Its
	// value is empty. Get and the other reads answer ErrNotFound for it
	// (ReadOptions.Absent shows it); a write replaces it like any entry.
	TypeNone = format.TypeNone
	numTypes = format.NumTypes
)

// String names the type as shmctl and error messages show it.
func (t Type) String() string {
	switch t {
	case TypeBytes:
		return "bytes"
	case TypeNumber:
		return "number"
	case TypeBool:
		return "bool"
	case TypeList:
		return "list"
	case TypeNone:
		return "none"
	}
	return "invalid"
}

// Meta describes an entry: what GetInto, GetStale and Peek return next to
// the value.
type Meta struct {
	Type    Type
	Flags   uint32 // user flags, as given to the write
	Version uint64 // changes with every write; see CompareAndSwap
	Expires int64  // Unix milliseconds, 0 = never
	Size    int    // the value's length in bytes
}

// TTL is the time left before the entry expires at now: 0 if it never
// expires, positive while it lives, negative once it has expired (an entry
// whose deadline is exactly now has expired: its TTL is -1ns, never the 0
// that means "never").
func (m Meta) TTL(now time.Time) time.Duration {
	if m.Expires == 0 {
		return 0
	}
	// In nanoseconds, so that "left > 0" agrees exactly with the cache's
	// millisecond rule "live while Expires > now in ms".
	left := time.Duration(m.Expires*int64(time.Millisecond) - now.UnixNano())
	if left == 0 {
		return -1
	}
	return left
}

// EncodeNumber returns the stored form of a number value.
func EncodeNumber(f float64) []byte {
	return binary.NativeEndian.AppendUint64(nil, math.Float64bits(f))
}

// DecodeNumber reads a number value; ok is false if b is not 8 bytes.
func DecodeNumber(b []byte) (f float64, ok bool) {
	if len(b) != 8 {
		return 0, false
	}
	return math.Float64frombits(binary.NativeEndian.Uint64(b)), true
}

// EncodeBool returns the stored form of a boolean value.
func EncodeBool(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// DecodeBool reads a boolean value; ok is false if b is not one byte.
func DecodeBool(b []byte) (v, ok bool) {
	if len(b) != 1 {
		return false, false
	}
	return b[0] != 0, true
}

// checkTyped verifies that a value has the shape its type requires.
func checkTyped(t Type, v []byte) error {
	switch t {
	case TypeBytes:
		return nil
	case TypeNumber:
		if len(v) != 8 {
			return ErrBadValue
		}
	case TypeBool:
		if len(v) != 1 || v[0] > 1 {
			return ErrBadValue
		}
	case TypeList:
		if _, err := listLen(v); err != nil {
			return err
		}
	case TypeNone:
		if len(v) != 0 {
			return ErrBadValue
		}
	default:
		return ErrBadValue
	}
	return nil
}
