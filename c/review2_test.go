package main

// Defects a second outside review found in the C ABI's read-through,
// tracked-fill, flush and open calls; each test failed before its fix.
// test/review2_driver.c makes the calls in a process of its own; this
// process watches the region as another process on the host would.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// stuck reports whether key's load is held by someone else for all of
// wait: a Loads.Begin from this process finds it loading, and a Loads.Wait of
// wait sees neither an end nor a loader gone (lease 0 in the driver: it is
// the loader until it ends the load or dies).
func stuck(t *testing.T, c *lru.Cache, key string, wait time.Duration) bool {
	t.Helper()
	tk, err := c.Loads().Begin([]byte(key), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if tk.State == lru.LoadMine {
		c.Loads().End(&tk, lru.LoadAbandoned, "")
		return false
	}
	if _, err := c.Loads().Wait(&tk, wait, time.Minute); err != nil {
		t.Fatal(err)
	}
	if tk.State == lru.LoadMine {
		c.Loads().End(&tk, lru.LoadAbandoned, "")
	}
	return tk.State == lru.LoadWaiting
}

// shmlru_load_begin with a shmlru_load on a read-only page answers
// SHMLRU_BAD_ARGUMENT and claims nothing: another process loads the key.
// Before, Loads.Begin claimed the key's flight before the ticket was written,
// the caller had no ticket to end it with, and with lease 0 the load was
// the live process's for ever.
func TestLoadBeginFaultingTicketClaimsNothing(t *testing.T) {
	bin := buildC(t, "test/review2_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	d := startDriver(t, bin, "begin-ro", path, "k")
	begin := d.Line()
	if d.Line() != "holding" {
		t.Fatal("driver did not hold")
	}
	if begin != fmt.Sprintf("begin %d", -12) {
		t.Fatalf("load_begin on a read-only ticket: %q", begin)
	}
	ran := false
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.GetOrLoad(ctx, []byte("k"), func(context.Context, []byte) ([]byte, error) {
		ran = true
		return []byte("v"), nil
	}, lru.LoadOptions{})
	if !ran {
		t.Errorf("a failed shmlru_load_begin (SHMLRU_BAD_ARGUMENT) left the key's load claimed by its live caller: "+
			"another process's GetOrLoad never ran its loader (%v)", err)
	}
	d.in.Write([]byte("\n"))
}

// shmlru_load_wait with a read-only shmlru_load, after the loader died,
// answers SHMLRU_BAD_ARGUMENT without taking the load over. Before, it took
// the load over (the flight named the caller), then failed to write the
// ticket: the caller never loaded nor ended the load, which its live
// process kept for ever (lease 0).
func TestLoadWaitFaultingTicketTakesNothingOver(t *testing.T) {
	bin := buildC(t, "test/review2_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	loader := startDriver(t, bin, "claim", path, "k")
	if l := loader.Line(); l != "claim 0 1" {
		t.Fatalf("loader: %q", l)
	}
	loader.Line() // holding
	w := startDriver(t, bin, "wait-ro", path, "k")
	if l := w.Line(); l != "begin 0 2" {
		t.Fatalf("waiter: %q", l)
	}
	loader.Kill()
	w.in.Write([]byte("\n"))
	res := w.Line()
	w.Line() // holding
	t.Logf("waiter: %s", res)
	if res != fmt.Sprintf("wait %d", -12) {
		t.Fatalf("shmlru_load_wait with a read-only ticket after the loader died answered %q, want SHMLRU_BAD_ARGUMENT (-12)", res)
	}
	if stuck(t, c, "k", 300*time.Millisecond) {
		t.Errorf("shmlru_load_wait answered SHMLRU_BAD_ARGUMENT after taking the load over: the key's load is held by the live waiter, which does not know it is the loader")
	}
	w.in.Write([]byte("\n"))
}

// shmlru_load_end with a read-only ticket answers SHMLRU_BAD_ARGUMENT
// without ending the load, and a retry with a good ticket ends it. Before,
// it ended the load and then answered SHMLRU_BAD_ARGUMENT, and the retry
// got SHMLRU_LOAD_LOST.
func TestLoadEndFaultingTicketEndsNothing(t *testing.T) {
	bin := buildC(t, "test/review2_driver.c")
	path, _ := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	out, err := exec.Command(bin, "end-ro", path, "k").CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	t.Logf("driver: %q", out)
	if strings.Contains(string(out), "end -12\nretry -28") {
		t.Errorf("shmlru_load_end answered SHMLRU_BAD_ARGUMENT for a load it had ended: the retry is SHMLRU_LOAD_LOST")
	}
}

// shmlru_fill_store with *stored on a read-only page answers
// SHMLRU_BAD_ARGUMENT and stores nothing (before, it stored the value
// first).
func TestFillStoreFaultingOutputStoresNothing(t *testing.T) {
	bin := buildC(t, "test/review2_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	if ok, err := c.Tracker().ClaimAgent(); !ok || err != nil {
		t.Fatalf("ClaimAgent: %v %v", ok, err)
	}
	if _, err := c.Tracker().InvalidateAll(); err != nil {
		t.Fatal(err)
	}
	must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
	out, err := exec.Command(bin, "fill-ro", path, "k").CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	t.Logf("driver: %q", out)
	if strings.Contains(string(out), "store -12\ntracked 0") {
		t.Errorf("shmlru_fill_store answered SHMLRU_BAD_ARGUMENT and stored the value")
	}
}

// A process that writes the region without taking any lock (a group
// member's bug, or worse) against the new C calls: shmlru_get_tracked's
// native path and its Go fallback, shmlru_fill_store, and read-through
// with shmlru_load_store. The scribbler writes random words into the
// shards (lock words aside), the track table's words and the load table's
// flights (its lock aside). The calls must answer statuses, never write
// past the caller's buffer, never crash or hang.
func TestTrackedAndLoadCallsSurviveAScribbler(t *testing.T) {
	bin := buildC(t, "test/review2_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 2})
	if ok, err := c.Tracker().ClaimAgent(); !ok || err != nil {
		t.Fatalf("ClaimAgent: %v %v", ok, err)
	}
	if _, err := c.Tracker().InvalidateAll(); err != nil {
		t.Fatal(err)
	}
	must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
	d := c.Binding().Region().Data()
	u64 := func(name string) int { return int(binary.NativeEndian.Uint64(d[fact(t, name):])) }
	sh := fact(t, "CacheHeaderSize")
	stride := u64("CacheHeader.ShardStride")
	loadsOff := u64("CacheHeader.LoadsOff")
	trackOff := u64("CacheHeader.TrackOff")
	fill := func() {
		for i := 0; i < 64; i++ {
			k := []byte(fmt.Sprint("k", i))
			if g, err := c.Tracker().BeginFill(k); err == nil {
				c.Tracker().StoreFill(k, []byte("tracked value"), i%5 == 0, lru.WriteOptions{}, g)
			}
		}
	}
	fill()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		for n := 0; !stop.Load(); n++ {
			var off int
			switch rng.IntN(6) {
			case 0, 1: // a shard, but its lock word
				off = sh + rng.IntN(2)*stride + 8 + rng.IntN(stride-16)&^3
			case 2: // a shard's heap's first units
				off = sh + rng.IntN(2)*stride + stride - rng.IntN(stride/4)&^3 - 8
			case 3: // the track table's header (gen, in step, counters)
				off = trackOff + rng.IntN(64)&^3
			default: // the load table, but its lock word: its counters and flights
				off = loadsOff + 4 + rng.IntN(trackOff-loadsOff-8)&^3
			}
			atomic.StoreUint32((*uint32)(unsafe.Pointer(&d[off])), scribbleValue(rng))
			if n%20000 == 0 {
				fill()
			}
		}
	}()
	cmd := exec.Command(bin, "fuzz-tracked", path, "300000")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		stop.Store(true)
		wg.Wait()
		t.Fatalf("the driver hung under the scribbler:\n%s", out)
	}
	stop.Store(true)
	wg.Wait()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	t.Logf("driver: %s", strings.TrimSpace(string(out)))
}

// shmlru_flush_expired with *removed on a read-only page answers
// SHMLRU_BAD_ARGUMENT and removes nothing (before, it removed the expired
// entries first).
func TestFlushExpiredFaultingOutputRemovesNothing(t *testing.T) {
	bin := buildC(t, "test/review2_driver.c")
	path, _ := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	out, err := exec.Command(bin, "flush-ro", path, "k").CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	t.Logf("driver: %q", out)
	if strings.Contains(string(out), "flush -12\nlen 0 0") {
		t.Errorf("shmlru_flush_expired answered SHMLRU_BAD_ARGUMENT and removed the expired entry")
	}
}

// shmlru_open with *out on a read-only page answers SHMLRU_BAD_ARGUMENT
// and opens nothing. Before, it opened the cache (two process slots: the
// cache's and its native view's) that the caller had no handle to close.
func TestOpenFaultingOutputOpensNothing(t *testing.T) {
	bin := buildC(t, "test/review2_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	d := startDriver(t, bin, "open-ro", path, "k")
	res := d.Line()
	d.Line() // holding
	n, err := c.Binding().Region().Attached()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("driver: %s; attachments: %d", res, n)
	// This cache, and the driver's first open (cache and native view): 3.
	if res == fmt.Sprintf("open %d", -12) && n > 3 {
		t.Errorf("shmlru_open answered SHMLRU_BAD_ARGUMENT and left %d attachments open in the caller", n-3)
	}
	d.in.Write([]byte("\n"))
}
