package lru

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Regression tests for the crash-safety promise: each failed on the
// code before the fix it names.

// callerMemory returns a slice of n bytes whose tail faults: a file-backed
// mapping whose file is shorter than the slice, as a Go caller may hold over
// a file that something truncated. cut truncates it further, to a page.
func callerMemory(t *testing.T, n int, fill byte) (b []byte, cut func()) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "caller"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(n)); err != nil {
		t.Fatal(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(m) })
	for i := range m {
		m[i] = fill
	}
	path := f.Name()
	return m, func() {
		if err := os.Truncate(path, 4096); err != nil {
			panic(err)
		}
	}
}

// Item 1: a write whose value faults part way must not leave a torn value
// for everyone. A fault found before anything changed (Write probes the
// value first) fails with ErrFault and leaves the old value and its version;
// a fault in the middle of the copy resets the shard before its lock is let
// go, so the torn entry is gone rather than served.
func TestCallerFaultLeavesNoTornValue(t *testing.T) {
	const n = 3 * 4096
	t.Run("before-the-lock", func(t *testing.T) {
		c := newCache(t, &Options{Size: 4 << 20, Shards: 2})
		k := []byte("k")
		old := bytes.Repeat([]byte("o"), n)
		if err := c.Set(k, old, 0); err != nil {
			t.Fatal(err)
		}
		_, m, _ := c.GetInto(nil, k)
		bad, cut := callerMemory(t, n, 'n')
		cut()
		st0, _ := c.Stats()
		if err := c.Set(k, bad, 0); !errors.Is(err, ErrFault) {
			t.Fatalf("Set of a value that faults: %v, want ErrFault", err)
		}
		v, m2, err := c.GetInto(nil, k)
		if err != nil || !bytes.Equal(v, old) || m2.Version != m.Version {
			t.Fatalf("after the refused write: %d bytes equal=%v version %d->%d err %v", len(v), bytes.Equal(v, old), m.Version, m2.Version, err)
		}
		if st, _ := c.Stats(); st.Resets != st0.Resets {
			t.Fatal("a write refused before it began reset the shard")
		}
		mustCheck(t, c)
	})
	for _, tc := range []struct{ name, point, key string }{
		{"mid-overwrite", "overwrite-start", "k"},
		{"mid-insert", "insert-key-written", "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, &Options{Size: 4 << 20, Shards: 2})
			k := []byte(tc.key)
			si := c.shardFor(hashKey(k)).idx
			if err := c.Set([]byte("k"), bytes.Repeat([]byte("o"), n), 0); err != nil {
				t.Fatal(err)
			}
			others := keysInShard(c, 1-si, 20, "other")
			for _, o := range others {
				c.Set(o, []byte("v"), 0)
			}
			bad, cut := callerMemory(t, n, 'n')
			testHook = func(p string) {
				if p == tc.point {
					cut() // the value faults halfway through the copy
				}
			}
			defer func() { testHook = nil }()
			st0, _ := c.Stats()
			if err := c.Set(k, bad, 0); !errors.Is(err, ErrFault) {
				t.Fatalf("Set whose value faults mid-copy: %v, want ErrFault", err)
			}
			testHook = nil
			if v, err := c.Get(k); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the key after a write cut short: %d bytes, %v; want it gone, never torn", len(v), err)
			}
			st, _ := c.Stats()
			if st.Shards[si].Resets != st0.Shards[si].Resets+1 || st.Shards[1-si].Resets != st0.Shards[1-si].Resets {
				t.Fatalf("resets %d -> %d (other shard %d -> %d), want that one shard reset once",
					st0.Shards[si].Resets, st.Shards[si].Resets, st0.Shards[1-si].Resets, st.Shards[1-si].Resets)
			}
			if o := st.Shards[si].Lock; o.Held {
				t.Fatalf("lock still held after the failed write: %+v", o)
			}
			for _, o := range others {
				if _, err := c.Get(o); err != nil {
					t.Fatalf("the other shard lost %q: %v", o, err)
				}
			}
			mustCheck(t, c)
			if err := c.Set(k, []byte("fine"), 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Item 2: a panic in the caller's own code reaches the caller as it was,
// with both locks released and nothing reset: it is not the region's fault.
func TestCallerPanicIsNotCorruption(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	for i := 0; i < 10; i++ {
		c.Set([]byte(fmt.Sprint("k", i)), []byte("v"), 0)
	}
	var none []int
	var nilMap map[string]int
	for name, fn := range map[string]func(){
		"index out of range": func() { _ = none[len(none)+5] },
		"nil map":            func() { nilMap["x"]++ },
		"nil pointer":        func() { var p *Cache; _ = p.g },
	} {
		t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			func() {
				defer func() {
					p := recover()
					if _, ok := p.(runtime.Error); !ok {
						t.Fatalf("recovered %v (%T), want the callback's runtime error", p, p)
					}
				}()
				err := c.Range(func([]byte, Meta, int) bool { fn(); return true }, false)
				t.Fatalf("Range returned %v instead of panicking", err)
			}()
			st, err := c.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Resets != 0 || st.Entries != 10 {
				t.Fatalf("after the caller's panic: %d resets, %d entries; want 0 and 10", st.Resets, st.Entries)
			}
			if st.Shards[0].Lock.Held {
				t.Fatalf("lock still held: %+v", st.Shards[0].Lock)
			}
		})
	}
}

// Item 3: every exported method is safe after Close and on a file that
// shrank: an error, never a crash, and no race with Close.
func TestMethodsAfterCloseAndShrink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c, err := Open(path, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c.Set([]byte("k"), []byte("v"), 0)
	size := c.Capacity()
	lockWord := &c.shards[0].h.Lock // taken now: Go's nil check of h reads the mapping
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { // readers racing with Close
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Stats()
				c.Capacity()
				c.Geometry()
				c.Binding().Region().Attached()
				c.Binding().Region().CreatedAt()
			}
		}()
	}
	c.Close()
	close(stop)
	wg.Wait()
	if _, err := c.Stats(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Stats after Close: %v", err)
	}
	if _, err := c.Binding().Region().Attached(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Attached after Close: %v", err)
	}
	if _, err := c.Binding().Region().LockOwner(lockWord); !errors.Is(err, ErrClosed) {
		t.Fatalf("LockOwner after Close: %v", err)
	}
	if c.Capacity() != size || c.Geometry().Size != size {
		t.Fatal("Capacity or Geometry changed at Close")
	}

	c2 := openAt(t, path, &Options{Size: 1 << 20})
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Stats(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "shrank") {
		t.Fatalf("Stats on a shrunk file: %v", err)
	}
	if _, err := c2.Binding().Region().Attached(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Attached on a shrunk file: %v", err)
	}
	for _, f := range []func() error{
		func() error { _, err := c2.Check(); return err },
		func() error { _, err := c2.Len(); return err },
		func() error { _, err := c2.FreeSpace(); return err },
		func() error { return c2.Range(func([]byte, Meta, int) bool { return true }, true) },
		func() error { _, err := c2.Repair(); return err },
		func() error { _, err := c2.TTL([]byte("k")); return err },
	} {
		if err := f(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("on a shrunk file: %v, want ErrCorrupt", err)
		}
	}
}

