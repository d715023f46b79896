package main

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/shmlru/shmlru/lru"
)

// snapshot is what a read must not change: every counter and fill figure,
// and every shard's entries in LRU order with their versions.
type snapshot struct {
	stats lru.Stats
	order []string
}

func takeSnapshot(t *testing.T, c *lru.Cache) snapshot {
	t.Helper()
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var s snapshot
	s.stats = st
	err = c.Range(func(key []byte, m lru.Meta, size int) bool {
		s.order = append(s.order, fmt.Sprintf("%q %s v%d %dB", key, m.Type, m.Version, size))
		return true
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every read subcommand, with every output format, leaves the LRU order
// and the counters exactly as they were. The region's creator stays
// attached (idle, so that nothing else changes it meanwhile).
func TestReadSubcommandsChangeNothing(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	c := openTest(t, path)
	before := takeSnapshot(t, c)
	if len(before.order) != fixtureLive+1 {
		t.Fatalf("fixture has %d entries", len(before.order))
	}
	runs := [][]string{
		{"inspect"}, {"inspect", "--json"}, {"info"},
		{"stats"}, {"stats", "--format", "json"}, {"stats", "--format", "prometheus"},
		{"keys"}, {"keys", "--json", "--expired"}, {"keys", "--prefix", "user:", "--limit", "3"},
		{"get", "user:000"}, {"get", "--json", "num"}, {"get", "--stale", "gone"}, {"get", "ttl"},
		{"check"}, {"check", "--json"},
		{"watch", "--count", "2", "--interval", "1ms"},
	}
	for _, args := range runs {
		ctl(t, append([]string{"-r", path}, args...)...).ok(t)
	}
	// Misses are not counted either.
	ctl(t, "-r", path, "get", "no-such-key").failed(t, exitFail, "not found")
	ctl(t, "-r", path, "get", "gone").failed(t, exitFail, "not found")
	after := takeSnapshot(t, c)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("reads changed the cache:\nbefore %+v\nafter  %+v", before, after)
	}
	// The control: a client's Get of user:000, the least recently used
	// entry of its shard, moves it and counts a hit, and the snapshot sees it.
	if _, err := c.Get([]byte("user:000")); err != nil {
		t.Fatal(err)
	}
	moved := takeSnapshot(t, c)
	if reflect.DeepEqual(moved.order, after.order) || moved.stats.Hits != after.stats.Hits+1 {
		t.Errorf("the snapshot does not see a Get: order %v, hits %d", moved.order, moved.stats.Hits)
	}
}
