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
// block chain, the bucket chains, the free list and the counts) and reports
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
	return s.visit(false, func(owner shm.Owner, _ repaired) {
		if s.orphaned {
			*ps = append(*ps, Problem{s.idx, "lock held by " + deadOwner(owner) + ", which died; not repaired (Repair, or `shmctl check --repair`, does)"})
		}
		*ps = append(*ps, s.check()...)
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
	used     []bool // blocks owned by an entry
	isEntry  []bool // blocks that start an entry on the LRU queue
	inChain  []bool // entries reached through a bucket chain
}

type stopCheck struct{}

func (k *checker) report(format string, args ...any) {
	k.problems = append(k.problems, Problem{k.s.idx, fmt.Sprintf(format, args...)})
	if len(k.problems) >= maxProblemsPerShard {
		panic(stopCheck{})
	}
}

func (k *checker) valid(i uint32) bool { return i != 0 && int(i) < k.s.g.nblocks }

// check runs with the shard's lock held.
func (s *shard) check() (problems []Problem) {
	k := &checker{s: s, used: make([]bool, s.g.nblocks), isEntry: make([]bool, s.g.nblocks), inChain: make([]bool, s.g.nblocks)}
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
	if atomic.LoadUint32(&h.dirty) != 0 {
		k.report("dirty mark set: a process died in the middle of a change")
	}
	if h.hwm == 0 || int(h.hwm) > s.g.nblocks {
		k.report("high-water mark %d out of range [1, %d]", h.hwm, s.g.nblocks)
	}
	if int(h.nfree) > s.g.nblocks-1 {
		k.report("free count %d exceeds the %d blocks", h.nfree, s.g.nblocks-1)
	}
	if int(h.entries) > s.g.maxEntries {
		k.report("entry count %d exceeds the limit %d", h.entries, s.g.maxEntries)
	}
	usedBlocks, ttls := k.walkLRU()
	if ttls != int(h.ttls) {
		k.report("%d entries have a deadline, the count says %d", ttls, h.ttls)
	}
	k.walkBuckets()
	free := k.walkFree()
	if int(h.hwm) <= s.g.nblocks {
		if never := s.g.nblocks - int(h.hwm); free+never != int(h.nfree) {
			k.report("free count %d, but %d blocks on the free list and %d never used", h.nfree, free, never)
		}
		if usedBlocks+free+(s.g.nblocks-int(h.hwm)) != s.g.nblocks-1 {
			k.report("block leak: %d in entries + %d free + %d never used != %d blocks", usedBlocks, free, s.g.nblocks-int(h.hwm), s.g.nblocks-1)
		}
	}
	return k.problems
}

// walkLRU follows the LRU queue from the head, checking back links, entry
// headers and block chains. It returns the number of blocks owned by entries
// and the number of entries with a deadline.
func (k *checker) walkLRU() (blocks, ttls int) {
	s, h := k.s, k.s.h
	n := 0
	var prev uint32
	for i := h.head; i != 0; {
		if !k.valid(i) {
			k.report("LRU link %d -> %d out of range", prev, i)
			return blocks, ttls
		}
		if k.isEntry[i] {
			k.report("LRU queue has a cycle at entry %d", i)
			return blocks, ttls
		}
		if n++; n > int(h.entries) {
			k.report("LRU queue longer than the entry count %d", h.entries)
			return blocks, ttls
		}
		k.isEntry[i] = true
		e := s.ent(i)
		if e.prev != prev {
			k.report("entry %d: back link %d, want %d", i, e.prev, prev)
		}
		blocks += k.walkChain(i, e)
		if e.expires != 0 {
			ttls++
		}
		prev, i = i, e.next
	}
	if h.tail != prev {
		k.report("tail is %d, the queue ends at %d", h.tail, prev)
	}
	if n != int(h.entries) {
		k.report("entry count %d, LRU queue has %d", h.entries, n)
	}
	return blocks, ttls
}

// walkChain checks entry i's header and marks its blocks used.
func (k *checker) walkChain(i uint32, e *entry) int {
	s := k.s
	if int(e.klen) == 0 || int(e.klen) > s.g.maxKey || int(e.vlen) > s.g.maxValue || e.typ >= numTypes {
		k.report("entry %d: key %d bytes, value %d bytes, type %d out of range", i, e.klen, e.vlen, e.typ)
		return 0
	}
	want := s.g.blocksFor(int(e.klen), int(e.vlen))
	cur, count := i, 0
	for {
		if !k.valid(cur) || cur >= s.h.hwm {
			k.report("entry %d: block %d out of range", i, cur)
			return count
		}
		if k.used[cur] {
			k.report("entry %d: block %d already in use", i, cur)
			return count
		}
		k.used[cur] = true
		if count++; count == want {
			break
		}
		if cur == i {
			cur = e.more
		} else {
			cur = *s.link(cur)
		}
	}
	if e.typ == TypeNumber && e.vlen != 8 || e.typ == TypeBool && e.vlen != 1 {
		k.report("entry %d: a %s of %d bytes", i, e.typ, e.vlen)
	}
	return count
}

// walkBuckets checks that every entry on the LRU queue is in the right
// bucket chain exactly once, and nothing else is.
func (k *checker) walkBuckets() {
	s := k.s
	reached := 0
	for b := range s.buckets {
		var prev uint32
		for i, n := s.buckets[b], 0; i != 0; n++ {
			if !k.valid(i) || !k.isEntry[i] {
				k.report("bucket %d: chain link %d -> %d is not an entry", b, prev, i)
				break
			}
			if k.inChain[i] {
				k.report("bucket %d: entry %d reached twice (a cycle or a shared tail)", b, i)
				break
			}
			k.inChain[i] = true
			reached++
			e := s.ent(i)
			hash := s.hashOf(i, e)
			if s.g.shardOf(hash) != s.idx || int(s.g.bucketOf(hash)) != b {
				k.report("entry %d is in bucket %d of shard %d, its key belongs elsewhere", i, b, s.idx)
			}
			prev, i = i, e.hnext
		}
	}
	if reached != int(s.h.entries) {
		k.report("bucket chains reach %d entries, the count is %d", reached, s.h.entries)
	}
}

// walkFree follows the free list; it returns its length.
func (k *checker) walkFree() int {
	s := k.s
	n := 0
	seen := make([]bool, s.g.nblocks)
	for i := s.h.free; i != 0; {
		if !k.valid(i) || i >= s.h.hwm {
			k.report("free list link %d out of range", i)
			return n
		}
		if k.used[i] {
			k.report("block %d is both free and in an entry", i)
			return n
		}
		if seen[i] {
			k.report("free list has a cycle at block %d", i)
			return n
		}
		seen[i] = true
		if n++; n > s.g.nblocks {
			return n
		}
		i = *s.link(i)
	}
	return n
}
