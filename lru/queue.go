package lru

// The LRU queue: a doubly linked list through the entry headers, the most
// recently used at the shard header's head. Exact per shard: every hit
// moves its entry to the head, and eviction takes from the tail.

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

// touch makes the entry at u the most recently used.
//
// It is the one change made without the dirty mark, because it is on every
// hit and the mark costs two atomic stores: a touch only relinks the LRU
// queue, and a queue left half relinked by a dead reader is rebuilt from the
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
