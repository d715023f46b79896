// Package workload generates the benchmark's key sets and operation traces.
//
// Everything is deterministic for a given Spec and seed, so that every peer,
// and every child process of a multi-process run, replays the same keys.
// Keys and operations are generated before any timing starts: the timed
// loops only index into flat byte arrays.
package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Size is a key/value size pair.
type Size struct{ Key, Value int }

func (s Size) String() string { return fmt.Sprintf("%s/%s", byteSize(s.Key), byteSize(s.Value)) }

func byteSize(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

// Sizes are the key/value sizes measured: small, medium and large values.
var Sizes = []Size{{16, 32}, {32, 512}, {64, 4096}}

// Spec describes a mixed workload.
//
// Each operation picks a key: with probability Hot from the hot set (Hot*
// HotFill*Capacity keys, uniform or Zipf-popular), otherwise a cold key that
// occurs once in the trace (a one-hit wonder). Then it is a get with
// probability ReadFrac, else a set. A get that misses is followed by a set of
// the same key (cache-aside); both count as one operation. With a cache of
// Capacity entries the hot set stays resident and the hit rate comes out
// close to Hot.
type Spec struct {
	Size     Size
	Hot      float64 // target hit rate: the share of operations on hot keys
	Zipf     bool    // hot keys Zipf(0.99)-popular, else uniform
	ReadFrac float64 // share of gets
	Capacity int     // entries the caches are sized for
}

// HotFill is the hot set's size as a share of Hot*Capacity: below 1 so that
// cold inserts do not push hot keys out of an LRU of Capacity entries.
const HotFill = 0.6

// ZipfS is the Zipf exponent of the skewed workloads.
const ZipfS = 0.99

// HotKeys is the size of the hot set.
func (s Spec) HotKeys() int { return max(1, int(float64(s.Capacity)*s.Hot*HotFill)) }

// Name is a short label: "16B/32B hit95 zipf r90".
func (s Spec) Name() string {
	pop := "unif"
	if s.Zipf {
		pop = "zipf"
	}
	return fmt.Sprintf("%s hit%d %s r%d", s.Size, int(math.Round(s.Hot*100)), pop, int(math.Round(s.ReadFrac*100)))
}

// Key writes the key of id into dst (len(dst) is the key size): a fixed
// prefix and 16 hex digits of a bijective mix of id, so keys are unique,
// printable (memcached accepts them) and spread over hash buckets.
func Key(dst []byte, id uint64) {
	const hexd = "0123456789abcdef"
	x := mix(id)
	n := len(dst)
	for i := 0; i < n-16; i++ {
		dst[i] = "shmlru-bench-key:"[i%17]
	}
	for i := n - 1; i >= 0 && i >= n-16; i-- {
		dst[i] = hexd[x&15]
		x >>= 4
	}
}

// mix is a bijection on uint64 (splitmix64's finaliser).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Value returns a value of n bytes.
func Value(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// Zipf samples ranks 0..n-1 with P(r) proportional to 1/(r+1)^s, for any
// s > 0 (math/rand's Zipf needs s > 1), by inverting a precomputed CDF.
type Zipf struct{ cdf []float64 }

// NewZipf builds the CDF for n ranks.
func NewZipf(n int, s float64) *Zipf {
	z := &Zipf{cdf: make([]float64, n)}
	var sum float64
	for i := range z.cdf {
		sum += math.Pow(float64(i+1), -s)
		z.cdf[i] = sum
	}
	for i := range z.cdf {
		z.cdf[i] /= sum
	}
	return z
}

// Rank draws a rank.
func (z *Zipf) Rank(r *rand.Rand) int {
	u := r.Float64()
	return sort.SearchFloat64s(z.cdf, u)
}

// Op kinds.
const (
	Get uint8 = iota
	Set
)

// Trace is a pre-generated sequence of operations.
type Trace struct {
	KeySize int
	Keys    []byte  // len(Ops)*KeySize bytes: operation i's key is Keys[i*KeySize:][:KeySize]
	Ops     []uint8 // Get or Set
	HotIDs  int     // ids below this are hot keys
	ColdPos []int32 // operations whose key is cold
	epoch   int
}

// coldMark is the byte of a key that tells cold keys apart: the first of
// its 16 hex digits, which a cold key has replaced by a letter above 'f'
// that changes with every pass over the trace (NextEpoch), so that a cold
// key never recurs within 20 passes and stays a one-hit wonder.
func (t *Trace) coldMark(i int) *byte { return &t.Keys[(i+1)*t.KeySize-16] }

// NextEpoch renames every cold key of the trace: replay calls it each time
// it wraps around.
func (t *Trace) NextEpoch() {
	t.epoch++
	c := byte('g' + t.epoch%20)
	for _, p := range t.ColdPos {
		*t.coldMark(int(p)) = c
	}
}

// Clone returns a copy that can be replayed (and renamed) independently.
func (t *Trace) Clone() *Trace {
	c := *t
	c.Keys = append([]byte(nil), t.Keys...)
	return &c
}

// Len is the number of operations.
func (t *Trace) Len() int { return len(t.Ops) }

// coldBase is where cold key ids start, far above any hot id.
const coldBase = 1 << 40

// NewTrace generates n operations of spec s from seed.
func NewTrace(s Spec, n int, seed uint64) *Trace {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	t := &Trace{KeySize: s.Size.Key, Keys: make([]byte, n*s.Size.Key), Ops: make([]uint8, n), HotIDs: s.HotKeys()}
	var z *Zipf
	if s.Zipf {
		z = NewZipf(t.HotIDs, ZipfS)
	}
	cold := uint64(coldBase) + seed<<32
	for i := 0; i < n; i++ {
		var id uint64
		if r.Float64() < s.Hot {
			if z != nil {
				id = uint64(z.Rank(r))
			} else {
				id = uint64(r.IntN(t.HotIDs))
			}
		} else {
			id = cold
			cold++
		}
		Key(t.Keys[i*t.KeySize:(i+1)*t.KeySize], id)
		if id >= coldBase {
			t.ColdPos = append(t.ColdPos, int32(i))
			*t.coldMark(i) = 'g'
		}
		if r.Float64() >= s.ReadFrac {
			t.Ops[i] = Set
		}
	}
	return t
}

// KeySet returns the keys of ids first to first+n-1; those from 0 are the
// hot keys, for pre-filling a cache.
func KeySet(keySize, n int, first uint64) [][]byte {
	keys := make([][]byte, n)
	buf := make([]byte, n*keySize)
	for i := range keys {
		keys[i] = buf[i*keySize : (i+1)*keySize : (i+1)*keySize]
		Key(keys[i], first+uint64(i))
	}
	return keys
}

// ZipfTrace is a plain Zipf(s) key-id trace over a universe of n keys, for
// the hit-ratio figure.
func ZipfTrace(n, length int, s float64, seed uint64) []uint32 {
	r := rand.New(rand.NewPCG(seed, 0x21bf))
	z := NewZipf(n, s)
	ids := make([]uint32, length)
	for i := range ids {
		ids[i] = uint32(z.Rank(r))
	}
	return ids
}
