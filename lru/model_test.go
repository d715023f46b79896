package lru

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// The model: per shard, a slice of entries in queue order (head first), with
// the same admission and eviction rules the cache documents: a write puts
// its entry at the head unmarked, a read marks it; a write that needs room
// removes expired entries among the expireScan least recent ones, then
// takes from the tail: a marked entry is moved to the head unmarked (at
// most maxSecondChances times per write), any other is evicted. How much room a write needs depends on how
// the heap is fragmented, which the model does not simulate: it takes the
// number of entries the cache's shard holds after the write as given, and
// checks that the ones the cache kept are exactly the ones these rules
// keep, in the same order (compareAll). The eviction bound is tested on
// its own (TestEvictionBound). Nothing here shares code with the cache but
// the geometry's shard arithmetic.

type modelEntry struct {
	key, val []byte
	typ      Type
	flags    uint32
	version  uint64
	ttl      bool // has a deadline
	expired  bool
	ref      bool // read since it last came to the head
}

type modelShard struct {
	entries []*modelEntry // head first
	clock   uint64
}

type model struct {
	g      geometry
	shards []modelShard
	// count returns how many entries the cache's shard holds now.
	count func(shard int) int
}

func newModel(c *Cache) *model {
	return &model{g: c.g, shards: make([]modelShard, c.g.shards), count: func(i int) int { return int(c.shards[i].h.Entries) }}
}

func (m *model) shardIndex(key []byte) int {
	return int(hashKey(key)>>m.g.shardShift) & (m.g.shards - 1)
}

func (m *model) shard(key []byte) *modelShard { return &m.shards[m.shardIndex(key)] }

func (s *modelShard) find(key []byte) int {
	return slices.IndexFunc(s.entries, func(e *modelEntry) bool { return bytes.Equal(e.key, key) })
}

func (m *model) removeAt(s *modelShard, i int) {
	s.entries = slices.Delete(s.entries, i, i+1)
}

func (m *model) touch(s *modelShard, i int) {
	e := s.entries[i]
	s.entries = slices.Delete(s.entries, i, i+1)
	s.entries = slices.Insert(s.entries, 0, e)
}

func (m *model) expireTail(s *modelShard) {
	start := max(0, len(s.entries)-expireScan)
	for i := len(s.entries) - 1; i >= start; i-- {
		if s.entries[i].expired {
			m.removeAt(s, i)
		}
	}
}

// makeRoom removes what the cache removed to make room for one more entry:
// if the cache holds fewer than the model would, the write needed room, so
// expired entries near the tail went first, then entries from the tail.
func (m *model) makeRoom(s *modelShard, after int) (forcible bool, err error) {
	if after-1 >= len(s.entries) {
		return false, nil
	}
	m.expireTail(s)
	chances := 0
	for len(s.entries) > after-1 {
		t := len(s.entries) - 1
		e := s.entries[t]
		if !e.expired && e.ref && chances < maxSecondChances && t > 0 {
			e.ref = false
			chances++
			m.touch(s, t)
			continue
		}
		if !e.expired {
			forcible = true
		}
		m.removeAt(s, t)
	}
	if len(s.entries) != after-1 {
		return forcible, fmt.Errorf("the cache removed expired entries the model kept: %d entries, the model %d", after-1, len(s.entries))
	}
	return forcible, nil
}