func init() {
	childRoles["peek-on-cue"] = peekOnCue
}

// peekOnCue prints "ready", waits for a line naming a key on stdin, then
// peeks at it and prints the outcome and how many attachments it sees.
func peekOnCue(c *Cache, _ string) error {
	fmt.Println("ready")
	key, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return err
	}
	v, _, _, err := c.Peek(nil, []byte(strings.TrimSpace(key)))
	n, _ := c.Binding().Region().Attached()
	fmt.Printf("value=%q err=%v attached=%d\n", v, err, n)
	return nil
}

// Item 4: after a fault on the mapping, the broken handle releases the lock
// it held and stops looking alive. Before, every other process hung on that
// shard for as long as the broken one lived.
func TestShrunkFileDoesNotStrandTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c, err := Open(path, &Options{Size: 1 << 20, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Units are cut from the end of the free run, so the first keys lie in
	// the second half of the file and the last ones in the first.
	var keys [][]byte
	for i := 0; ; i++ {
		k := []byte(fmt.Sprint("key", i))
		if _, err := c.Write(k, []byte("value"), WriteOptions{NoEvict: true}); err != nil {
			break
		}
		keys = append(keys, k)
	}
	first, last := keys[len(keys)-1], keys[0]

	k := startChild(t, "peek-on-cue", path, "")
	defer k.cmd.Process.Kill()
	if got := k.line(); got != "ready" {
		t.Fatalf("child: %q\n%s", got, k.stderr)
	}
	if err := os.Truncate(path, c.Capacity()/2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(last); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of an entry past the new end of the file: %v", err)
	}
	fmt.Fprintf(k.stdin, "%s\n", first)
	got := make(chan string, 1)
	go func() { got <- k.line() }()
	select {
	case line := <-got:
		if !strings.Contains(line, `value="value" err=<nil>`) || !strings.Contains(line, "attached=1") {
			t.Fatalf("the other process: %s\n%s", line, k.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other process still waits for the shard's lock 10 s after the fault")
	}
	k.stdin.Close()
	k.wait(t)
}

// A live entry's TTL is never reported as 0 ("never expires") or less,
// however close to its deadline it is asked, and an expired one's never as
// 0 or more (it is negative until the entry is removed); an entry whose
// deadline is now has expired; a negative TTL is refused.
func TestTTLAtTheMomentOfExpiry(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20})
	k := []byte("k")
	asked := 0
	for trial := 0; trial < 300; trial++ {
		if err := c.Set(k, []byte("v"), 2*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for {
			d, err := c.TTL(k)
			if err != nil || d == 0 {
				t.Fatalf("trial %d: TTL of an entry with a deadline = %v, %v", trial, d, err)
			}
			if d < 0 {
				break // expired, still stored
			}
			asked++
		}
	}
	if asked < 300 {
		t.Fatalf("only %d TTLs asked of live entries", asked)
	}
	at := time.UnixMilli(1_700_000_000_000)
	m := Meta{Expires: at.UnixMilli()}
	if d := m.TTL(at); d >= 0 {
		t.Fatalf("Meta.TTL at the deadline = %v, want negative (expired)", d)
	}
	if d := m.TTL(at.Add(-time.Nanosecond)); d != time.Nanosecond {
		t.Fatalf("Meta.TTL a nanosecond before the deadline = %v", d)
	}
	if d := (Meta{}).TTL(at); d != 0 {
		t.Fatalf("Meta.TTL of an entry without deadline = %v", d)
	}

	c.Set(k, []byte("v"), time.Hour)
	for name, f := range map[string]func() error{
		"Set":      func() error { return c.Set(k, []byte("x"), -time.Second) },
		"Expire":   func() error { return c.Expire(k, -time.Second) },
		"IncrInit": func() error { _, _, err := c.IncrInit([]byte("n"), 1, 0, -time.Second); return err },
	} {
		if err := f(); !errors.Is(err, ErrBadTTL) {
			t.Fatalf("%s with a negative TTL: %v, want ErrBadTTL", name, err)
		}
	}
	if v, _ := c.Get(k); string(v) != "v" {
		t.Fatalf("a refused write changed the entry: %q", v)
	}
	if d, _ := c.TTL(k); d <= 59*time.Minute {
		t.Fatalf("a refused Expire changed the TTL: %v", d)
	}
}

// Item 13: one vocabulary of errors, whichever package a caller names.
func TestOneErrorVocabulary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	if _, err := Open(path, &Options{Mode: os.ModeSetuid | 0o600}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("a mode with non-permission bits: %v, want lru.ErrBadOptions", err)
	}
	c := openAt(t, path, &Options{Size: 2 << 20, Shards: 2})
	c.Set([]byte("k"), []byte("v"), 0)
	for _, o := range []Options{{Size: 4 << 20, Exact: true}, {Size: 2 << 20, Shards: 4, Exact: true}} {
		if _, err := Open(path, &o); !errors.Is(err, ErrGeometry) {
			t.Fatalf("Exact with %+v: %v, want ErrGeometry", o, err)
		}
	}
}

// Item 10: observers (Peek, Range, Len, FreeSpace, Stats, Check) report a
// shard as a dead process left it and change nothing; Repair, on request,
// repairs it and says what it did. Before, each of them took the lock over
// and reset or rebuilt the shard, wiping what the operator came to see.
func TestObserversDoNotRepair(t *testing.T) {
	for _, tc := range []struct {
		point, op string
		dirty     bool
		repair    string
	}{
		{"insert-written", "set", true, "reset the shard"},
		{"touch-unlinked", "incr", false, "rebuilt the LRU queue"},
	} {
		t.Run(tc.point, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c")
			c := openAt(t, path, &Options{Size: 1 << 20, Shards: 2})
			si := c.shardFor(hashKey([]byte("victim"))).idx
			same := keysInShard(c, si, 20, "same")
			for _, k := range same {
				c.Set(k, []byte("v"), 0)
			}
			setVictim(c, tc.op)
			c.Set(same[0], []byte("v"), 0) // so that victim is not at the head

			k := startChild(t, "hook", path, tc.point+":"+tc.op)
			if got := k.line(); got != "at "+tc.point {
				k.cmd.Process.Kill()
				k.cmd.Wait()
				t.Fatalf("child did not stop at %s: %q\n%s", tc.point, got, k.stderr)
			}
			k.cmd.Process.Kill()
			k.cmd.Wait()
			s := &c.shards[si]
			before := *s.h

			for round := 0; round < 2; round++ { // the second finds the orphan
				st, err := c.Stats()
				if err != nil {
					t.Fatal(err)
				}
				if o := st.Shards[si].Lock; !o.Held || o.Alive || st.Shards[si].Dirty != tc.dirty {
					t.Fatalf("round %d: Stats shows lock %+v dirty %v", round, o, st.Shards[si].Dirty)
				}
				ps, err := c.Check()
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) == 0 || !strings.Contains(ps[0].Msg, "died") {
					t.Fatalf("round %d: Check found %v", round, ps)
				}
				if _, _, _, err := c.Peek(nil, []byte("victim")); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "repair") {
					t.Fatalf("round %d: Peek in a shard left broken: %v", round, err)
				}
				if err := c.Range(func([]byte, Meta, int) bool { return true }, true); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("round %d: Range over a shard left broken: %v", round, err)
				}
				c.Len()
				c.FreeSpace()
				after := *s.h
				if after.DeadPid != uint32(k.cmd.Process.Pid) {
					t.Fatalf("round %d: the dead owner's pid kept as %d, want %d", round, after.DeadPid, k.cmd.Process.Pid)
				}
				after.Lock, before.Lock = 0, 0
				after.DeadPid, before.DeadPid = 0, 0
				if after != before {
					t.Fatalf("round %d: observers changed the shard:\nbefore %+v\nafter  %+v", round, before, after)
				}
			}

			done, err := c.Repair()
			if err != nil {
				t.Fatal(err)
			}
			if len(done) != 1 || done[0].Shard != si || !strings.Contains(done[0].Msg, tc.repair) {
				t.Fatalf("Repair did %v, want one line for shard %d saying %q", done, si, tc.repair)
			}
			mustCheck(t, c)
			if !tc.dirty {
				for _, k := range append(same, []byte("victim")) {
					if _, _, _, err := c.Peek(nil, k); err != nil {
						t.Fatalf("rebuilding the queue lost %q: %v", k, err)
					}
				}
			}
			if again, _ := c.Repair(); len(again) != 0 {
				t.Fatalf("a second Repair did %v", again)
			}
		})
	}
}

