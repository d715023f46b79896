package main

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/shmlru/shmlru/lru"
)

// snapshot is what a read must not change: every counter and fill figure,
// every shard's entries in LRU order with their versions, and every byte
// of the data area (which holds the reference marks and the read counters
// too).
type snapshot struct {
	stats lru.Stats
	order []string
	data  []byte
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
	s.data = bytes.Clone(c.Binding().Region().Data())
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
	// The control: a client's Get of user:000 marks it and counts a hit,
	// and a Set moves it to the head: the snapshot sees each.
	if _, err := c.Get([]byte("user:000")); err != nil {
		t.Fatal(err)
	}
	got := takeSnapshot(t, c)
	if bytes.Equal(got.data, after.data) || got.stats.Hits != after.stats.Hits+1 {
		t.Errorf("the snapshot does not see a Get: hits %d, data area changed %v", got.stats.Hits, !bytes.Equal(got.data, after.data))
	}
	if err := c.Set([]byte("user:000"), []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if moved := takeSnapshot(t, c); reflect.DeepEqual(moved.order, got.order) {
		t.Errorf("the snapshot does not see a Set move its entry: order %v", moved.order)
	}
}
