package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func inspectJSON(t *testing.T, path string) report {
	t.Helper()
	var rep report
	r := ctl(t, "-r", path, "inspect", "--json").ok(t)
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	return rep
}

func TestInspectLiveCache(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	r := ctl(t, "-r", path, "inspect").ok(t)
	for _, want := range []string{
		"region        " + path, "attached      1 other process\n", "geometry      4 shards x ",
		"capacity      4 MiB", "fill ", "hit ratio     ", "evictions     ", "expirations   ",
		"recoveries    ", "oldest entry  n/a", "locks         ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, r.stdout)
		}
	}
	// The shard table: a header and one row per shard, columns aligned
	// (every row as long as the header up to the LOCK column).
	lines := strings.Split(strings.TrimSpace(r.stdout[strings.Index(r.stdout, "SHARD"):]), "\n")
	if len(lines) != 1+fixtureShards {
		t.Fatalf("shard table has %d lines, want %d:\n%s", len(lines), 1+fixtureShards, r.stdout)
	}
	lockCol := strings.Index(lines[0], "LOCK")
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, string(rune('0'+i))+" ") || len(l) < lockCol || l[lockCol-2:lockCol] != "  " {
			t.Errorf("shard row %d misaligned: %q (LOCK at %d)", i, l, lockCol)
		}
	}

	rep := inspectJSON(t, path)
	if rep.Geometry.Shards != fixtureShards || rep.CapacityBytes != fixtureSize || len(rep.Shards) != fixtureShards {
		t.Errorf("geometry %+v, capacity %d, %d shards", rep.Geometry, rep.CapacityBytes, len(rep.Shards))
	}
	if rep.Entries < fixtureLive || rep.Counters.Sets < fixtureSets+100 || rep.Counters.Hits+rep.Counters.Misses == 0 {
		t.Errorf("a busy cache shows %d entries, counters %+v", rep.Entries, rep.Counters)
	}
	if rep.UsedBytes+rep.FreeBytes != rep.StorageBytes || rep.UsedBytes == 0 || rep.Attached != 1 || rep.OldestAgeSeconds != nil {
		t.Errorf("report %+v", rep)
	}
	sum := 0
	for _, s := range rep.Shards {
		sum += s.Entries
	}
	if sum != rep.Entries {
		t.Errorf("shards hold %d entries, total %d", sum, rep.Entries)
	}
	if alias := ctl(t, "-r", path, "info").ok(t); !strings.Contains(alias.stdout, "oldest entry") {
		t.Errorf("info is not inspect:\n%s", alias.stdout)
	}
}

func TestInspectCountsExpired(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	rep := inspectJSON(t, path)
	if rep.Entries != fixtureLive+1 || rep.Expired != 1 {
		t.Errorf("entries %d (want %d), expired %d (want 1)", rep.Entries, fixtureLive+1, rep.Expired)
	}
	r := ctl(t, "-r", path, "inspect").ok(t)
	if !strings.Contains(r.stdout, "(1 expired, not yet removed)") {
		t.Errorf("inspect does not show the expired entry:\n%s", r.stdout)
	}
}

// A process killed while it holds a shard's lock: inspect names it as the
// dead owner. (Reading that shard's counters then takes the lock over, as
// any client's next operation would: the shard shows one recovery.)
func TestInspectShowsDeadLockOwner(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	locker := startChild(t, "lock", path)
	pid := locker.cmd.Process.Pid
	locker.kill(t)
	rep := inspectJSON(t, path)
	l := rep.Shards[0].Lock
	if !l.Held || l.Pid != pid || l.Alive {
		t.Fatalf("shard 0 lock %+v, want held by dead pid %d", l, pid)
	}
	if rep.Shards[0].Counters.Recoveries != 1 || rep.Shards[0].Counters.Resets != 0 {
		t.Errorf("shard 0 counters %+v: want one recovery, no reset", rep.Shards[0].Counters)
	}
	// Recovered: the lock is free again and the shard is intact.
	rep = inspectJSON(t, path)
	if rep.Shards[0].Lock.Held || rep.Entries != fixtureLive+1 {
		t.Errorf("after recovery: lock %+v, %d entries", rep.Shards[0].Lock, rep.Entries)
	}
	ctl(t, "-r", path, "check").ok(t)
}

func TestLockState(t *testing.T) {
	for _, c := range []struct {
		l    lockJSON
		want string
	}{
		{lockJSON{}, "free"},
		{lockJSON{Held: true, Pid: 12, Alive: true}, "held by pid 12"},
		{lockJSON{Held: true, Pid: 13}, "held by dead pid 13 (next locker recovers it)"},
	} {
		if got := lockState(c.l); got != c.want {
			t.Errorf("lockState(%+v) = %q, want %q", c.l, got, c.want)
		}
	}
}
