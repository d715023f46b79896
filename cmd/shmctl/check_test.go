package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckHealthyLiveCache(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	r := ctl(t, "-r", path, "check").ok(t)
	if !strings.HasPrefix(r.stdout, "ok: "+path+", 4 shards, no problems\n") {
		t.Errorf("check: %q", r.stdout)
	}
	var doc checkDoc
	if err := json.Unmarshal([]byte(ctl(t, "-r", path, "check", "--json").ok(t).stdout), &doc); err != nil || !doc.OK || len(doc.Problems) != 0 {
		t.Errorf("check --json: %+v %v", doc, err)
	}
}

// corruptEntryCount adds 3 to shard 0's entry count in the region file.
func corruptEntryCount(t *testing.T, path string) {
	t.Helper()
	r, err := openRegionFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.f.Close()
	sh, err := r.shard0()
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.u32(sh + shardEntries)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.put32(sh+shardEntries, n+3); err != nil {
		t.Fatal(err)
	}
}

func TestCheckReportsProblems(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	corruptEntryCount(t, path)
	r := ctl(t, "-r", path, "check")
	r.failed(t, exitFail, "problems found")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) < 1 || r.stdout == "" {
		t.Fatalf("no problem printed: %q", r.stdout)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "shard 0: ") {
			t.Errorf("problem line %q", l)
		}
	}
	if !strings.Contains(r.stdout, "entry count") {
		t.Errorf("check did not name the entry count:\n%s", r.stdout)
	}
	jr := ctl(t, "-r", path, "check", "--json")
	jr.failed(t, exitFail, "problems found")
	var doc checkDoc
	if err := json.Unmarshal([]byte(jr.stdout), &doc); err != nil || doc.OK || len(doc.Problems) != len(lines) || doc.Problems[0].Shard != 0 {
		t.Errorf("check --json: %+v %v", doc, err)
	}
	// check changed nothing: the problem is still there.
	ctl(t, "-r", path, "check").failed(t, exitFail, "problems found")
}

// check --repair resets a shard that is corrupt with no dead owner in
// sight, says so, and the cache is clean after it; with --json the repairs
// are listed too.
func TestCheckRepairResetsACorruptShard(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	healthy := ctl(t, "-r", path, "check", "--repair", "--json").ok(t)
	var doc checkDoc
	if err := json.Unmarshal([]byte(healthy.stdout), &doc); err != nil || !doc.OK || doc.Repaired == nil || len(*doc.Repaired) != 0 || len(doc.Problems) != 0 {
		t.Errorf("check --repair --json of a healthy cache: %s %v", healthy.stdout, err)
	}
	before := inspectJSON(t, path)
	corruptEntryCount(t, path)
	ctl(t, "-r", path, "check").failed(t, exitFail, "problems found; 'shmctl check --repair' repairs them")
	r := ctl(t, "-r", path, "check", "--repair").ok(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "repaired shard 0: ") || !strings.Contains(lines[0], "entry count") ||
		!strings.Contains(lines[0], "reset the shard") || lines[1] != "ok: "+path+", 4 shards, no problems" {
		t.Errorf("check --repair:\n%s", r.stdout)
	}
	after := inspectJSON(t, path)
	if s := after.Shards[0]; s.Entries != 0 || s.Counters.Resets != 1 || s.Counters.Recoveries != 0 ||
		after.Entries != before.Entries-before.Shards[0].Entries {
		t.Errorf("after the repair: shard 0 %+v, %d entries (had %d)", s, after.Entries, before.Entries)
	}
	ctl(t, "-r", path, "check").ok(t)
	if r := ctl(t, "-r", path, "check", "--repair").ok(t); r.stdout != "nothing to repair\nok: "+path+", 4 shards, no problems\n" {
		t.Errorf("check --repair once repaired: %q", r.stdout)
	}
}
