package lru

import (
	"math/bits"
	"testing"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/shm"
)

// For every shard count, at the smallest size its options fit and above,
// with and without MaxEntries: the stripes are a power of two in range,
// their table and ring lie between the buckets and the free bitmap on
// cache lines, the geometry round-trips, and a key's stripe takes hash
// bits that neither its shard nor its bucket uses (format.StripeOf's
// promise), so that the keys of a shard spread over all its stripes.
func TestStripesGeometryEveryShardCount(t *testing.T) {
	checked := 0
	for sb := 0; 1<<sb <= MaxShards; sb++ {
		for _, maxEntries := range []int{0, 1, 1000, 1 << 20} {
			o := Options{Shards: 1 << sb, MaxEntries: maxEntries}
			least := minSize(&o)
			if least == 0 {
				continue
			}
			for _, size := range []int64{least, 2 * least, least + 64<<20} {
				o.Size = size
				data := shm.DataSize(size, 0)
				g, err := plan(data, shm.DefaultSlots, &o)
				if err != nil {
					continue // fitting is not monotone (minSize's doc)
				}
				if g.stripes < format.MinStripes || g.stripes > format.MaxStripes || g.stripes&(g.stripes-1) != 0 || g.ring != format.RingFor(g.stripes) {
					t.Fatalf("%+v: %d stripes, ring %d", o, g.stripes, g.ring)
				}
				if g.stripesOff < g.bucketsOff+4*g.nbuckets || g.stripesOff%64 != 0 || g.ringOff < g.stripesOff+8*g.stripes ||
					g.ringOff%64 != 0 || g.bitsOff < g.ringOff+4*g.ring {
					t.Fatalf("%+v: buckets end %d, stripes %d, ring %d, bitmap %d", o, g.bucketsOff+4*g.nbuckets, g.stripesOff, g.ringOff, g.bitsOff)
				}
				checked++
				h := g.header()
				if g2, err := readGeometry(&h, int(data)); err != nil || g2 != g {
					t.Fatalf("%+v: round trip: %v", o, err)
				}
				stripeBits := bits.TrailingZeros(uint(g.stripes))
				bucketBits := bits.TrailingZeros(uint(g.nbuckets))
				shardLow := 64 - sb
				if bucketBits > format.StripeShift || format.StripeShift+stripeBits > shardLow {
					t.Fatalf("%+v: buckets take hash bits below %d, stripes %d to %d, the shard from %d", o, bucketBits, format.StripeShift, format.StripeShift+stripeBits, shardLow)
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d geometries checked", checked)
	}
}
