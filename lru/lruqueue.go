package lru

// The LRU queue: a doubly linked list through the entry headers, the most
// recently written at the shard header's head. Writes move their entry to
// the head; reads only mark it (refs.go), and eviction, taking from the
// tail, moves a marked entry to the head instead of evicting it.

// unlinkLRU takes the entry at u out of the LRU queue.
func (s *shard) unlinkLRU(u uint32, e *entry) {
	if e.prev != 0 {
		s.ent(e.prev).next = e.next
	} else {
		s.h.head = e.next
	}
	if e.next != 0 {
		s.ent(e.next).prev = e.prev
	} else {
		s.h.tail = e.prev
	}
}

// pushHead puts the entry at u at the head (most recent end) of the queue.
func (s *shard) pushHead(u uint32, e *entry) {
	e.prev, e.next = 0, s.h.head
	if s.h.head != 0 {
		s.ent(s.h.head).prev = u
	} else {
		s.h.tail = u
	}
	s.h.head = u
}

// touch moves the entry at u to the head of the queue.
//
// Callers need not mark the shard dirty around it: a touch only relinks the
// LRU queue, which readers without the lock never follow, and a queue left
// half relinked by a process that died in a touch is rebuilt from the
// bucket chains (see repairLRU) without losing an entry.
func (s *shard) touch(u uint32, e *entry) {
	if s.h.head == u {
		return
	}
	s.unlinkLRU(u, e)
	if testHook != nil {
		testHook("touch-unlinked")
	}
	s.pushHead(u, e)
}
