package lru

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/shmlru/shmlru/shm"
)

// Problem is one inconsistency found by Check.
type Problem struct {
	Shard int
	Msg   string
}

// String formats the problem as "shard N: message", as shmctl check prints it.
func (p Problem) String() string { return fmt.Sprintf("shard %d: %s", p.Shard, p.Msg) }

// maxProblemsPerShard keeps a thoroughly corrupt shard from flooding the
// report: after this many, the walk of that shard stops.
const maxProblemsPerShard = 20

// Check walks every structure of every shard (the LRU queue, each entry's
// storage, the bucket chains, the free lists and bitmap, and the counts) and reports
// each inconsistency it finds. It changes nothing: a corrupt shard is
// reported, not reset, and a lock whose owner died is reported with what
// that owner left, not taken over for good (Repair does that). It returns
// an error only when it cannot run (a closed cache, a mapping that faulted).
func (c *Cache) Check() ([]Problem, error) {
	var all []Problem
	for si := range c.shards {
		s := &c.shards[si]
		var ps []Problem
		err := s.checkObserved(&ps)
		if err != nil {
			return all, err
		}
		all = append(all, ps...)
	}
	return all, nil
}

// checkObserved checks the shard as an observer. A dead owner's lock is
// reported first; its dirty mark is then reported by the walk.
func (s *shard) checkObserved(ps *[]Problem) error {
	return s.withLock(lockObserve|lockAskOwner, func() error {
		if s.orphaned {
			*ps = append(*ps, Problem{s.idx, "lock held by " + deadOwner(s.heldBy) + ", which died; not repaired (Repair, or `shmctl check --repair`, does)"})
		}
		*ps = append(*ps, s.check()...)
		return nil
	})
}

// deadOwner names the dead process that a lock was found held by.
func deadOwner(o shm.Owner) string {
	switch {
	case o.Orphan && o.Pid != 0:
		return fmt.Sprintf("pid %d (found dead earlier by an observer)", o.Pid)
	case o.Orphan:
		return "a process found dead earlier by an observer"
	case o.Pid != 0:
		return fmt.Sprintf("pid %d (slot %d)", o.Pid, o.Slot)
	}
	return "a process"
}

// checker holds the state of one shard's walk.
type checker struct {
	s        *shard
	problems []Problem
	used     bitset // units owned by an entry
	free     bitset // units in a free run on a list
	isEntry  bitset // units that start an entry on the LRU queue
	inChain  bitset // entries reached through a bucket chain
}

type stopCheck struct{}

func (k *checker) report(format string, args ...any) {
	k.problems = append(k.problems, Problem{k.s.idx, fmt.Sprintf(format, args...)})
	if len(k.problems) >= maxProblemsPerShard {
		panic(stopCheck{})
	}
}

func (k *checker) valid(i uint32) bool { return i != 0 && int(i) < k.s.g.nunits }

// check runs with the shard's lock held.
func (s *shard) check() (problems []Problem) {
	n := s.g.nunits
	k := &checker{s: s, used: newBitset(n), free: newBitset(n), isEntry: newBitset(n), inChain: newBitset(n)}
	defer func() {
		if p := recover(); p != nil {
			switch e := p.(type) {
			case stopCheck:
			case corruptError:
				k.problems = append(k.problems, Problem{s.idx, e.msg})
			case runtime.Error:
				if _, fault := p.(interface{ Addr() uintptr }); fault {
					panic(p) // the mapping itself failed: end reports it
				}
				k.problems = append(k.problems, Problem{s.idx, e.Error()})
			default:
				panic(p)
			}
		}
		problems = k.problems
	}()
	h := s.h
	if atomic.LoadUint64(&h.Seq)&1 != 0 {
		k.report("dirty mark set: a process died in the middle of a change")
	}
	if int(h.Entries) > s.g.maxEntries {
		k.report("entry count %d exceeds the limit %d", h.Entries, s.g.maxEntries)
	}
	used, ttls, chained := k.walkLRU()
	if ttls != int(h.Ttls) {
		k.report("%d entries have a deadline, the count says %d", ttls, h.Ttls)
	}
	if chained != int(h.Chained) {
		k.report("%d entries are chains, the count says %d", chained, h.Chained)
	}
	k.walkBuckets()
	free, runs := k.walkFree()
	if free != int(h.FreeUnits) || runs != int(h.FreeRuns) {
		k.report("free lists hold %d units in %d runs, the counts say %d in %d", free, runs, h.FreeUnits, h.FreeRuns)
	}
	if used+free != n-1 {
		k.report("unit leak: %d in entries + %d free != %d units", used, free, n-1)
	}
	k.checkBitmap()
	k.checkRing()
	return k.problems
}

