package near

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkGetHit is a near-cache hit (bench/ section 10 sets it against
// a Redis GET).
func BenchmarkGetHit(b *testing.B) {
	r := startRedis(b)
	c := newClient(b, options(b, regionPath(b, "a"), r.Addr()))
	inStep(b, c.Cache())
	ctx := context.Background()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%012d", i)
		c.Set(ctx, keys[i], []byte("0123456789abcdef0123456789abcdef"), 0)
		c.Get(ctx, keys[i])
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Get(ctx, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
}
