package lru

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/shm"
)

// Reads without the lock: a seqlock reader over the shard (see
// shardHeader.seq and docs/protocol.md). A read loads the shard's change
// sequence, looks its key up and copies the value with no lock held, then
// loads the sequence again: if both loads gave the same even number, no
// change was under way or made in between, and the copy is the value as it
// was at that instant. Otherwise the copy is dropped and the read tried
// again, and after a few tries it takes the lock like any other operation,
// which also waits for a live writer, or takes over from a dead one and
// repairs, so that a reader never waits without bound on a sequence left
// odd.
//
// What a reader loads from the region may be torn by a concurrent writer,
// so every index and length is loaded once, into a local, checked, and only
// the local used: a torn value can make the look-up give up or fail the
// check at the end, never read outside the shard or loop. An inconsistency
// found under a sequence that did not move is real corruption, which the
// locking path finds again and repairs.

// unlockedTries is how many times a read tries without the lock before it
// takes it; spinsPerTry is how long it waits for an odd sequence to become
// even before it counts a try. A writer holds the sequence odd for well
// under a microsecond.
const (
	unlockedTries = format.UnlockedTries
	spinsPerTry   = 64
)

// snapshot is what a reader copied of an entry header, checked.
type snapshot struct {
	u     uint32
	vlen  int
	info  entryInfo
	ver   uint64
	flags uint32
	voff  uintptr // the value, in bytes from unit 0 of the heap
}

// entryInfo is an entry's packed info word (format.Entry.Info), as a value.
type entryInfo uint64

func (i entryInfo) expires() int64 { return int64(i & infoExpiresMask) }
func (i entryInfo) klen() int      { return int(i >> infoKlenShift & 0xffff) }
func (i entryInfo) typ() Type      { return Type(i >> infoTypShift & infoTypMask) }
func (i entryInfo) hasExt() bool   { return i&infoExt != 0 }

// seekResult says how seek ended.
type seekResult uint8

const (
	seekFound  seekResult = iota
	seekAbsent            // no entry holds the key
	seekGiveUp            // torn, corrupt, or stored in pieces: not decidable without the lock
)

// seek looks key (hash h) up without the lock, copying what it reads of
// each header once.
func (s *shard) seek(key []byte, h uint64) (sn snapshot, r seekResult) {
	heapBytes := uint64(s.g.nunits) * unitSize
	u := atomic.LoadUint32(&s.buckets[s.g.bucketOf(h)])
	for n := 0; u != 0; n++ {
		if n > s.g.maxEntries || uint64(u)*unitSize+entryHeaderSize > heapBytes {
			return sn, seekGiveUp
		}
		e := *(*entry)(unsafe.Add(s.base, uintptr(u)*unitSize))
		info := entryInfo(e.Info)
		if klen := info.klen(); klen == len(key) {
			off := uint64(u)*unitSize + entryHeaderSize
			var flags uint32
			if info.hasExt() {
				if off+entryExtSize > heapBytes {
					return sn, seekGiveUp
				}
				x := *(*entryExt)(unsafe.Add(s.base, uintptr(off)))
				if x.More != 0 {
					return sn, seekGiveUp // in pieces: the locking path walks them
				}
				flags = x.Flags
				off += entryExtSize
			}
			vlen := uint64(e.Vlen)
			if info.typ() >= numTypes || vlen > uint64(s.g.maxValue) || off+uint64(klen)+vlen > heapBytes {
				return sn, seekGiveUp
			}
			if bytes.Equal(unsafe.Slice((*byte)(unsafe.Add(s.base, uintptr(off))), klen), key) {
				return snapshot{u: u, vlen: int(vlen), info: info, ver: e.Version, flags: flags, voff: uintptr(off) + uintptr(klen)}, seekFound
			}
		}
		u = e.Hnext
	}
	return sn, seekAbsent
}

