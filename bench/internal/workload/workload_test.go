package workload

import (
	"math"
	"testing"
)

// opKey is operation i's key.
func opKey(t *Trace, i int) []byte { return t.Keys[i*t.KeySize : (i+1)*t.KeySize] }

func TestKeysUniqueAndSized(t *testing.T) {
	for _, ks := range []int{16, 32, 64} {
		seen := map[string]bool{}
		b := make([]byte, ks)
		for i := uint64(0); i < 50000; i++ {
			Key(b, i)
			if seen[string(b)] {
				t.Fatalf("key size %d: duplicate key for id %d", ks, i)
			}
			seen[string(b)] = true
			for _, c := range b {
				if c <= ' ' || c > '~' {
					t.Fatalf("key %q has a byte memcached refuses", b)
				}
			}
		}
	}
}

func TestTraceDeterministicAndShaped(t *testing.T) {
	for _, s := range []Spec{
		{Size: Sizes[0], Hot: 0.95, ReadFrac: 0.9, Capacity: 4096},
		{Size: Sizes[0], Hot: 0.30, Zipf: true, ReadFrac: 0.5, Capacity: 4096},
	} {
		a, b := NewTrace(s, 100000, 1), NewTrace(s, 100000, 1)
		if string(a.Keys) != string(b.Keys) || string(a.Ops) != string(b.Ops) {
			t.Fatalf("%s: same seed, different traces", s.Name())
		}
		gets, hot := 0, 0
		hotKeys := map[string]bool{}
		for _, k := range KeySet(s.Size.Key, s.HotKeys(), 0) {
			hotKeys[string(k)] = true
		}
		for i := 0; i < a.Len(); i++ {
			if a.Ops[i] == Get {
				gets++
			}
			if hotKeys[string(opKey(a, i))] {
				hot++
			}
		}
		if r := float64(gets) / float64(a.Len()); math.Abs(r-s.ReadFrac) > 0.01 {
			t.Errorf("%s: get share %.3f", s.Name(), r)
		}
		if r := float64(hot) / float64(a.Len()); math.Abs(r-s.Hot) > 0.01 {
			t.Errorf("%s: hot share %.3f", s.Name(), r)
		}
	}
}

func TestZipfSkew(t *testing.T) {
	ids := ZipfTrace(1000, 200000, ZipfS, 3)
	var c [1000]int
	for _, id := range ids {
		c[id]++
	}
	// P(rank 0) / P(rank 9) = 10^0.99
	if r := float64(c[0]) / float64(c[9]); r < 8 || r > 12 {
		t.Errorf("rank 0 / rank 9 = %.2f, want about %.2f", r, math.Pow(10, ZipfS))
	}
	if c[0] < c[1] || c[1] < c[50] {
		t.Errorf("not decreasing: %d %d %d", c[0], c[1], c[50])
	}
}

func TestColdKeysNeverRecur(t *testing.T) {
	s := Spec{Size: Sizes[1], Hot: 0.3, ReadFrac: 0.9, Capacity: 1024}
	tr := NewTrace(s, 20000, 1)
	hot := map[string]bool{}
	for _, k := range KeySet(s.Size.Key, s.HotKeys(), 0) {
		hot[string(k)] = true
	}
	seen := map[string]bool{}
	for pass := 0; pass < 3; pass++ {
		for _, p := range tr.ColdPos {
			k := string(opKey(tr, int(p)))
			if seen[k] || hot[k] {
				t.Fatalf("pass %d: cold key %q recurs", pass, k)
			}
			seen[k] = true
		}
		tr.NextEpoch()
	}
}
