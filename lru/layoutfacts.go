package lru

import (
	"reflect"

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
// the region itself: c/layout.h is generated from LayoutFacts, so that the
// C library's offsets cannot drift from the structs in layout.go.
type Fact struct {
	Kind FactKind
	// Name is the Go name: "LayoutVersion", "shm.Version"; for a struct
	// its type's name ("entry"); for a field its path from the outermost
	// struct ("shardHeader.stats.Sets").
	Name  string
	Value uint64
	Size  uint64 // a field's size in bytes; 0 for the other kinds
	Doc   string // what a constant is; empty for structs and fields, whose docs are in layout.go
}

// LayoutFacts returns the layout of the data area (layout.go), the value
// types, and the parts of package shm's layout that code touching the
// region directly needs (its Version and the lock word's token encoding).
// Every field of the region's structs is listed, nested ones too, in
// declaration order; padding is not.
//
// It is meant for generators (see c/gen), not for applications.
func LayoutFacts() []Fact {
	tok := shm.TokenLayout()
	facts := []Fact{
		{Kind: FactConst, Name: "LayoutVersion", Value: LayoutVersion, Doc: "version of the cache layout in the data area (cacheHeader.version)"},
		{Kind: FactConst, Name: "cacheHeaderSize", Value: cacheHeaderSize, Doc: "bytes reserved for the cache header at the start of the data area; shard 0 follows"},
		{Kind: FactConst, Name: "shardHeaderSize", Value: shardHeaderSize, Doc: "bytes reserved for a shard's header; its buckets follow at cacheHeader.bucketsOff"},
		{Kind: FactConst, Name: "unitSize", Value: unitSize, Doc: "bytes of a heap unit; entry indexes count units from the start of a shard's heap"},
		{Kind: FactConst, Name: "entryHeaderSize", Value: entryHeaderSize, Doc: "bytes of the entry header; an entryExt follows if info has infoExt, then the key, then the value"},
		{Kind: FactConst, Name: "entryExtSize", Value: entryExtSize, Doc: "bytes of the entry extension (user flags, chain link)"},
		{Kind: FactConst, Name: "pieceHeaderSize", Value: pieceHeaderSize, Doc: "bytes of the header of a chained entry's second and later pieces"},
		{Kind: FactConst, Name: "infoExpiresMask", Value: infoExpiresMask, Doc: "entry.info & this: the deadline, Unix ms, 0 = never"},
		{Kind: FactConst, Name: "infoKlenShift", Value: infoKlenShift, Doc: "(entry.info >> this) & 0xffff: the key length"},
		{Kind: FactConst, Name: "infoTypShift", Value: infoTypShift, Doc: "(entry.info >> this) & infoTypMask: the value type"},
		{Kind: FactConst, Name: "infoTypMask", Value: infoTypMask, Doc: "see infoTypShift"},
		{Kind: FactConst, Name: "infoExt", Value: infoExt, Doc: "entry.info bit: an entryExt follows the header"},
		{Kind: FactConst, Name: "trackTableHeaderSize", Value: trackTableHeaderSize, Doc: "bytes of the track table's header (at cacheHeader.trackOff); cacheHeader.guards uint32 guard words follow"},
		{Kind: FactConst, Name: "MaxKeySize", Value: MaxKeySize, Doc: "largest key of any cache; entry.klen is 16 bits"},
		{Kind: FactConst, Name: "MaxShards", Value: MaxShards, Doc: "most shards a cache has"},
		{Kind: FactConst, Name: "TypeBytes", Value: uint64(TypeBytes), Doc: "entry.typ of an opaque byte string"},
		{Kind: FactConst, Name: "TypeNumber", Value: uint64(TypeNumber), Doc: "entry.typ of a float64, 8 bytes in native byte order"},
		{Kind: FactConst, Name: "TypeBool", Value: uint64(TypeBool), Doc: "entry.typ of a boolean, one byte 0 or 1"},
		{Kind: FactConst, Name: "TypeList", Value: uint64(TypeList), Doc: "entry.typ of a list (lru/list.go)"},
		{Kind: FactConst, Name: "TypeNone", Value: uint64(TypeNone), Doc: "entry.typ of a cached absence (read-through negative caching); the value is empty"},
		{Kind: FactConst, Name: "numTypes", Value: numTypes, Doc: "entry.typ at or above this is corrupt"},
		{Kind: FactConst, Name: "shm.Version", Value: shm.Version, Doc: "version of the region's own layout (header page, slot table)"},
		{Kind: FactConst, Name: "shm.WaitersBit", Value: uint64(tok.WaitersBit), Doc: "lock word: a process may sleep on it; whoever clears the word must wake one (FUTEX_WAKE, shared)"},
		{Kind: FactConst, Name: "shm.SlotMask", Value: uint64(tok.SlotMask), Doc: "lock word: owner's slot + 1; 0 in an unheld word"},
		{Kind: FactConst, Name: "shm.GenShift", Value: uint64(tok.GenShift), Doc: "lock word: (word >> shm.GenShift) & shm.GenMask is the generation of the owner's slot"},
		{Kind: FactConst, Name: "shm.GenMask", Value: uint64(tok.GenMask), Doc: "lock word: see shm.GenShift"},
		{Kind: FactConst, Name: "shm.OwnerCheckInterval", Value: uint64(shm.OwnerCheckInterval), Doc: "ns a waiter sleeps on a lock word before it asks whether the owner is still alive"},
		{Kind: FactConst, Name: "unlockedTries", Value: unlockedTries, Doc: "times a read tries without the lock (two loads of shardHeader.seq around its copy) before it takes the lock"},
		{Kind: FactConst, Name: "readCountersSize", Value: readCountersSize, Doc: "bytes of one lane of the read counter table"},
		{Kind: FactConst, Name: "shm.OrphanToken", Value: uint64(tok.OrphanToken), Doc: "lock word held by no one alive: the next Lock takes it over and repairs"},
	}
	// Offsets come from reflect, whose StructField.Offset is what
	// unsafe.Offsetof gives; walking the fields lists every one, so a field
	// added to a struct cannot be left out of the C header.
	for _, v := range []any{cacheHeader{}, shardHeader{}, entry{}, entryExt{}, pieceHeader{}, trackTable{}, readCounters{}} {
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
