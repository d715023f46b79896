// Package peers wraps shmlru and the caches it is compared with behind one
// small interface, so that every timed loop is the same code for every peer.
package peers

import (
	"fmt"
	"os"
	"sync"

	"github.com/coocood/freecache"
	lru2 "github.com/hashicorp/golang-lru/v2"
	"github.com/shmlru/shmlru/lru"
)

// Cache is what the benchmark drives. Get appends the value to dst (whose
// capacity the caller reuses) and reports a hit. Implementations copy
// values in and out as a user would: the caller reuses its buffers.
type Cache interface {
	Get(dst, key []byte) ([]byte, bool)
	Set(key, value []byte)
	Del(key []byte)
	Close()
}

// Kind says where a peer runs.
type Kind int

const (
	InProcess    Kind = iota // a Go library in the benchmark's own process
	SharedMemory             // shmlru: shared by processes
	Server                   // a server on loopback
)

// ---- shmlru ----

// Shmlru is shmlru's Go API.
type Shmlru struct {
	C    *lru.Cache
	path string
	own  bool
}

// ShmlruOptions sizes a region for about capacity entries of the given
// sizes: MaxEntries caps the count, and the region has room to spare, so
// the entry cap is what evicts. An entry takes its 32-byte header, key and
// value rounded up to 16 bytes (lru/layout.go); a bucket of the hash index
// (4 bytes, a bucket per entry rounded up to a power of two per shard) and
// a bit of the free bitmap per 16 bytes come on top.
func ShmlruOptions(capacity, keySize, valSize int) *lru.Options {
	per := (32+keySize+valSize+15)&^15 + 8 + (32+keySize+valSize)/128 + 1
	size := int64(capacity)*int64(per)*5/4 + 8<<20
	size = (size + 1<<20 - 1) &^ (1<<20 - 1)
	return &lru.Options{Size: size, MaxEntries: capacity, MaxValueSize: max(valSize, 4096)}
}

// OpenShmlru creates (own) or opens the region at path.
func OpenShmlru(path string, o *lru.Options, own bool) (*Shmlru, error) {
	if own {
		os.Remove(path)
	}
	c, err := lru.Open(path, o)
	if err != nil {
		return nil, err
	}
	return &Shmlru{C: c, path: path, own: own}, nil
}

func (s *Shmlru) Get(dst, key []byte) ([]byte, bool) {
	v, _, err := s.C.GetInto(dst, key)
	return v, err == nil
}
func (s *Shmlru) Set(key, value []byte) {
	if err := s.C.Set(key, value, 0); err != nil {
		panic(err)
	}
}
func (s *Shmlru) Del(key []byte) { s.C.Delete(key) }
func (s *Shmlru) Close() {
	s.C.Close()
	if s.own {
		os.Remove(s.path)
	}
}

// ---- freecache ----

// Freecache is coocood/freecache, read with GetWithBuf.
type Freecache struct{ C *freecache.Cache }

// FreecacheBytes sizes freecache for about capacity entries: its 24-byte
// entry header plus key and value, with a quarter to spare for the ring
// buffers' dead space.
func FreecacheBytes(capacity, keySize, valSize int) int {
	return capacity * (24 + keySize + valSize) * 5 / 4
}

func NewFreecache(bytes int) *Freecache { return &Freecache{freecache.NewCache(bytes)} }

func (f *Freecache) Get(dst, key []byte) ([]byte, bool) {
	v, err := f.C.GetWithBuf(key, dst[:cap(dst)])
	if err != nil {
		return dst, false
	}
	return v, true
}
func (f *Freecache) Set(key, value []byte) {
	if err := f.C.Set(key, value, 0); err != nil {
		panic(err)
	}
}
func (f *Freecache) Del(key []byte) { f.C.Del(key) }
func (f *Freecache) Close()         { f.C.Clear() }

// ---- hashicorp/golang-lru/v2 ----

// ExactLRU is hashicorp/golang-lru/v2's Cache (one global LRU order behind
// one mutex). Keys are strings, values are copied in (the caller reuses its
// buffer) and out.
type ExactLRU struct{ C *lru2.Cache[string, []byte] }

func NewExactLRU(capacity int) *ExactLRU {
	c, err := lru2.New[string, []byte](capacity)
	if err != nil {
		panic(err)
	}
	return &ExactLRU{c}
}

func (l *ExactLRU) Get(dst, key []byte) ([]byte, bool) {
	v, ok := l.C.Get(string(key)) // no allocation: the conversion is only used for the lookup
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}
func (l *ExactLRU) Set(key, value []byte) {
	l.C.Add(string(key), append([]byte(nil), value...))
}
func (l *ExactLRU) Del(key []byte) { l.C.Remove(string(key)) }
func (l *ExactLRU) Close()         { l.C.Purge() }

// ---- map + mutex ----

// MapMutex is the baseline: a Go map behind a sync.Mutex, bounded by
// evicting an arbitrary entry (the first a map iteration yields) when full.
type MapMutex struct {
	mu  sync.Mutex
	m   map[string][]byte
	cap int
}

func NewMapMutex(capacity int) *MapMutex {
	return &MapMutex{m: make(map[string][]byte, capacity), cap: capacity}
}

func (m *MapMutex) Get(dst, key []byte) ([]byte, bool) {
	m.mu.Lock()
	v, ok := m.m[string(key)]
	if ok {
		dst = append(dst, v...)
	}
	m.mu.Unlock()
	return dst, ok
}
func (m *MapMutex) Set(key, value []byte) {
	m.mu.Lock()
	if old, ok := m.m[string(key)]; ok && cap(old) >= len(value) {
		m.m[string(key)] = append(old[:0], value...)
		m.mu.Unlock()
		return
	}
	if len(m.m) >= m.cap {
		for k := range m.m {
			delete(m.m, k)
			break
		}
	}
	m.m[string(key)] = append([]byte(nil), value...)
	m.mu.Unlock()
}
func (m *MapMutex) Del(key []byte) {
	m.mu.Lock()
	delete(m.m, string(key))
	m.mu.Unlock()
}
func (m *MapMutex) Close() { clear(m.m) }

// Check panics unless c stores and returns a value: a smoke test run on
// every peer before it is timed.
func Check(name string, c Cache) {
	k, v := []byte("shmlru-bench-check-key"), []byte("value")
	c.Set(k, v)
	got, ok := c.Get(make([]byte, 0, 64), k)
	if !ok || string(got) != "value" {
		panic(fmt.Sprintf("%s: get after set returned %q, %v", name, got, ok))
	}
	c.Del(k)
	if _, ok := c.Get(nil, k); ok {
		panic(fmt.Sprintf("%s: get after delete hit", name))
	}
}
