package lru

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// byteSource feeds the fuzzer's bytes to math/rand, so that mutations of the
// input map directly onto the choice of operations, keys and sizes. When the
// bytes run out it goes on with a fixed generator: a constant stream would
// make rand's rejection sampling loop forever.
type byteSource struct {
	b    []byte
	rest rand.PCG
}

func (s *byteSource) Uint64() uint64 {
	if len(s.b) < 8 {
		return s.rest.Uint64()
	}
	v := binary.LittleEndian.Uint64(s.b)
	s.b = s.b[8:]
	return v
}

// FuzzOps runs a fuzzer-chosen sequence of operations against the cache and
// the reference model (see model_test.go); they must agree.
func FuzzOps(f *testing.F) {
	for seed := uint64(0); seed < 4; seed++ {
		b := make([]byte, 4096)
		r := rand.New(rand.NewPCG(seed, 0))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Each step takes a few of the input's 8-byte words; the cap keeps
		// one execution short however long the fuzzer grows the input.
		steps := min(len(data)/8+1, 1000)
		runModelWith(t, rand.New(&byteSource{b: data}), steps, &Options{Size: 256 << 10, Shards: 2, MaxEntries: 30})
	})
}

// FuzzCorrupt overwrites bytes of a live, populated region, then runs
// operations and Check, then reopens the file and does it again. Whatever the
// bytes, every call must return (a value or an error): no panic, no fault,
// no hang.
func FuzzCorrupt(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0xff})
	f.Add([]byte{0x40, 0x01, 0, 0, 0x07, 0x10, 0x02, 0, 0, 0x00})
	f.Add([]byte("\x00\x01\x00\x00\xff\x04\x01\x00\x00\xff\x08\x01\x00\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "c")
		c, err := Open(path, &Options{Size: 64 << 10, Shards: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 60; i++ {
			k := []byte(fmt.Sprint("key", i))
			c.Set(k, make([]byte, i*7), time.Duration(i%3)*time.Hour)
		}
		region := c.r.Data()
		// Each 5 bytes: a little-endian offset into the data area and a value.
		for b := data; len(b) >= 5; b = b[5:] {
			off := int(binary.LittleEndian.Uint32(b)) % len(region)
			region[off] = b[4]
		}
		exercise(t, c)
		c.Close()
		// Corrupt the file itself too, header included, and reopen it.
		raw, _ := os.ReadFile(path)
		for b := data; len(b) >= 5; b = b[5:] {
			off := int(binary.LittleEndian.Uint32(b)>>8) % len(raw)
			raw[off] ^= b[4]
		}
		os.WriteFile(path, raw, 0o600)
		if c, err := Open(path, &Options{NoCreate: true}); err == nil {
			exercise(t, c)
			c.Close()
		}
	})
}

// exercise runs every kind of operation; errors are expected, crashes not.
func exercise(t *testing.T, c *Cache) {
	for i := 0; i < 80; i++ {
		k := []byte(fmt.Sprint("key", i))
		c.Get(k)
		c.Peek(nil, k)
		c.Set(k, make([]byte, i*11), 0)
		c.IncrInit(k, 1, 0, 0)
		c.Delete(k)
		c.Add(k, []byte("x"), time.Hour)
		c.RPush([]byte(fmt.Sprint("list", i%3)), []byte("x"), TypeBytes)
	}
	c.Keys(0)
	c.FlushExpired(0)
	c.Len()
	c.Stats()
	if _, err := c.Check(); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check: %v", err)
	}
	c.Flush()
	// After Flush every shard is rebuilt from scratch: it must be clean and
	// work again.
	if ps, err := c.Check(); err == nil {
		for _, p := range ps {
			if p.Msg != "dirty mark set with no mutation under way" {
				t.Fatalf("after Flush: %v", p)
			}
		}
	}
}

// FuzzReadUnlocked overwrites bytes of a populated shard (its buckets,
// entry headers, keys and values; not its lock or change sequence) and
// reads every key through the lock-free path and through Peek, which reads
// the same bytes under the lock. Whatever the bytes, the lock-free read
// must return, and whenever both answer they must give the same value and
// metadata: a check the lock-free path skipped would show as a difference.
func FuzzReadUnlocked(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0xff})
	f.Add([]byte{0x10, 0x04, 0, 0, 0x07, 0x30, 0x08, 0, 0, 0x00})
	f.Add([]byte("\x00\x01\x00\x00\xff\x04\x01\x00\x00\xff\x08\x01\x00\x00\xff"))
	f.Fuzz(fuzzReadUnlockedBody)
}

func fuzzReadUnlockedBody(t *testing.T, data []byte) {
	{
		c := newCache(t, &Options{Size: 64 << 10, Shards: 1})
		var keys [][]byte
		for i := 0; i < 40; i++ {
			k := []byte(fmt.Sprint("key", i))
			keys = append(keys, k)
			c.Write(k, make([]byte, i*5), WriteOptions{TTL: time.Duration(i%3) * time.Hour, Flags: uint32(i % 2)})
		}
		s := &c.shards[0]
		shard := c.r.Data()[cacheHeaderSize : cacheHeaderSize+s.g.stride]
		for b := data; len(b) >= 5; b = b[5:] {
			off := shardHeaderSize + int(binary.LittleEndian.Uint32(b))%(len(shard)-shardHeaderSize)
			shard[off] = b[4]
		}
		for _, k := range keys {
			if err := s.begin(); err != nil {
				t.Fatal(err)
			}
			v1, m1, st1, err1, ok := s.readUnlocked(nil, k, hashKey(k), ReadOptions{Stale: true, Absent: true})
			var err error
			s.end(&err)
			if !ok {
				continue
			}
			v2, m2, st2, err2 := c.Peek(nil, k)
			if errors.Is(err2, ErrCorrupt) {
				continue // Peek's fuller checks refused what the lock-free path did not need
			}
			if !errors.Is(err1, err2) && !(err1 == nil && err2 == nil) || string(v1) != string(v2) || m1 != m2 || st1 != st2 {
				t.Fatalf("%s: lock-free read %q %+v %v %v, Peek %q %+v %v %v", k, v1, m1, st1, err1, v2, m2, st2, err2)
			}
		}
	}
}
