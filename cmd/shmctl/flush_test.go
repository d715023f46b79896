package main

import (
	"testing"
)

func TestFlushExpiredThenAll(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	c := openTest(t, path)
	r := ctl(t, "-r", path, "flush", "--expired").ok(t)
	if r.stdout != "removed 1 expired entries\n" {
		t.Errorf("flush --expired: %q", r.stdout)
	}
	if n, _ := c.Len(); n != fixtureLive {
		t.Errorf("after flush --expired: %d entries, want %d", n, fixtureLive)
	}
	if st, _ := c.Stats(); st.Expirations != 1 {
		t.Errorf("expirations %d, want 1", st.Expirations)
	}
	ctl(t, "-r", path, "flush").ok(t)
	if n, _ := c.Len(); n != 0 {
		t.Errorf("after flush: %d entries", n)
	}
	if st, _ := c.Stats(); st.UsedBytes != 0 || st.Sets != fixtureSets {
		t.Errorf("after flush: %d bytes used, %d sets (counters are kept)", st.UsedBytes, st.Sets)
	}
	// The cache goes on serving its processes.
	ctl(t, "-r", path, "set", "after", "flush").ok(t)
	ctl(t, "-r", path, "check").ok(t)
	ctl(t, "-r", path, "flush", "now").failed(t, exitUsage, "wrong number of arguments")
}

func TestFlushUnderLoad(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	ctl(t, "-r", path, "flush").ok(t)
	ctl(t, "-r", path, "check").ok(t)
	if _, _, _, err := openTest(t, path).Peek(nil, []byte("user:000")); err == nil {
		t.Error("a fixture entry survived flush")
	}
}
