package lru

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TTL under a process that ignores the lock (a scribbler) is some answer
// the entry's deadline word held, never an absurd one. TTL read the
// deadline three times (whether to read the clock, whether expired, the
// Meta): a deadline that went from 0 to a time between the first and the
// last reading left the clock unread, and TTL answered the deadline
// itself as the time left, some 56 years.
func TestTTLUnderAScribblerIsNeverAbsurd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 1})
	key := []byte("k")
	must(t, c.Set(key, []byte("v"), time.Hour))
	h := hashKey(key)
	s := c.shardFor(h)
	i, _ := s.find(key, h)
	if i == 0 {
		t.Fatal("setup: the entry is not found")
	}
	m, _ := c.r.Mapping()
	off := uintptr(unsafe.Pointer(&s.ent(i).Info)) - uintptr(unsafe.Pointer(&m[0]))

	// The scribbler writes through a mapping of its own, as another
	// process would (and out of the race detector's sight: it is not
	// this process's Go memory at the same address).
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sm, err := syscall.Mmap(int(f.Fd()), 0, len(m), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(sm)
	info := (*uint64)(unsafe.Pointer(&sm[off]))
	base := atomic.LoadUint64(info) &^ infoExpiresMask
	later := uint64(nowMillis() + time.Hour.Milliseconds())

	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			atomic.StoreUint64(info, base)
			atomic.StoreUint64(info, base|later)
		}
	}()
	defer func() { stop.Store(true); <-done }()

	deadline := time.Now().Add(time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		d, err := c.TTL(key)
		if err != nil {
			t.Fatal(err)
		}
		if d < 0 || d > time.Hour {
			t.Fatalf("TTL %v after %d calls, want 0 (never) or at most 1h (the deadline the word held)", d, n)
		}
	}
}

// TTL of the latest deadline an entry can hold is a long positive time,
// never a wrapped Duration. A deadline up to MaxExpires is stored by a
// process whose wall clock was ahead when it wrote (or a clock since set
// back); its milliseconds left overflowed time.Duration, and TTL called
// the live entry expired, where the native path answers the milliseconds.
func TestTTLOfTheLatestDeadlineIsPositive(t *testing.T) {
	c := openAt(t, filepath.Join(t.TempDir(), "c"), &Options{Size: 1 << 20, Shards: 1})
	key := []byte("k")
	must(t, c.Set(key, []byte("v"), time.Hour))
	h := hashKey(key)
	s := c.shardFor(h)
	i, _ := s.find(key, h)
	e := s.ent(i)
	e.Info = e.Info&^infoExpiresMask | uint64(MaxExpires)
	d, err := c.TTL(key)
	if err != nil {
		t.Fatal(err)
	}
	if d < 100*365*24*time.Hour {
		t.Fatalf("TTL of a deadline in year %d: %v", time.UnixMilli(MaxExpires).Year(), d)
	}
}