// checkRing checks that every slot of the shard's change ring names one of
// its stripes (readers mask what they read all the same; a slot out of
// range is a sign of a stray write), and that the ring's head is not 0,
// which no region writes and StripeChanges answers as corrupt (see
// startCounts). The stripes' counts and any other head are valid.
func (k *checker) checkRing() {
	if atomic.LoadUint64(&k.s.h.RingHead) == 0 {
		k.report("change ring head is 0, which no region writes")
	}
	for i := range k.s.ring {
		if v := atomic.LoadUint32(&k.s.ring[i]); int(v) >= k.s.g.stripes {
			k.report("change ring slot %d names stripe %d of %d", i, v, k.s.g.stripes)
			return
		}
	}
}

// walkLRU follows the LRU queue from the head, checking back links, entry
// headers and storage. It returns the number of units owned by entries,
// and the numbers of entries with a deadline and of chained ones.
func (k *checker) walkLRU() (units, ttls, chained int) {
	s, h := k.s, k.s.h
	n := 0
	var prev uint32
	for i := h.Head; i != 0; {
		if !k.valid(i) || int(i)+entryHeaderSize/unitSize > s.g.nunits {
			k.report("LRU link %d -> %d out of range", prev, i)
			return
		}
		if k.isEntry.has(i) {
			k.report("LRU queue has a cycle at entry %d", i)
			return
		}
		if n++; n > int(h.Entries) {
			k.report("LRU queue longer than the entry count %d", h.Entries)
			return
		}
		k.isEntry.add(i)
		e := s.ent(i)
		if e.Prev != prev {
			k.report("entry %d: back link %d, want %d", i, e.Prev, prev)
		}
		u, c := k.walkEntry(i, e)
		units += u
		if c {
			chained++
		}
		if e.expires() != 0 {
			ttls++
		}
		prev, i = i, e.Next
	}
	if h.Tail != prev {
		k.report("tail is %d, the queue ends at %d", h.Tail, prev)
	}
	if n != int(h.Entries) {
		k.report("entry count %d, LRU queue has %d", h.Entries, n)
	}
	return
}

// take marks units [u, u+n) as owned by entry i, reporting overlaps.
func (k *checker) take(i, u, n uint32) bool {
	if u == 0 || n == 0 || uint64(u)+uint64(n) > uint64(k.s.g.nunits) {
		k.report("entry %d: units [%d, +%d) out of range", i, u, n)
		return false
	}
	for v := u; v < u+n; v++ {
		if k.used.has(v) {
			k.report("entry %d: unit %d already in use", i, v)
			return false
		}
		k.used.add(v)
	}
	return true
}

// walkEntry checks entry i's header and marks its storage used. It returns
// the units the entry takes and whether it is a chain.
func (k *checker) walkEntry(i uint32, e *entry) (units int, chain bool) {
	s := k.s
	klen, vlen := e.klen(), int(e.Vlen)
	if klen == 0 || klen > s.g.maxKey || vlen > s.g.maxValue || e.typ() >= numTypes {
		k.report("entry %d: key %d bytes, value %d bytes, type %d out of range", i, klen, vlen, e.typ())
		return 0, false
	}
	if t := e.typ(); t == TypeNumber && vlen != 8 || t == TypeBool && vlen != 1 {
		k.report("entry %d: a %s of %d bytes", i, t, vlen)
	}
	more, first := s.chainOf(i, e)
	if more == 0 {
		n := unitsFor(klen, vlen, e.hasExt())
		k.take(i, i, uint32(n))
		return n, false
	}
	payload := klen + vlen
	if first < 4 || !k.take(i, i, first) {
		if first < 4 {
			k.report("entry %d: first piece of %d units", i, first)
		}
		return int(first), true
	}
	units = int(first)
	room := int(first)*unitSize - entryHeaderSize - entryExtSize
	for p := more; p != 0; {
		if room >= payload {
			k.report("entry %d: chain has pieces past its payload", i)
			return units, true
		}
		if !k.valid(p) {
			k.report("entry %d: piece %d out of range", i, p)
			return units, true
		}
		ph := (*pieceHeader)(s.unitAt(p))
		if !k.take(i, p, ph.Units) {
			return units, true
		}
		units += int(ph.Units)
		room += int(ph.Units)*unitSize - pieceHeaderSize
		p = ph.Next
	}
	if room < payload {
		k.report("entry %d: chain holds %d bytes of its %d", i, room, payload)
	}
	return units, true
}