// write applies a write the cache has made; cacheErr is the cache's result.
func (m *model) write(key, val []byte, o WriteOptions, cacheErr error) (WriteResult, error) {
	s := m.shard(key)
	i := s.find(key)
	live := i >= 0 && !s.entries[i].expired
	if live && o.Mode == ModeCAS && s.entries[i].version != o.Version {
		return WriteResult{}, ErrVersionMismatch
	}
	if o.Mode == ModeAdd && live {
		return WriteResult{}, ErrExists
	}
	if (o.Mode == ModeReplace || o.Mode == ModeCAS) && !live {
		return WriteResult{}, ErrNotFound
	}
	e := &modelEntry{key: slices.Clone(key), val: slices.Clone(val), typ: o.Type, flags: o.Flags, ttl: o.TTL > 0}
	after := m.count(m.shardIndex(key))
	if o.NoEvict {
		m.expireTail(s)
		i = s.find(key)
		// Whether it fits without evicting depends on fragmentation,
		// which the model does not simulate: it takes the cache's answer
		// (TestNoEvict checks the decision) and checks that a refusal
		// removed nothing but the expired entries near the tail.
		if errors.Is(cacheErr, ErrNoMemory) {
			if len(s.entries) != after {
				return WriteResult{}, fmt.Errorf("a refused NoEvict write left %d entries, the model %d", after, len(s.entries))
			}
			return WriteResult{}, ErrNoMemory
		}
	}
	if i >= 0 {
		m.removeAt(s, i)
	}
	forcible, err := m.makeRoom(s, after)
	if err != nil {
		return WriteResult{}, err
	}
	if o.NoEvict && forcible {
		return WriteResult{}, errors.New("a write with NoEvict evicted a live entry")
	}
	s.clock++
	e.version = s.clock
	s.entries = slices.Insert(s.entries, 0, e)
	return WriteResult{Version: e.version, Forcible: forcible}, nil
}

func (m *model) get(key []byte, stale bool) ([]byte, error) {
	s := m.shard(key)
	i := s.find(key)
	if i < 0 || (s.entries[i].expired && !stale) {
		return nil, ErrNotFound
	}
	v := s.entries[i].val
	s.entries[i].ref = true
	return v, nil
}

func (m *model) incr(key []byte, delta, init float64) (float64, error) {
	s := m.shard(key)
	if i := s.find(key); i >= 0 && !s.entries[i].expired {
		e := s.entries[i]
		if e.typ != TypeNumber {
			return 0, ErrNotNumber
		}
		f, _ := DecodeNumber(e.val)
		e.val = EncodeNumber(f + delta)
		s.clock++
		e.version = s.clock
		e.ref = false
		m.touch(s, i)
		return f + delta, nil
	}
	_, err := m.write(key, EncodeNumber(init+delta), WriteOptions{Type: TypeNumber}, nil)
	return init + delta, err
}

// forceExpire makes the entry at key expired in both the cache and the model.
func forceExpire(t *testing.T, c *Cache, m *model, key []byte) {
	s := m.shard(key)
	if i := s.find(key); i >= 0 {
		s.entries[i].expired = true
		expireNow(t, c, key)
	}
}

// compareAll checks that every shard holds the same entries in the same LRU
// order, with the same values.
func compareAll(t *testing.T, c *Cache, m *model, step int) {
	t.Helper()
	var got, want []string
	c.Range(func(k []byte, meta Meta, _ int) bool {
		v, _, _, _ := c.readUnlocked(k)
		got = append(got, fmt.Sprintf("%s=%x/%d/%d", k, v, meta.Type, meta.Version))
		return true
	}, true)
	for si := range m.shards {
		for _, e := range m.shards[si].entries {
			want = append(want, fmt.Sprintf("%s=%x/%d/%d", e.key, e.val, e.typ, e.version))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("step %d: cache and model differ\ncache: %v\nmodel: %v", step, got, want)
	}
}

// readUnlocked peeks a value from inside Range's callback (the shard is
// already locked by Range).
func (c *Cache) readUnlocked(key []byte) ([]byte, Meta, bool, error) {
	h := hashKey(key)
	s := c.shardFor(h)
	i, _ := s.find(key, h)
	if i == 0 {
		return nil, Meta{}, false, ErrNotFound
	}
	e := s.ent(i)
	return s.readAt(nil, i, e, e.klen(), int(e.Vlen)), Meta{}, false, nil
}

func TestModel(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			opts := &Options{Size: 512 << 10, Shards: 1 << (seed % 3), MaxEntries: 40 + int(seed)*20}
			runModelWith(t, rand.New(rand.NewPCG(seed, seed*7919)), 20000, opts)
			if st, _ := lastStats.Load().(Stats); st.Evictions == 0 || st.Expirations == 0 {
				t.Fatalf("the run never evicted (%d) or expired (%d): it tests too little", st.Evictions, st.Expirations)
			}
		})
	}
}

