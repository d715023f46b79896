package format

import (
	"crypto/sha256"
	"encoding/binary"
	"reflect"
	"sync"

	"github.com/shmlru/shmlru/shm"
)

// FactKind says what a Fact describes.
type FactKind uint8

// Kinds of Fact.
const (
	FactConst  FactKind = iota // a constant: Value is its value
	FactStruct                 // a struct of the layout: Value is its size
	FactField                  // a field of one: Value is its offset from the start of the outermost struct, Size its size
)

// Fact is one number of the cache's layout, for code outside Go that reads
// the region itself: c/layout.h is generated from Facts, so that the C
// library's offsets cannot drift from the structs in structs.go.
type Fact struct {
	Kind FactKind
	// Name is the Go name: "LayoutVersion", "shm.Version"; for a struct
	// its type's name ("Entry"); for a field its path from the outermost
	// struct ("ShardHeader.Stats.Sets").
	Name  string
	Value uint64
	Size  uint64 // a field's size in bytes; 0 for the other kinds
	Doc   string // what a constant is; empty for structs and fields, whose docs are in structs.go
}

// Facts returns the layout of the data area, the value types, the read
// protocol's constants, and the parts of package shm's layout that code
// touching the region directly needs (its Version and the lock word's token
// encoding). Every field of the region's structs that C reads is listed,
// nested ones too, in declaration order; padding is not.
func Facts() []Fact {
	tok := shm.TokenLayout()
	facts := []Fact{
		{Kind: FactConst, Name: "LayoutVersion", Value: LayoutVersion, Doc: "version of the cache layout in the data area (CacheHeader.Version)"},
		{Kind: FactConst, Name: "CacheHeaderSize", Value: CacheHeaderSize, Doc: "bytes reserved for the cache header at the start of the data area; shard 0 follows"},
		{Kind: FactConst, Name: "ShardHeaderSize", Value: ShardHeaderSize, Doc: "bytes reserved for a shard's header; its buckets follow at CacheHeader.BucketsOff"},
		{Kind: FactConst, Name: "UnitSize", Value: UnitSize, Doc: "bytes of a heap unit; entry indexes count units from the start of a shard's heap"},
		{Kind: FactConst, Name: "EntryHeaderSize", Value: EntryHeaderSize, Doc: "bytes of the entry header; an EntryExt follows if Info has InfoExt, then the key, then the value"},
		{Kind: FactConst, Name: "EntryExtSize", Value: EntryExtSize, Doc: "bytes of the entry extension (user flags, chain link)"},
		{Kind: FactConst, Name: "PieceHeaderSize", Value: PieceHeaderSize, Doc: "bytes of the header of a chained entry's second and later pieces"},
		{Kind: FactConst, Name: "InfoExpiresMask", Value: InfoExpiresMask, Doc: "Entry.Info & this: the deadline, Unix ms, 0 = never"},
		{Kind: FactConst, Name: "InfoKlenShift", Value: InfoKlenShift, Doc: "(Entry.Info >> this) & 0xffff: the key length"},
		{Kind: FactConst, Name: "InfoTypShift", Value: InfoTypShift, Doc: "(Entry.Info >> this) & InfoTypMask: the value type"},
		{Kind: FactConst, Name: "InfoTypMask", Value: InfoTypMask, Doc: "see InfoTypShift"},
		{Kind: FactConst, Name: "InfoExt", Value: InfoExt, Doc: "Entry.Info bit: an EntryExt follows the header"},
		{Kind: FactConst, Name: "TrackTableHeaderSize", Value: TrackTableHeaderSize, Doc: "bytes of the track table's header (at CacheHeader.TrackOff); CacheHeader.TrackCounts uint32 invalidation counts follow"},
		{Kind: FactConst, Name: "MaxKeySize", Value: MaxKeySize, Doc: "largest key of any cache; the key length in Entry.Info is 16 bits"},
		{Kind: FactConst, Name: "MaxShards", Value: MaxShards, Doc: "most shards a cache has"},
		{Kind: FactConst, Name: "TypeBytes", Value: TypeBytes, Doc: "value type of an opaque byte string"},
		{Kind: FactConst, Name: "TypeNumber", Value: TypeNumber, Doc: "value type of a float64, 8 bytes in native byte order"},
		{Kind: FactConst, Name: "TypeBool", Value: TypeBool, Doc: "value type of a boolean, one byte 0 or 1"},
		{Kind: FactConst, Name: "TypeList", Value: TypeList, Doc: "value type of a list (lru/listvalue.go)"},
		{Kind: FactConst, Name: "TypeNone", Value: TypeNone, Doc: "value type of a cached absence (read-through negative caching); the value is empty"},
		{Kind: FactConst, Name: "NumTypes", Value: NumTypes, Doc: "a value type at or above this is corrupt"},
		{Kind: FactConst, Name: "shm.Version", Value: shm.Version, Doc: "version of the region's own layout (header page, slot table)"},
		{Kind: FactConst, Name: "shm.WaitersBit", Value: uint64(tok.WaitersBit), Doc: "lock word: a process may sleep on it; whoever clears the word must wake one (FUTEX_WAKE, shared)"},
		{Kind: FactConst, Name: "shm.SlotMask", Value: uint64(tok.SlotMask), Doc: "lock word: owner's slot + 1; 0 in an unheld word"},
		{Kind: FactConst, Name: "shm.GenShift", Value: uint64(tok.GenShift), Doc: "lock word: (word >> shm.GenShift) & shm.GenMask is the generation of the owner's slot"},
		{Kind: FactConst, Name: "shm.GenMask", Value: uint64(tok.GenMask), Doc: "lock word: see shm.GenShift"},
		{Kind: FactConst, Name: "shm.OwnerCheckInterval", Value: uint64(shm.OwnerCheckInterval), Doc: "ns a waiter sleeps on a lock word before it asks whether the owner is still alive"},
		{Kind: FactConst, Name: "UnlockedTries", Value: UnlockedTries, Doc: "times a read tries without the lock (two loads of ShardHeader.Seq around its copy) before it takes the lock"},
		{Kind: FactConst, Name: "ReadCountersSize", Value: ReadCountersSize, Doc: "bytes of one lane of the read counter table"},
		{Kind: FactConst, Name: "StripeShift", Value: StripeShift, Doc: "a key's stripe within its shard is (hash >> this) & (CacheHeader.Stripes - 1) (format.StripeOf)"},
		{Kind: FactConst, Name: "MaxStripes", Value: MaxStripes, Doc: "most invalidation stripes a shard has"},
		{Kind: FactConst, Name: "shm.OrphanToken", Value: uint64(tok.OrphanToken), Doc: "lock word held by no one alive: the next Lock takes it over and repairs"},
	}
	// Offsets come from reflect, whose StructField.Offset is what
	// unsafe.Offsetof gives; walking the fields lists every one, so a field
	// added to a struct cannot be left out of the C header.
	for _, v := range []any{CacheHeader{}, ShardHeader{}, Entry{}, EntryExt{}, PieceHeader{}, TrackTable{}, ReadCounters{}} {
		t := reflect.TypeOf(v)
		facts = append(facts, Fact{Kind: FactStruct, Name: t.Name(), Value: uint64(t.Size())})
		facts = appendFields(facts, t.Name(), t, 0)
	}
	return facts
}

