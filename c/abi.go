package main

import (
	"math/bits"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// The structures passed across the ABI, mirrored in shmlru.h and in the Lua
// cdef. The c tags name the C fields; pin_test.go compares offsets and sizes.

// cOptions is shmlru_options.
type cOptions struct {
	Size         uint64   `c:"size"`
	MaxEntries   uint64   `c:"max_entries"`
	MaxValueSize uint64   `c:"max_value_size"`
	Shards       uint32   `c:"shards"`
	ReservedBS   uint32   `c:"reserved_block_size"` // block_size until layout 3; must be 0
	Mode         uint32   `c:"mode"`
	Exact        uint8    `c:"exact"`
	NoCreate     uint8    `c:"no_create"`
	Reserved     [2]uint8 `c:"reserved"`
}

// cMeta is shmlru_meta.
type cMeta struct {
	Version   uint64   `c:"version"`
	ExpiresMs int64    `c:"expires_ms"`
	Flags     uint32   `c:"flags"`
	Type      uint8    `c:"type"`
	Stale     uint8    `c:"stale"`
	Reserved  [2]uint8 `c:"reserved"`
}

// cWriteOpts is shmlru_write_opts.
type cWriteOpts struct {
	TTLMs    int64  `c:"ttl_ms"`
	Version  uint64 `c:"version"`
	Flags    uint32 `c:"flags"`
	Type     uint8  `c:"type"`
	Mode     uint8  `c:"mode"`
	NoEvict  uint8  `c:"no_evict"`
	Reserved uint8  `c:"reserved"`
}

// cWriteResult is shmlru_write_result.
type cWriteResult struct {
	Version  uint64   `c:"version"`
	Forcible uint8    `c:"forcible"`
	Reserved [7]uint8 `c:"reserved"`
}

// cInfo is shmlru_info.
type cInfo struct {
	Size            uint64 `c:"size"`
	Shards          uint64 `c:"shards"`
	UnitSize        uint64 `c:"unit_size"`
	HeapPerShard    uint64 `c:"heap_bytes_per_shard"`
	BucketsPerShard uint64 `c:"buckets_per_shard"`
	MaxEntries      uint64 `c:"max_entries"`
	MaxKey          uint64 `c:"max_key"`
	MaxValue        uint64 `c:"max_value"`
}

// cStats is shmlru_stats.
type cStats struct {
	Hits        uint64 `c:"hits"`
	Misses      uint64 `c:"misses"`
	Sets        uint64 `c:"sets"`
	Deletes     uint64 `c:"deletes"`
	Evictions   uint64 `c:"evictions"`
	Expirations uint64 `c:"expirations"`
	Recoveries  uint64 `c:"recoveries"`
	Resets      uint64 `c:"resets"`
	Entries     uint64 `c:"entries"`
	UsedBytes   uint64 `c:"used_bytes"`
	FreeBytes   uint64 `c:"free_bytes"`
	Capacity    uint64 `c:"capacity"`
}

// cLoad is shmlru_load: the caller's copy of an lru.LoadTicket.
type cLoad struct {
	Hash     uint64 `c:"hash"`
	Flight   uint32 `c:"flight"`
	Seq      uint32 `c:"seq"`
	State    int32  `c:"state"`
	Reserved uint32 `c:"reserved"`
}

// cGuard is shmlru_guard: the caller's copy of an lru.FillTicket.
type cGuard struct {
	Gen   uint32 `c:"gen"`
	Slot  uint32 `c:"slot"`
	Count uint32 `c:"count"`
}

// cLoadOpts is shmlru_load_opts: lru.LoadOptions as a read-through's
// caller gives them.
type cLoadOpts struct {
	TTLMs          int64    `c:"ttl_ms"`
	NegTTLMs       int64    `c:"neg_ttl_ms"`
	StaleTTLMs     int64    `c:"stale_ttl_ms"`
	ResurrectTTLMs int64    `c:"resurrect_ttl_ms"`
	Tracked        uint8    `c:"tracked"`
	Reserved       [7]uint8 `c:"reserved"`
}

// cLook is shmlru_look: what a read-through's look found (lru.Look).
type cLook struct {
	FreshMs  int64  `c:"fresh_ms"`
	State    int32  `c:"state"`
	Reserved uint32 `c:"reserved"`
}

// cAnswer is shmlru_load_answer: what a loader's caller gets (lru.Answer).
type cAnswer struct {
	Version  uint64   `c:"version"`
	FreshMs  int64    `c:"fresh_ms"`
	Source   int32    `c:"source"`
	Kept     uint8    `c:"kept"`
	Reserved [3]uint8 `c:"reserved"`
}

// ABI constants other than status codes.
const (
	// 2: shmlru_info reports units, not blocks (layout 3). 3: read-through
	// loads, SHMLRU_TYPE_NONE, shmlru_changes; later, without a new
	// version (additions only: nothing a program built for 3 uses
	// changed), tracked fills (shmlru_tracked_gen, shmlru_fill_*,
	// SHMLRU_NOT_IN_STEP), the one-call tracked read
	// (shmlru_get_tracked), shmlru_load_store, SHMLRU_UNTRUSTED,
	// SHMLRU_BUSY and the read-through's rules (shmlru_load_check, _look,
	// _prepare, _finish) (CHANGELOG.md).
	abiVersion = 3
	errbufSize = 512 // holds any message shmlru_open writes
)

// abiStructs maps each C struct name to a zero value of its mirror.
var abiStructs = map[string]any{
	"shmlru_options":      cOptions{},
	"shmlru_meta":         cMeta{},
	"shmlru_write_opts":   cWriteOpts{},
	"shmlru_write_result": cWriteResult{},
	"shmlru_info":         cInfo{},
	"shmlru_stats":        cStats{},
	"shmlru_load":         cLoad{},
	"shmlru_guard":        cGuard{},
	"shmlru_load_opts":    cLoadOpts{},
	"shmlru_look":         cLook{},
	"shmlru_load_answer":  cAnswer{},
}

// abiConstants are the named constants of shmlru.h besides status codes.
var abiConstants = map[string]int{
	"SHMLRU_ABI_VERSION":    abiVersion,
	"SHMLRU_MAX_KEY_SIZE":   lru.MaxKeySize,
	"SHMLRU_ERRBUF_SIZE":    errbufSize,
	"SHMLRU_TYPE_BYTES":     int(lru.TypeBytes),
	"SHMLRU_TYPE_NUMBER":    int(lru.TypeNumber),
	"SHMLRU_TYPE_BOOL":      int(lru.TypeBool),
	"SHMLRU_TYPE_LIST":      int(lru.TypeList),
	"SHMLRU_TYPE_NONE":      int(lru.TypeNone),
	"SHMLRU_LOAD_MINE":      int(lru.LoadMine),
	"SHMLRU_LOAD_WAITING":   int(lru.LoadWaiting),
	"SHMLRU_LOAD_DONE":      int(lru.LoadDone),
	"SHMLRU_LOAD_ABSENT":    int(lru.LoadAbsent),
	"SHMLRU_LOAD_FAILED":    int(lru.LoadFailed),
	"SHMLRU_LOAD_ABANDONED": int(lru.LoadAbandoned),
	"SHMLRU_LOAD_MSG_SIZE":  lru.LoadMsgSize,
	"SHMLRU_STALE_FLAG_BIT": bits.TrailingZeros32(lru.StaleFlag),
	"SHMLRU_MODE_SET":       int(lru.ModeSet),
	"SHMLRU_MODE_ADD":       int(lru.ModeAdd),
	"SHMLRU_MODE_REPLACE":   int(lru.ModeReplace),
	"SHMLRU_MODE_CAS":       int(lru.ModeCAS),

	"SHMLRU_DEFAULT_LEASE_MS":   int(lru.DefaultLease / time.Millisecond),
	"SHMLRU_LOOK_MISS":          int(lru.LookMiss),
	"SHMLRU_LOOK_FRESH":         int(lru.LookFresh),
	"SHMLRU_LOOK_ABSENT":        int(lru.LookAbsent),
	"SHMLRU_LOOK_SOFT_STALE":    int(lru.LookSoftStale),
	"SHMLRU_LOOK_EXPIRED":       int(lru.LookExpired),
	"SHMLRU_LOOK_RESURRECTED":   int(lru.LookResurrected),
	"SHMLRU_RESURRECT_FLAG_BIT": bits.TrailingZeros32(lru.ResurrectFlag),
	"SHMLRU_LOADED_VALUE":       int(lru.LoadedValue),
	"SHMLRU_LOADED_ABSENT":      int(lru.LoadedAbsent),
	"SHMLRU_LOADED_FAILED":      int(lru.LoadedFailed),
	"SHMLRU_LOADED_GAVE_UP":     int(lru.LoadedGaveUp),
	"SHMLRU_LOADED_UNCACHED":    int(lru.LoadedUncached),
	"SHMLRU_SOURCE_HIT":         int(lru.SourceHit),
	"SHMLRU_SOURCE_LOADED":      int(lru.SourceLoaded),
	"SHMLRU_SOURCE_WAITED":      int(lru.SourceWaited),
	"SHMLRU_SOURCE_STALE":       int(lru.SourceStale),
	"SHMLRU_SOURCE_RESURRECTED": int(lru.SourceResurrected),
}
