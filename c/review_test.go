package main

// Defects an outside review of the lock-free read path found in the native
// path; each test failed before its fix. test/review_driver.c pauses one native call at an exact point
// (fast.c's memcmp in find or seek) and this process, another process with
// a mapping of its own, changes the region there.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/lru"
)

// fact returns a layout fact's value by its Go name.
func fact(t *testing.T, name string) int {
	t.Helper()
	for _, f := range format.Facts() {
		if f.Name == name {
			return int(f.Value)
		}
	}
	t.Fatalf("no layout fact %q", name)
	return 0
}

// shard0 describes shard 0 of a cache's data area d.
type shard0 struct {
	d                                  []byte
	sh, heap, buckets, nunits, nbucket int
}

func shardZero(t *testing.T, c *lru.Cache) shard0 {
	d := c.Binding().Region().Data()
	u32 := func(name string) int { return int(binary.NativeEndian.Uint32(d[fact(t, name):])) }
	s := shard0{d: d, sh: fact(t, "CacheHeaderSize"), nunits: u32("CacheHeader.Nunits"), nbucket: u32("CacheHeader.Nbuckets")}
	s.heap = s.sh + u32("CacheHeader.HeapOff")
	s.buckets = s.sh + u32("CacheHeader.BucketsOff")
	return s
}

func (s shard0) bucket(key []byte) *uint32 {
	b := int(uint32(xxhash.Sum64(key)) & uint32(s.nbucket-1))
	return (*uint32)(unsafe.Pointer(&s.d[s.buckets+4*b]))
}

func (s shard0) seq() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&s.d[s.sh+fact0("ShardHeader.Seq")])))
}

var factCache = map[string]int{}

func fact0(name string) int {
	if v, ok := factCache[name]; ok {
		return v
	}
	for _, f := range format.Facts() {
		factCache[f.Name] = int(f.Value)
	}
	return factCache[name]
}

// The native incr checks the entry's lengths against the heap in
// find (flat reads e->vlen) and then takes a second snapshot of the header
// (entry_snap) whose vlen it checks only for == 8: the 8-byte write of the
// number is never checked against the heap with the vlen it uses. A
// process that writes the region without the lock (a group member with
// write access; the file is shared 0660) changes vlen from 0 to 8 between
// the two reads, and incr writes 8 bytes past the end of the shard's heap
// (here the load table's lock word: shard 0 is the last shard). The file
// comment promises "never read or write outside ... the heap", and the
// entry_snap comment describes exactly this attack as handled.
func TestNativeIncrChecksWhatItWrites(t *testing.T) {
	bin := buildC(t, "test/review_driver.c")
	// A geometry whose heap ends on a cache line: the next bytes are then
	// the load table's lock word (shard 0 is the only shard).
	var path string
	var c *lru.Cache
	var s shard0
	for size := int64(1 << 20); ; size += 4096 {
		path, c = openRegion(t, &lru.Options{Size: size, Shards: 1})
		if s = shardZero(t, c); (s.heap+s.nunits*16)%64 == 0 {
			break
		}
		c.Close()
	}
	key := []byte("review-toctou-k0") // 16 bytes: one unit after the header
	u := s.nunits - 3                 // header in the heap's last units but one, key in the last
	e := s.heap + u*16
	entry := make([]byte, 32)
	binary.NativeEndian.PutUint32(entry[12:], 0)                                               // vlen 0: key and value end at the heap's end
	binary.NativeEndian.PutUint64(entry[16:], 1)                                               // version
	binary.NativeEndian.PutUint64(entry[24:], uint64(len(key))<<44|uint64(lru.TypeNumber)<<60) // klen, type number, no deadline
	copy(s.d[e:], entry)
	copy(s.d[e+32:], key)
	atomic.StoreUint32(s.bucket(key), uint32(u))
	binary.NativeEndian.PutUint32(s.d[s.sh+fact(t, "ShardHeader.Head"):], uint32(u))
	heapEnd := s.heap + s.nunits*16
	before := bytes.Clone(s.d[heapEnd : heapEnd+8])

	p := startDriver(t, bin, "incr", path, string(key), "1e300")
	p.Await("paused")                            // in find, shard locked, flat() checked vlen 0
	binary.NativeEndian.PutUint32(s.d[e+12:], 8) // the racing write: vlen 8
	got := p.Ask("")
	p.Close()
	after := s.d[heapEnd : heapEnd+8]
	if !bytes.Equal(before, after) {
		t.Errorf("native incr (%s) wrote past the shard's heap: the 8 bytes at data offset %d (heap end; the load table starts at %d) went from %x to %x",
			got, heapEnd, fact(t, "CacheHeaderSize")+int(binary.NativeEndian.Uint64(s.d[fact(t, "CacheHeader.ShardStride"):])), before, after)
	}
}

