package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/shm"
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

// keyShards maps the fixture's keys to their shards, as keys --json says.
func keyShards(t *testing.T, path string) map[string]int {
	t.Helper()
	var list []keyJSON
	if err := json.Unmarshal([]byte(ctl(t, "-r", path, "keys", "--json", "--expired").ok(t).stdout), &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, k := range list {
		m[k.Key] = k.Shard
	}
	return m
}

// dataArea returns the region's data area (the cache header and every
// shard) as the file holds it now.
func dataArea(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := binary.NativeEndian.Uint64(b[fileDataOff:])
	return b[off:]
}

// A process that dies holding a shard's lock leaves the shard as it was at
// that instant, and every read subcommand shows it so and repairs nothing:
// no recovery or reset is counted, the lock stays with no one alive, the
// dirty mark stays, and the data area keeps every byte but the lock word
// (which the first observer hands back as an "orphan", for the next writer
// to repair). Then check --repair repairs, says what it did, and check
// finds the cache clean.
func TestDeadLockOwnerShownAsItIsUntilRepaired(t *testing.T) {
	for _, tc := range []struct {
		mode     string // child mode: how it leaves shard 0 (see leaveShard)
		dirty    bool
		broken   string // why get and keys refuse shard 0; "" if they read it
		problems []string
		repaired string // what check --repair says it did
	}{{
		mode:     "lock", // died between changes
		problems: []string{"lock held by pid %d (found dead earlier by an observer), which died"},
		repaired: "took the lock over; the shard was whole",
	}, {
		mode:     "lock-dirty", // died mid-change
		dirty:    true,
		broken:   "left mid-change by a process that died; the next Get or write to it, or Repair (`shmctl check --repair`), repairs it",
		problems: []string{"lock held by pid %d (found dead earlier by an observer), which died", "dirty mark set: a process died in the middle of a change"},
		repaired: "mid-change: took the lock over and reset the shard",
	}, {
		mode:     "lock-queue", // died moving an entry in the LRU queue
		broken:   "a process died while moving an entry in the LRU queue; the next Get or write to it, or Repair (`shmctl check --repair`), rebuilds the queue",
		problems: []string{"lock held by pid %d (found dead earlier by an observer), which died", "entry count"},
		repaired: "while moving an entry: took the lock over and rebuilt the LRU queue from the bucket chains (no entry lost)",
	}} {
		t.Run(tc.mode, func(t *testing.T) {
			deadOwnerShownThenRepaired(t, tc.mode, tc.dirty, tc.broken, tc.problems, tc.repaired)
		})
	}
}

func deadOwnerShownThenRepaired(t *testing.T, mode string, dirty bool, broken string, problems []string, repaired string) {
	path, _ := liveRegion(t, "hold")
	shards := keyShards(t, path)
	var in0, notIn0 string // a key of shard 0, and one of another shard
	for k, si := range shards {
		if strings.HasPrefix(k, "user:") && si == 0 && (in0 == "" || k < in0) {
			in0 = k
		}
		if strings.HasPrefix(k, "user:") && si != 0 && (notIn0 == "" || k < notIn0) {
			notIn0 = k
		}
	}
	if in0 == "" || notIn0 == "" {
		t.Fatalf("no user key in shard 0 or outside it: %v", shards)
	}
	entries := fixtureLive + 1
	if dirty {
		entries++ // the half-made insert raised the count
	}

	locker := startChild(t, mode, path)
	pid := locker.cmd.Process.Pid
	locker.kill(t)
	before := dataArea(t, path)
	lockAt := cacheHeaderSize + shardLockWord
	deadWord := binary.NativeEndian.Uint32(before[lockAt:])

	// The first observer finds the dead owner by its pid ...
	rep := inspectJSON(t, path)
	s0 := rep.Shards[0]
	if l := s0.Lock; l.State != lockDead || !l.Held || l.Alive || l.Pid != pid || l.Slot == nil {
		t.Errorf("first inspect: shard 0 lock %+v, want dead pid %d with its slot", l, pid)
	}
	// ... and hands the lock back as an orphan, changing nothing else.
	orphanWord := binary.NativeEndian.Uint32(dataArea(t, path)[lockAt:])
	if orphanWord == 0 || orphanWord == deadWord {
		t.Errorf("lock word %#x after the first observer (was %#x): want it handed back to no one", orphanWord, deadWord)
	}
	unchanged := func(after string) {
		t.Helper()
		now := dataArea(t, path)
		if w := binary.NativeEndian.Uint32(now[lockAt:]); w != orphanWord {
			t.Errorf("after %s: lock word %#x, want %#x", after, w, orphanWord)
		}
		// The first observer also kept the dead owner's pid in the shard
		// header, so that later looks still name it; nothing else changes.
		deadPidAt := cacheHeaderSize + shardDeadPid
		if p := binary.NativeEndian.Uint32(now[deadPidAt:]); p != uint32(pid) {
			t.Errorf("after %s: dead owner's pid kept as %d, want %d", after, p, pid)
		}
		if !bytes.Equal(now[:lockAt], before[:lockAt]) || !bytes.Equal(now[lockAt+4:deadPidAt], before[lockAt+4:deadPidAt]) ||
			!bytes.Equal(now[deadPidAt+4:], before[deadPidAt+4:]) {
			t.Errorf("after %s: the data area changed", after)
		}
	}
	unchanged("inspect --json")
	shownAsItIs := func(rep report, what string) {
		t.Helper()
		if rep.ShardsAwaitingRepair != 1 || rep.Entries != entries || rep.Counters.Recoveries != 0 || rep.Counters.Resets != 0 {
			t.Errorf("%s: %d shards awaiting repair, %d entries (want %d), counters %+v",
				what, rep.ShardsAwaitingRepair, rep.Entries, entries, rep.Counters)
		}
		for _, s := range rep.Shards {
			awaiting := s.Shard == 0
			if s.AwaitingRepair != awaiting || s.Dirty != (dirty && awaiting) || s.Lock.Alive ||
				s.Lock.Held != awaiting || (awaiting && s.Lock.State != lockDead && s.Lock.State != lockOrphan) {
				t.Errorf("%s: shard %d: %+v", what, s.Shard, s)
			}
		}
	}
	shownAsItIs(rep, "first inspect --json")
	if broken != "" && (rep.Expired != -1 || !strings.Contains(rep.ExpiredError, broken)) {
		t.Errorf("inspect counted expired entries in a broken shard: %d, %q", rep.Expired, rep.ExpiredError)
	}
	if broken == "" && rep.Expired != 1 {
		t.Errorf("inspect: %d expired entries, want 1", rep.Expired)
	}

	// Every read subcommand, in every format, shows it.
	rep = inspectJSON(t, path)
	shownAsItIs(rep, "inspect --json")
	text := ctl(t, "-r", path, "inspect").ok(t).stdout
	wantLock := "orphan" // what lockOf makes of an orphan is TestLockOf's
	if l := rep.Shards[0].Lock; l.State == lockDead {
		wantLock = "dead pid " + strconv.Itoa(pid)
	}
	if dirty {
		wantLock += ", dirty"
	}
	wantLock += ", awaiting repair"
	for _, want := range []string{
		"recoveries    0 (0 shard resets)",
		"locks         1 of 4 held, 1 left by a dead process, not repaired",
		"repair        shard 0",
		" left locked by a process that died; 'shmctl check --repair' repairs it, as would the next write to it\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect lacks %q:\n%s", want, text)
		}
	}
	if row0 := text[strings.Index(text, "\n0 ")+1:]; !strings.HasSuffix(row0[:strings.Index(row0, "\n")], "  "+wantLock) {
		t.Errorf("inspect's row of shard 0 does not end with %q:\n%s", wantLock, text)
	}
	if dirty != strings.Contains(text, "shard 0 (dirty: mid-change; its repair resets it and its entries are lost)") {
		t.Errorf("inspect does not say (only) of a dirty shard that the repair resets it:\n%s", text)
	}
	var sdoc statsDoc
	if err := json.Unmarshal([]byte(ctl(t, "-r", path, "stats", "--json").ok(t).stdout), &sdoc); err != nil {
		t.Fatal(err)
	}
	shownAsItIs(report{ShardsAwaitingRepair: sdoc.ShardsAwaitingRepair, Entries: sdoc.Entries, Counters: sdoc.Total, Shards: sdoc.Shards}, "stats --json")
	if st := ctl(t, "-r", path, "stats").ok(t).stdout; !strings.Contains(st, "\nrepair: shard 0") || !strings.Contains(st, " left locked by a process that died") {
		t.Errorf("stats does not name the shard awaiting repair:\n%s", st)
	}
	fams := parseExposition(t, ctl(t, "-r", path, "stats", "--format", "prometheus").ok(t).stdout)
	for _, s := range fams["shmlru_shard_awaiting_repair"].samples {
		if want := b2f(s.labels["shard"] == "0"); s.value != want {
			t.Errorf("shmlru_shard_awaiting_repair{shard=%q} = %v, want %v", s.labels["shard"], s.value, want)
		}
	}
	for _, s := range fams["shmlru_shard_dirty"].samples {
		if want := b2f(dirty && s.labels["shard"] == "0"); s.value != want {
			t.Errorf("shmlru_shard_dirty{shard=%q} = %v, want %v", s.labels["shard"], s.value, want)
		}
	}
	if w := ctl(t, "-r", path, "watch", "--count", "1").ok(t).stdout; !strings.Contains(w, "repair        shard 0") || !strings.Contains(w, " left locked by a process that died") {
		t.Errorf("watch does not show the shard awaiting repair:\n%s", w)
	}
	chk := ctl(t, "-r", path, "check")
	chk.failed(t, exitFail, "'shmctl check --repair' repairs them")
	for _, want := range problems {
		if strings.Contains(want, "%d") {
			want = fmt.Sprintf(want, pid) // the dead child's pid, kept by the first observer
		}
		if !strings.Contains(chk.stdout, "shard 0: "+want) {
			t.Errorf("check does not report %q:\n%s", want, chk.stdout)
		}
	}
	if strings.Contains(chk.stdout, "shard 1:") || strings.Contains(chk.stdout, "shard 2:") || strings.Contains(chk.stdout, "shard 3:") {
		t.Errorf("check reports problems beyond shard 0:\n%s", chk.stdout)
	}
	ctl(t, "-r", path, "check", "--json").failed(t, exitFail, "found")
	if r := ctl(t, "-r", path, "get", notIn0).ok(t); r.stdout != "value-"+notIn0[len("user:"):]+"\n" {
		t.Errorf("get %s from a healthy shard: %q", notIn0, r.stdout)
	}
	if broken == "" {
		if r := ctl(t, "-r", path, "get", in0).ok(t); r.stdout != "value-"+in0[len("user:"):]+"\n" {
			t.Errorf("get %s: %q", in0, r.stdout)
		}
		if n := len(keyShards(t, path)); n != entries {
			t.Errorf("keys lists %d entries, want %d", n, entries)
		}
	} else {
		ctl(t, "-r", path, "get", in0).failed(t, exitFail, broken)
		ctl(t, "-r", path, "keys").failed(t, exitFail, broken)
	}
	unchanged("every read subcommand")
	rep = inspectJSON(t, path)
	shownAsItIs(rep, "inspect --json after the others")

	// check --repair repairs, and says what it did.
	r := ctl(t, "-r", path, "check", "--repair").ok(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], fmt.Sprintf("repaired shard 0: lock held by pid %d (found dead earlier by an observer), which died", pid)) ||
		!strings.Contains(lines[0], repaired) || lines[1] != "ok: "+path+", 4 shards, no problems" {
		t.Errorf("check --repair said:\n%s\nwant a line saying %q, then ok", r.stdout, repaired)
	}
	rep = inspectJSON(t, path)
	s0 = rep.Shards[0]
	resets := uint64(0)
	if dirty {
		resets = 1
		entries = fixtureLive + 1 - s0ExpectedLost(shards)
	}
	if s0.Lock.Held || s0.AwaitingRepair || s0.Dirty || rep.ShardsAwaitingRepair != 0 ||
		s0.Counters.Recoveries != 1 || s0.Counters.Resets != resets || rep.Entries != entries {
		t.Errorf("after the repair: shard 0 %+v, %d entries (want %d), want one recovery and %d resets", s0, rep.Entries, entries, resets)
	}
	if dirty {
		ctl(t, "-r", path, "get", in0).failed(t, exitFail, "not found")
	} else if r := ctl(t, "-r", path, "get", in0).ok(t); r.stdout != "value-"+in0[len("user:"):]+"\n" {
		t.Errorf("get %s after the repair: %q", in0, r.stdout)
	}
	ctl(t, "-r", path, "check").ok(t)
	if r := ctl(t, "-r", path, "check", "--repair").ok(t); r.stdout != "nothing to repair\nok: "+path+", 4 shards, no problems\n" {
		t.Errorf("check --repair of a clean cache: %q", r.stdout)
	}
}

