package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
)

// TestXXH64 holds xxh64.h to what lru does: its hash to xxhash.Sum64, its
// shard selection to lru.Cache.ShardOf of real caches of 1, 2, 16 and 4096
// shards, its bucket selection to lru's uint32(h) & (nbuckets-1). The
// inputs: every length from 0 to 300, and thousands of random lengths up
// to 1 MiB, at every alignment. The probe runs under UBSan, so a shift by
// 64 (the one-shard case) or a misaligned load traps instead of passing by
// luck.
func TestXXH64(t *testing.T) {
	cc := testenv.Need(t, "gcc")
	inc, _ := filepath.Abs(".")
	bin := filepath.Join(t.TempDir(), "xxh64_probe")
	if out, err := exec.Command(cc, "-std=c11", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2",
		"-fsanitize=undefined", "-fno-sanitize-recover=all", "-I", inc, "-o", bin, "test/xxh64_probe.c").CombinedOutput(); err != nil {
		t.Fatalf("compiling test/xxh64_probe.c: %v\n%s", err, out)
	}

	shardCounts := []int{1, 2, 16, 4096}
	bucketCounts := []uint32{1, 2, 1024, 1 << 30}
	caches := make([]*lru.Cache, len(shardCounts))
	for i, n := range shardCounts {
		c, err := lru.Open(filepath.Join(t.TempDir(), "region"), &lru.Options{Size: max(1<<20, int64(n)*8<<10), Shards: n})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.Geometry().Shards != n {
			t.Fatalf("asked for %d shards, got %d", n, c.Geometry().Shards)
		}
		caches[i] = c
	}

	rng := rand.New(rand.NewPCG(10, 64))
	var inputs [][]byte
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for n := 0; n <= 300; n++ {
		inputs = append(inputs, random(n))
	}
	for i := 0; i < 3000; i++ {
		switch r := rng.IntN(100); {
		case r < 70:
			inputs = append(inputs, random(rng.IntN(65)))
		case r < 95:
			inputs = append(inputs, random(65+rng.IntN(4096)))
		default:
			inputs = append(inputs, random(4096+rng.IntN(64<<10)))
		}
	}
	inputs = append(inputs, random(1<<20), random(1<<20-1), random(1<<20+31), bytes.Repeat([]byte{0xff}, 1000))

	var in bytes.Buffer
	le := binary.LittleEndian
	in.Write(le.AppendUint32(nil, uint32(len(shardCounts))))
	for _, n := range shardCounts {
		in.Write(le.AppendUint32(nil, uint32(n)))
		in.Write(le.AppendUint32(nil, uint32(64-bits.TrailingZeros(uint(n))))) // lru's shardShift (layout.go)
	}
	in.Write(le.AppendUint32(nil, uint32(len(bucketCounts))))
	for _, n := range bucketCounts {
		in.Write(le.AppendUint32(nil, n))
	}
	var want []string
	for _, n := range shardCounts {
		want = append(want, fmt.Sprintf("shift %d %d", n, 64-bits.TrailingZeros(uint(n))))
	}
	for i, key := range inputs {
		in.Write(le.AppendUint64(nil, uint64(len(key))))
		in.WriteByte(byte(i % 8))
		in.Write(key)

		h := xxhash.Sum64(key)
		line := fmt.Sprintf("%016x", h)
		for _, c := range caches {
			line += fmt.Sprintf(" %d", c.Binding().ShardOf(key))
		}
		for _, n := range bucketCounts {
			line += fmt.Sprintf(" %d", uint32(h)&(n-1)) // as lru/buckets.go picks a bucket
		}
		want = append(want, line)
	}

	cmd := exec.Command(bin)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xxh64_probe: %v\n%s", err, stderr.Bytes())
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("xxh64_probe printed %d lines for %d inputs; stderr:\n%s", len(got), len(want), stderr.Bytes())
	}
	bad := 0
	for i := range want {
		if got[i] != want[i] {
			if bad++; bad <= 10 {
				what := "header"
				if j := i - len(shardCounts); j >= 0 {
					what = fmt.Sprintf("input %d (%d bytes)", j, len(inputs[j]))
				}
				t.Errorf("%s:\n  C:  %s\n  Go: %s", what, got[i], want[i])
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d lines differ in all", bad)
	}
}