// lastStats holds the counters of the last model run, for TestModel's
// check that the run exercised eviction and expiry.
var lastStats atomic.Value

func runModelWith(t *testing.T, rng *rand.Rand, steps int, opts *Options) {
	c := newCache(t, opts)
	m := newModel(c)
	key := func() []byte {
		if rng.IntN(50) == 0 { // now and then a long key
			return bytes.Repeat([]byte{byte('A' + rng.IntN(4))}, 60+rng.IntN(100))
		}
		return []byte(fmt.Sprint("k", rng.IntN(150)))
	}
	val := func() []byte {
		n := rng.IntN(100)
		if rng.IntN(8) == 0 {
			n = rng.IntN(3000)
		}
		v := make([]byte, n)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		return v
	}
	same := func(step int, what string, gotErr, wantErr error) {
		t.Helper()
		if !errors.Is(gotErr, wantErr) && !(gotErr == nil && wantErr == nil) {
			t.Fatalf("step %d %s: cache error %v, model %v", step, what, gotErr, wantErr)
		}
	}
	for step := 0; step < steps; step++ {
		k := key()
		switch op := rng.IntN(100); {
		case op < 35:
			o := WriteOptions{Mode: WriteMode(rng.IntN(3)), Flags: rng.Uint32(), NoEvict: rng.IntN(10) == 0}
			if rng.IntN(4) == 0 {
				o.TTL = time.Hour
			}
			v := val()
			r1, e1 := c.Write(k, v, o)
			r2, e2 := m.write(k, v, o, e1)
			same(step, "write", e1, e2)
			if r1 != r2 {
				t.Fatalf("step %d write: cache %+v, model %+v", step, r1, r2)
			}
		case op < 40:
			_, meta, err := c.GetInto(nil, k)
			ver := meta.Version
			if err != nil || rng.IntN(3) == 0 {
				ver = rng.Uint64N(5)
			}
			v := val()
			r1, e1 := c.Write(k, v, WriteOptions{Mode: ModeCAS, Version: ver})
			m.get(k, false) // GetInto above marked the entry
			r2, e2 := m.write(k, v, WriteOptions{Mode: ModeCAS, Version: ver}, e1)
			same(step, "cas", e1, e2)
			if r1 != r2 {
				t.Fatalf("step %d cas: cache %+v, model %+v", step, r1, r2)
			}
		case op < 70:
			stale := rng.IntN(4) == 0
			var v1 []byte
			var e1 error
			if stale {
				v1, _, _, e1 = c.GetStale(nil, k)
			} else {
				v1, _, e1 = c.GetInto(nil, k)
			}
			v2, e2 := m.get(k, stale)
			same(step, "get", e1, e2)
			if !bytes.Equal(v1, v2) {
				t.Fatalf("step %d get %q: cache %x, model %x", step, k, v1, v2)
			}
		case op < 78:
			ok1, _ := c.Delete(k)
			s := m.shard(k)
			i := s.find(k)
			if i >= 0 {
				m.removeAt(s, i)
				s.clock++ // a delete advances the shard's clock
			}
			if ok1 != (i >= 0) {
				t.Fatalf("step %d delete: cache %v, model %v", step, ok1, i >= 0)
			}
		case op < 88:
			f1, _, e1 := c.IncrInit(k, 1, 10, 0)
			f2, e2 := m.incr(k, 1, 10)
			same(step, "incr", e1, e2)
			if e1 == nil && f1 != f2 {
				t.Fatalf("step %d incr: cache %v, model %v", step, f1, f2)
			}
		case op < 95:
			forceExpire(t, c, m, k)
		default:
			_, _, _, e1 := c.Peek(nil, k)
			s := m.shard(k)
			i := s.find(k)
			if (e1 == nil) != (i >= 0) {
				t.Fatalf("step %d peek: cache %v, model present %v", step, e1, i >= 0)
			}
		}
		if step%500 == 0 || step == steps-1 {
			compareAll(t, c, m, step)
			mustCheck(t, c)
		}
	}
	st, _ := c.Stats()
	lastStats.Store(st)
}
