package main

import (
	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
)

// The timed loops (runFor's f), the same code for every peer.

// cursor walks a key list.
type cursor struct {
	keys [][]byte
	pos  int
}

func (c *cursor) next() []byte {
	k := c.keys[c.pos]
	if c.pos++; c.pos == len(c.keys) {
		c.pos = 0
	}
	return k
}

func loopGet(c peers.Cache, cur *cursor, buf []byte) func(n int) (int, int) {
	return func(n int) (int, int) {
		hits := 0
		for i := 0; i < n; i++ {
			var ok bool
			buf, ok = c.Get(buf[:0], cur.next())
			if ok {
				hits++
			}
		}
		return n, hits
	}
}

func loopSet(c peers.Cache, cur *cursor, val []byte) func(n int) (int, int) {
	return func(n int) (int, int) {
		for i := 0; i < n; i++ {
			c.Set(cur.next(), val)
		}
		return 0, 0
	}
}

// mixer replays a trace: gets (a miss is followed by a set of the key,
// cache-aside) and sets.
type mixer struct {
	c   peers.Cache
	tr  *workload.Trace
	val []byte
	buf []byte
	pos int
}

func (m *mixer) run(n int) (gets, hits int) {
	tr, c, val := m.tr, m.c, m.val
	buf := m.buf
	pos := m.pos
	L := tr.Len()
	ks := tr.KeySize
	for i := 0; i < n; i++ {
		k := tr.Keys[pos*ks : (pos+1)*ks : (pos+1)*ks]
		if tr.Ops[pos] == workload.Get {
			gets++
			var ok bool
			buf, ok = c.Get(buf[:0], k)
			if ok {
				hits++
			} else {
				c.Set(k, val)
			}
		} else {
			c.Set(k, val)
		}
		if pos++; pos == L {
			pos = 0
			tr.NextEpoch()
		}
	}
	m.buf, m.pos = buf, pos
	return gets, hits
}