// s0ExpectedLost counts the fixture's entries in shard 0, which a reset of
// shard 0 loses.
func s0ExpectedLost(shards map[string]int) int {
	n := 0
	for _, si := range shards {
		if si == 0 {
			n++
		}
	}
	return n
}

func TestLockState(t *testing.T) {
	slot := 3
	for _, c := range []struct {
		l     lockJSON
		dirty bool
		want  string
	}{
		{lockJSON{State: lockFree}, false, "free"},
		{lockJSON{State: lockHeld, Held: true, Slot: &slot, Pid: 12, Alive: true}, false, "held by pid 12"},
		{lockJSON{State: lockDead, Held: true, Slot: &slot, Pid: 13}, false, "dead pid 13, awaiting repair"},
		{lockJSON{State: lockDead, Held: true, Slot: &slot, Pid: 13}, true, "dead pid 13, dirty, awaiting repair"},
		{lockJSON{State: lockOrphan, Held: true, Orphan: true}, false, "orphan, awaiting repair"},
		{lockJSON{State: lockOrphan, Held: true, Orphan: true}, true, "orphan, dirty, awaiting repair"},
	} {
		if got := lockState(c.l, c.dirty); got != c.want {
			t.Errorf("lockState(%+v, %v) = %q, want %q", c.l, c.dirty, got, c.want)
		}
	}
}

// lockOf keeps slot 0, a real slot, apart from no slot.
func TestLockOf(t *testing.T) {
	for _, c := range []struct {
		o    shm.Owner
		want string
	}{
		{shm.Owner{}, `{"state":"free","held":false,"alive":false}`},
		{shm.Owner{Held: true, Slot: 0, Pid: 7, Alive: true}, `{"state":"held","held":true,"slot":0,"pid":7,"alive":true}`},
		{shm.Owner{Held: true, Slot: 5, Pid: 8}, `{"state":"dead","held":true,"slot":5,"pid":8,"alive":false}`},
		{shm.Owner{Held: true, Slot: -1, Orphan: true}, `{"state":"orphan","held":true,"alive":false,"orphan":true}`},
	} {
		b, err := json.Marshal(lockOf(c.o))
		if err != nil || string(b) != c.want {
			t.Errorf("lockOf(%+v) = %s %v, want %s", c.o, b, err, c.want)
		}
	}
}