// readUnlocked is Read for a plain lookup (o without Peek, tracked,
// metaOnly) without the shard's lock, and without its mu either: a writer
// goroutine of this process that waits for the region lock holds mu, and
// a read needs nothing it holds. ok is false when it could not decide
// without the lock: the caller then reads under it.
func (s *shard) readUnlocked(dst, key []byte, h uint64, o ReadOptions) (out []byte, m Meta, stale bool, err error, ok bool) {
	if err := s.enterUnlocked(); err != nil {
		return dst, Meta{}, false, err, true
	}
	defer s.exitUnlocked(&err, &ok, debug.SetPanicOnFault(true))
	var wall lazyNow
	for try := 0; try < unlockedTries; try++ {
		seq := atomic.LoadUint64(&s.h.Seq)
		for spin := 0; seq&1 != 0 && spin < spinsPerTry; spin++ {
			runtime.Gosched()
			seq = atomic.LoadUint64(&s.h.Seq)
		}
		if seq&1 != 0 {
			continue
		}
		sn, r := s.seek(key, h)
		switch r {
		case seekGiveUp:
			if s.moved(seq) {
				continue
			}
			return dst, Meta{}, false, nil, false // corruption: the locking path repairs
		case seekAbsent:
			if s.moved(seq) {
				continue
			}
			s.countMiss()
			return dst, Meta{}, false, ErrNotFound, true
		}
		out, m, stale, err = s.judge(dst, &sn, &wall, o)
		if s.moved(seq) {
			continue
		}
		switch err {
		case nil:
			s.countHit()
			s.markRef(sn.u)
		case ErrNotFound:
			s.countMiss()
		}
		return out, m, stale, err, true
	}
	return dst, Meta{}, false, nil, false
}

// enterUnlocked counts a lock-free read in, so that Close waits for it
// before the mapping goes, and refuses one on a closed or broken cache.
// The count is announced before the flags are checked, and Close sets
// closed before it reads the count (both sequentially consistent), so one
// of the two always sees the other.
func (s *shard) enterUnlocked() error {
	s.readers.Add(1)
	if s.c.closed.Load() {
		s.readers.Add(-1)
		return ErrClosed
	}
	if p := s.c.broken.Load(); p != nil {
		s.readers.Add(-1)
		return *p
	}
	return nil
}

// exitUnlocked ends a lock-free read; it must be called directly by defer.
// A fault on the mapping (the file truncated underneath) breaks the cache,
// as under the lock (shardlock.go); a fault elsewhere is the caller's buffer
// (ErrFault). A read holds no lock and changes nothing, so there is
// nothing to repair either way.
func (s *shard) exitUnlocked(err *error, ok *bool, prevFault bool) {
	p := recover()
	debug.SetPanicOnFault(prevFault)
	s.readers.Add(-1)
	if p == nil {
		return
	}
	*ok = true
	if addr, fault := shm.FaultAddr(p); fault && s.c.r.Contains(addr) {
		e := s.c.r.Shrank(addr)
		s.c.broken.CompareAndSwap(nil, &e)
		*err = *s.c.broken.Load()
		s.c.retireBroken()
		return
	}
	if shm.IsMemoryFault(p) {
		*err = fmt.Errorf("%w (%v); nothing was read", ErrFault, p)
		return
	}
	panic(p)
}

// judge decides what a read of the entry sn found returns, as Read does
// under the lock, and copies the value.
func (s *shard) judge(dst []byte, sn *snapshot, wall *lazyNow, o ReadOptions) (out []byte, m Meta, stale bool, err error) {
	if x := sn.info.expires(); x != 0 && x <= wall.get() {
		if !o.Stale {
			return dst, m, false, ErrNotFound
		}
		stale = true
	}
	if sn.info.typ() == TypeNone && !o.Absent {
		return dst, m, false, ErrNotFound
	}
	m = Meta{Type: sn.info.typ(), Flags: sn.flags, Version: sn.ver, Expires: sn.info.expires(), Size: sn.vlen}
	if o.Fit && sn.vlen > cap(dst)-len(dst) {
		return dst, m, stale, ErrBufferTooSmall
	}
	return append(dst, unsafe.Slice((*byte)(unsafe.Add(s.base, sn.voff)), sn.vlen)...), m, stale, nil
}

// moved reports whether the shard's sequence is no longer seq: a change
// began or ended since the reader loaded seq, and what it copied may be
// torn. The fence keeps the copy's loads before the sequence's.
func (s *shard) moved(seq uint64) bool {
	loadFence(&s.fence)
	return atomic.LoadUint64(&s.h.Seq) != seq
}