// appendFields appends a fact for each named field of struct t, which
// starts base bytes into the outermost struct, and for the fields of any
// struct among them.
func appendFields(facts []Fact, path string, t reflect.Type, base uintptr) []Fact {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		name := path + "." + f.Name
		facts = append(facts, Fact{Kind: FactField, Name: name, Value: uint64(base + f.Offset), Size: uint64(f.Type.Size())})
		if f.Type.Kind() == reflect.Struct {
			facts = appendFields(facts, name, f.Type, base+f.Offset)
		}
	}
	return facts
}

// Fingerprint is a hash of every fact (its kind, name, value and size, in
// order; not its doc): every number the C library compiles in from
// c/layout.h, the layout version among them. layout.h carries the
// fingerprint of the facts it was generated from (SHMLRU_L_FINGERPRINT),
// and the library compares it with this one before it lets its C code
// touch a region: a layout.h older than the Go it is built with changes at
// least one fact, so the C path is refused rather than run on old offsets.
var Fingerprint = sync.OnceValue(func() uint64 { return FingerprintOf(Facts()) })

// FingerprintOf is the fingerprint of facts (see Fingerprint).
func FingerprintOf(facts []Fact) uint64 {
	h := sha256.New()
	var n [8]byte
	for _, f := range facts {
		h.Write([]byte{byte(f.Kind)})
		binary.LittleEndian.PutUint64(n[:], uint64(len(f.Name)))
		h.Write(n[:])
		h.Write([]byte(f.Name))
		binary.LittleEndian.PutUint64(n[:], f.Value)
		h.Write(n[:])
		binary.LittleEndian.PutUint64(n[:], f.Size)
		h.Write(n[:])
	}
	return binary.LittleEndian.Uint64(h.Sum(nil))
}