// A reset made because Go found corruption outside a
// change leaves seq even (lru/shardlock.go corrupted -> bestEffort): a native
// reader that loaded seq and the entry header before the reset and copies
// the value after it passes its check and returns a value that was never
// written (the reset's free-run footer over the value's last 4 bytes).
// The corruption is one word of another bucket; the torn value is an
// intact key's.
func TestNativeReadNotTornByACorruptionReset(t *testing.T) {
	bin := buildC(t, "test/review_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	s := shardZero(t, c)
	victim := []byte("victim")
	value := bytes.Repeat([]byte{'v'}, 1040-32-len(victim)) // whole units: the first entry ends at the heap's end
	must(t, c.Set(victim, value, 0))
	var other []byte
	for i := 0; other == nil; i++ {
		k := []byte(fmt.Sprint("other", i))
		if s.bucket(k) != s.bucket(victim) {
			other = k
		}
	}
	atomic.StoreUint32(s.bucket(other), uint32(s.nunits+5)) // the corruption: one index out of range

	p := startDriver(t, bin, "get", path, string(victim))
	p.Await("paused") // in seek: seq loaded, header checked
	seq := s.seq()
	if _, err := c.Get(other); !errors.Is(err, lru.ErrCorrupt) { // Go finds it under the lock and resets the shard
		t.Fatalf("Get of the corrupt chain: %v", err)
	}
	if st, _ := c.Stats(); st.Resets != 1 {
		t.Fatalf("resets %d, want 1", st.Resets)
	}
	if s.seq() == seq {
		t.Errorf("the reset left seq at %d", seq)
	}
	got := p.Ask("")
	p.Close()
	f := strings.Fields(got)
	if len(f) >= 3 && f[1] == "0" {
		v := f[3]
		if want := fmt.Sprintf("%x", value); v != want {
			t.Errorf("shmlru_get returned SHMLRU_OK with a value never written: ends ...%s, want ...%s", v[len(v)-16:], want[len(want)-16:])
		}
	}
}

// An output pointer that faults (result, write_result) fails the call
// before it changes anything. It was written after the change was made and
// the lock released, so the call returned SHMLRU_BAD_ARGUMENT for a change
// it had made, and a caller that retried (the rate limiter's incr) counted
// twice.
func TestNativeNoErrorAfterAChange(t *testing.T) {
	bin := buildC(t, "test/review_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	if _, err := c.Write([]byte("counter"), lru.EncodeNumber(10), lru.WriteOptions{Type: lru.TypeNumber}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "badout", path, "counter").CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	var incrRC, setRC, getRC int
	var afterIncr, after float64
	if _, err := fmt.Sscanf(string(out), "incr %d -> %g set %d get %d %g", &incrRC, &afterIncr, &setRC, &getRC, &after); err != nil {
		t.Fatalf("driver said %q", out)
	}
	t.Logf("driver: %s", strings.TrimSpace(string(out)))
	if incrRC != 0 && afterIncr == 11 {
		t.Errorf("incr returned %d (SHMLRU_BAD_ARGUMENT) and was made: 10 -> %g", incrRC, afterIncr)
	}
	if setRC != 0 && after == 42 {
		t.Errorf("set returned %d (SHMLRU_BAD_ARGUMENT) and was made: the value is %g", setRC, after)
	}
}
