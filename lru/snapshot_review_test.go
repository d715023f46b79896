package lru

// Defects an outside review of the lock-free read path found; each test
// failed before its fix.

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A lock-free Get does not wait behind a writer goroutine of its own
// process. It took the shard's process-local mutex (s.mu, in begin), which
// a goroutine that waits for the shard's region lock holds for its whole
// wait: one write waiting behind another process (here a live process that
// holds the lock outside any change, seq even, as incr's LRU move does)
// blocked every Get of that shard in the writer's process.
func TestGetDoesNotWaitBehindSameProcessWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 1})
	setVictim(c, "incr")                                // a number
	must(t, c.Set([]byte("other"), []byte("value"), 0)) // so victim is not at the head: its incr moves it
	k := startChild(t, "hook", path, "touch-unlinked:incr")
	defer func() { k.cmd.Process.Kill(); k.cmd.Wait() }()
	if got := k.line(); got != "at touch-unlinked" {
		t.Fatalf("child did not stop: %q\n%s", got, k.stderr)
	}
	s := c.shardFor(hashKey([]byte("other")))
	if s.dirty() {
		t.Fatal("seq is odd: the child should be stopped outside the change")
	}
	// The child (alive) holds the lock with seq even: an unlocked read
	// answers at once.
	if v, err := c.Get([]byte("other")); err != nil || string(v) != "value" {
		t.Fatalf("Get with the lock held by a live process outside a change: %q, %v", v, err)
	}
	// A writer goroutine of this process waits for the region lock...
	go c.Set([]byte("third"), []byte("x"), 0)
	for atomic.LoadUint32(&s.h.Lock)&(1<<31) == 0 { // ...until it sleeps on the futex (waiters bit)
		time.Sleep(time.Millisecond)
	}
	// ...and now the same lock-free Get waits for it.
	done := make(chan error, 1)
	go func() { _, err := c.Get([]byte("other")); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Errorf("a lock-free Get has waited 3s behind a writer goroutine of its own process (seq even, nothing to wait for)")
		k.cmd.Process.Kill()
		if err := <-done; err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
}

// A reset moves the change sequence. One made because a locked operation
// found corruption outside a change (shardlock.go: corrupted -> bestEffort ->
// resetCounted) never made seq odd: resetCounted's clean() is a no-op on an
// even seq.
// The reset clears the buckets and writes a free-run header at unit 1 and
// a footer over the last 4 bytes of the heap, all under an unchanged seq,
// so a reader without the lock that loaded seq before the reset and copied
// after it passes its check and returns a value that was never written.
// Here the corruption is one out-of-range word in another bucket (another
// key's chain); the reader of an intact key is the one that gets a torn
// value. The interleaving is driven step by step through the reader's own
// functions (seek, judge, moved) in the order readUnlocked runs them.
func TestCorruptionResetMovesSeq(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	victim := []byte("victim")
	value := make([]byte, 1040-entryHeaderSize-len(victim)) // the entry fills whole units
	for i := range value {
		value[i] = 'v'
	}
	must(t, c.Set(victim, value, 0)) // the first entry of a fresh shard takes the heap's last units
	s := c.shardFor(hashKey(victim))
	// A key in another bucket of the same shard, whose chain we corrupt.
	var other []byte
	for _, k := range keysInShard(c, s.idx, 1000, "other") {
		if c.g.bucketOf(hashKey(k)) != c.g.bucketOf(hashKey(victim)) {
			other = k
			break
		}
	}
	// The attacker (or a bit flip): one bucket index out of range.
	atomic.StoreUint32(&s.buckets[c.g.bucketOf(hashKey(other))], uint32(c.g.nunits+5))

	// A reader of victim, in another process, between its first seq load
	// and its copy:
	h := hashKey(victim)
	q := atomic.LoadUint64(&s.h.Seq)
	sn, r := s.seek(victim, h)
	if r != seekFound {
		t.Fatalf("seek: %d", r)
	}
	// Meanwhile a Get of the other key finds the corruption under the lock
	// and resets the shard.
	if _, err := c.Get(other); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of the corrupt chain: %v, want ErrCorrupt", err)
	}
	if st, _ := c.Stats(); st.Resets != 1 {
		t.Fatalf("resets %d, want 1", st.Resets)
	}
	// The reader copies and checks seq.
	var clock lazyNow
	out, _, _, err := s.judge(nil, &sn, &clock, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.moved(q) {
		return // what the protocol requires
	}
	t.Errorf("seq did not move across a reset of the shard (%d before and after)", q)
	if string(out) != string(value) {
		t.Errorf("the reader's check passed on a torn value: last bytes %q, want %q", out[len(out)-8:], value[len(value)-8:])
	}
}

// A lock released over a dirty mark that its holder did not make (a
// process writing the file without the lock made the sequence odd) goes
// back as an orphan, which the next locker takes over at once and repairs.
// Before, the holder kept the lock, alive, and every other process waited
// on it until it came back to the shard: a scribbler could hang a C
// process's writes for good.
func TestForeignDirtyMarkIsReleasedAsOrphan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 1})
	must(t, c.Set([]byte("k"), []byte("v"), 0))
	s := &c.shards[0]
	if err := s.begin(); err != nil {
		t.Fatal(err)
	}
	s.acquire()
	atomic.AddUint64(&s.h.Seq, 1) // the scribbler, between a change and the release
	var err error
	s.end(&err)
	if o, _ := c.r.LockOwner(&s.h.Lock); !o.Orphan {
		t.Fatalf("after a release over a foreign dirty mark, the lock is %+v; want an orphan", o)
	}
	other := openAt(t, path, &Options{NoCreate: true})
	if err := other.Set([]byte("k2"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := other.Stats(); st.Resets != 1 {
		t.Fatalf("resets %d, want 1: the next locker resets the shard the mark left", st.Resets)
	}
}
