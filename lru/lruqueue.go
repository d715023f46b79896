package lru

// The LRU queue: a doubly linked list through the entry headers, the most
// recently written at the shard header's head. Writes move their entry to
// the head; reads only mark it (refs.go), and eviction, taking from the
// tail, moves a marked entry to the head instead of evicting it.

// unlinkLRU takes the entry at u out of the LRU queue.
func (s *shard) unlinkLRU(u uint32, e *entry) {
	if e.Prev != 0 {
		s.ent(e.Prev).Next = e.Next
	} else {
		s.h.Head = e.Next
	}
	if e.Next != 0 {
		s.ent(e.Next).Prev = e.Prev
	} else {
		s.h.Tail = e.Prev
	}
}

// pushHead puts the entry at u at the head (most recent end) of the queue.
func (s *shard) pushHead(u uint32, e *entry) {
	e.Prev, e.Next = 0, s.h.Head
	if s.h.Head != 0 {
		s.ent(s.h.Head).Prev = u
	} else {
		s.h.Tail = u
	}
	s.h.Head = u
}

// touch moves the entry at u to the head of the queue.
//
// Callers need not mark the shard dirty around it: a touch only relinks the
// LRU queue, which readers without the lock never follow, and a queue left
// half relinked by a process that died in a touch is rebuilt from the
// bucket chains (see repairLRU) without losing an entry.
func (s *shard) touch(u uint32, e *entry) {
	if s.h.Head == u {
		return
	}
	s.unlinkLRU(u, e)
	if testHook != nil {
		testHook("touch-unlinked")
	}
	s.pushHead(u, e)
}
