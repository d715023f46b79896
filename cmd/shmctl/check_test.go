package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
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

// corruptEntryCount adds 3 to shard 0's entry count in the region file. The
// offsets are those of shm/header.go (dataOff at byte 48) and lru/layout.go
// (a 256-byte cache header, then shard 0, whose entries field is at 28).
func corruptEntryCount(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], 48); err != nil {
		t.Fatal(err)
	}
	off := int64(binary.NativeEndian.Uint64(b[:])) + 256 + 28
	if _, err := f.ReadAt(b[:4], off); err != nil {
		t.Fatal(err)
	}
	binary.NativeEndian.PutUint32(b[:4], binary.NativeEndian.Uint32(b[:4])+3)
	if _, err := f.WriteAt(b[:4], off); err != nil {
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