// walkBuckets checks that every entry on the LRU queue is in the right
// bucket chain exactly once, and nothing else is.
func (k *checker) walkBuckets() {
	s := k.s
	reached := 0
	for b := range s.buckets {
		var prev uint32
		for i := s.buckets[b]; i != 0; {
			if !k.valid(i) || !k.isEntry.has(i) {
				k.report("bucket %d: chain link %d -> %d is not an entry", b, prev, i)
				break
			}
			if k.inChain.has(i) {
				k.report("bucket %d: entry %d reached twice (a cycle or a shared tail)", b, i)
				break
			}
			k.inChain.add(i)
			reached++
			e := s.ent(i)
			hash := s.hashOf(i, e)
			if s.g.shardOf(hash) != s.idx || int(s.g.bucketOf(hash)) != b {
				k.report("entry %d is in bucket %d of shard %d, its key belongs elsewhere", i, b, s.idx)
			}
			prev, i = i, e.Hnext
		}
	}
	if reached != int(s.h.Entries) {
		k.report("bucket chains reach %d entries, the count is %d", reached, s.h.Entries)
	}
}

// walkFree follows every size class's free list, checking each run's
// header, footer, class, links and bits, and that no two free runs touch
// (freeing merges them). It returns the units and runs it found.
func (k *checker) walkFree() (units, runs int) {
	s := k.s
	for c := range numClasses {
		head := s.heads[c]
		if bit := s.h.Classes[c>>6]&(1<<(c&63)) != 0; bit != (head != 0) {
			k.report("size class %d: non-empty bit %v, first run %d", c, bit, head)
		}
		var prev uint32
		for u := head; u != 0; {
			if !k.valid(u) {
				k.report("class %d: free list link %d -> %d out of range", c, prev, u)
				break
			}
			r := (*freeRun)(s.unitAt(u))
			n := r.Units
			if n == 0 || uint64(u)+uint64(n) > uint64(s.g.nunits) {
				k.report("free run %d: %d units out of range", u, n)
				break
			}
			if classOf(n) != c {
				k.report("free run %d of %d units is on the list of class %d", u, n, c)
			}
			if r.Prev != prev {
				k.report("free run %d: back link %d, want %d", u, r.Prev, prev)
			}
			if f := *s.footer(u, n); f != n {
				k.report("free run %d: footer %d, header %d", u, f, n)
			}
			if k.free.has(u) {
				k.report("free lists have a cycle at run %d", u)
				break
			}
			for v := u; v < u+n; v++ {
				if k.used.has(v) {
					k.report("unit %d is both free (run %d) and in an entry", v, u)
					return units, runs
				}
				k.free.add(v)
			}
			if s.isFree(u-1) || s.isFree(u+n) {
				k.report("free run %d of %d units has a free neighbour: not merged", u, n)
			}
			units += int(n)
			runs++
			prev, u = u, r.Next
		}
	}
	return units, runs
}

// checkBitmap compares the free bitmap with the runs the lists hold.
func (k *checker) checkBitmap() {
	s := k.s
	for w := range s.bits {
		if s.bits[w] != k.free[w] {
			k.report("free bitmap word %d is %#x, the free lists say %#x", w, s.bits[w], k.free[w])
			return
		}
	}
}
