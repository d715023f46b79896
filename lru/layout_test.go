package lru

import (
	"math/rand/v2"
	"testing"

	"github.com/shmlru/shmlru/shm"
)

// Every geometry plan accepts must be one readGeometry accepts, and fit the
// data area: a round trip over many sizes and options.
func TestPlanRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		size := int64(64<<10 + rng.IntN(256<<20))
		o := Options{Size: size}
		if rng.IntN(2) == 0 {
			o.MaxEntries = 1 + rng.IntN(1<<20)
		}
		if rng.IntN(3) == 0 {
			o.Shards = 1 << rng.IntN(7)
		}
		if rng.IntN(3) == 0 {
			o.MaxValueSize = 1 + rng.IntN(1<<16)
		}
		data := shm.DataSize(size, 0)
		g, err := plan(data, shm.DefaultSlots, &o)
		if err != nil {
			continue // refused options are tested elsewhere
		}
		h := g.header()
		g2, err := readGeometry(&h, int(data))
		if err != nil {
			t.Fatalf("plan(%d, %+v) made a geometry readGeometry refuses: %v", data, o, err)
		}
		if g2 != g {
			t.Fatalf("round trip changed the geometry: %+v -> %+v", g, g2)
		}
	}
}

// The combination the bench hit: 16 MiB, MaxEntries shrinking the heap to
// fill a shard whose size is not a multiple of 64.
func TestPlanBenchCase(t *testing.T) {
	data := shm.DataSize(16<<20, 0)
	for _, o := range []Options{
		{Size: 16 << 20, MaxEntries: 1 << 20, MaxValueSize: 4096},
		{Size: 16 << 20, MaxEntries: 65536, MaxValueSize: 4096},
	} {
		g, err := plan(data, shm.DefaultSlots, &o)
		if err != nil {
			t.Fatal(err)
		}
		h := g.header()
		if _, err := readGeometry(&h, int(data)); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
	}
}