// An orphan left by an observer is repaired by the next ordinary operation,
// at once: there is no owner whose death must first be confirmed.
func TestOrphanIsRepairedByTheNextWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 1})
	c.Set([]byte("victim"), []byte("old value"), 0)
	k := startChild(t, "hook", path, "overwrite-copied:overwrite")
	if got := k.line(); got != "at overwrite-copied" {
		k.cmd.Process.Kill()
		k.cmd.Wait()
		t.Fatalf("child: %q\n%s", got, k.stderr)
	}
	k.cmd.Process.Kill()
	k.cmd.Wait()
	c.Check() // leaves an orphan
	st0, _ := c.Stats()
	if o := st0.Shards[0].Lock; !o.Orphan {
		t.Fatalf("after an observer: %+v, want an orphan", o)
	}
	start := time.Now()
	if err := c.Set([]byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st, _ := c.Stats()
	if st.Recoveries != st0.Recoveries+1 || st.Resets != st0.Resets+1 {
		t.Fatalf("recoveries %d->%d resets %d->%d, want one of each", st0.Recoveries, st.Recoveries, st0.Resets, st.Resets)
	}
	if _, err := c.Get([]byte("victim")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the half-overwritten victim: %v", err)
	}
	mustCheck(t, c)
	t.Logf("write over an orphan took %v", took)
}
