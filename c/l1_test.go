package main

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/lru"
)

// A process that scribbles over a shard's change ring and its head, taking
// no lock: shmlru_l1_changes (native, and Go's StripeChanges) never
// reports a stripe outside the shard's, never runs more than a ring's
// slots, laps for a head behind the cursor or more than a ring ahead, and
// answers a head of 0, which no region writes, as corrupt.
func TestNativeL1ChangesScribbled(t *testing.T) {
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 2})
	v, err := c.Binding().NativeView()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Region.Close()
	m, _ := v.Region.Mapping()
	shard0 := v.DataOff + format.CacheHeaderSize
	head := (*uint64)(unsafe.Pointer(&m[shard0+int(unsafe.Offsetof(format.ShardHeader{}.RingHead))]))
	ring := unsafe.Slice((*uint32)(unsafe.Pointer(&m[shard0+v.RingOff])), v.Ring)

	d := startDriver(t, bin, "wait", path)
	d.Await("ready")
	answer := func(line string) []string {
		t.Helper()
		return strings.Fields(d.Ask(line))
	}
	goCursors := []uint64{^uint64(0), ^uint64(0)}
	goChanges := func() ([]uint32, bool) {
		got, lapped, err := c.Binding().StripeChanges(goCursors, make([]uint32, 0, 4*v.Ring))
		if err != nil {
			t.Fatal(err)
		}
		return got, lapped
	}
	goChanges()
	if a := answer("changes 2"); strings.Join(a, " ") != "0 0 0" {
		t.Fatalf("from now on: %v", a)
	}
	for i := range ring {
		atomic.StoreUint32(&ring[i], ^uint32(0)-uint32(i))
	}
	h0 := atomic.LoadUint64(head)
	for _, step := range []struct {
		what   string
		head   uint64
		n      int
		lapped bool
	}{
		{"5 ahead, slots out of range", h0 + 5, 5, false},
		{"a whole ring ahead", h0 + 5 + uint64(v.Ring), v.Ring, false},
		{"a ring and one ahead", h0 + 6 + 2*uint64(v.Ring), 0, true},
		{"behind the cursor", h0, 0, true},
		{"at zero, which no head reads", 0, -1, false},
		{"at the top", ^uint64(0) - 1, 0, true},
		{"wrapped past zero", 2, 4, false},
	} {
		atomic.StoreUint64(head, step.head)
		if step.n < 0 {
			// corrupt, and no cursor moves to 0 (the ring-head watch's
			// "gone", which a cursor of 0 would take for current)
			if a := d.Ask("changes 2"); a != fmt.Sprint(statusCorrupt, " 0 0") {
				t.Fatalf("%s, native: %q, want %d", step.what, a, statusCorrupt)
			}
			if _, _, err := c.Binding().StripeChanges(goCursors, nil); !errors.Is(err, lru.ErrCorrupt) || goCursors[0] == 0 {
				t.Fatalf("%s, Go: %v, cursor %d", step.what, err, goCursors[0])
			}
			continue
		}
		for _, who := range []string{"native", "Go"} {
			var got []uint32
			var lapped bool
			if who == "native" {
				a := answer("changes 2")
				if a[0] != "0" {
					t.Fatalf("%s, %s: %v", step.what, who, a)
				}
				lapped = a[2] == "1"
				for _, s := range a[3:] {
					n, _ := strconv.ParseUint(s, 10, 32)
					got = append(got, uint32(n))
				}
			} else {
				got, lapped = goChanges()
			}
			if len(got) != step.n || lapped != step.lapped {
				t.Fatalf("%s, %s: %d stripes, lapped %v; want %d, %v", step.what, who, len(got), lapped, step.n, step.lapped)
			}
			for _, s := range got {
				if int(s) >= v.Stripes {
					t.Fatalf("%s, %s: stripe %d, shard 0 has %d", step.what, who, s, v.Stripes)
				}
			}
		}
	}
	d.Close()
}

// The guarantee across processes, raced: this process sets a key to 1, 2,
// ... and, once each Set returned, a second key to the same number; a
// driver keeps a copy of the first, by its stripe (shmlru_l1_stamp, the
// value, then shmlru_l1_valid on every use) or by the change rings (as
// mlcache's always mode does: shmlru_l1_current on every use, or the ring
// head read from the ring-head watch, the changes applied when it says the
// shard changed), all native, and checks every
// copy it serves against the second key read just before: never older.
func TestNativeL1GuaranteeRaced(t *testing.T) {
	for _, mode := range []string{"l1race", "l1ring", "l1watch"} {
		t.Run(mode, func(t *testing.T) { raceL1Copy(t, mode) })
	}
}

// raceL1Copy is TestNativeL1GuaranteeRaced with the driver keeping its
// copy by the stripe (l1race) or by the change rings (l1ring: the copy
// used while shmlru_l1_current holds; l1watch: while the shard's head read
// from the ring-head watch is the cursor, as mlcache's always mode does).
func raceL1Copy(t *testing.T, mode string) {
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 2})
	const n = 20000
	must(t, c.Set([]byte("race"), []byte(fmt.Sprintf("%08d", 0)), 0))
	cmd := exec.Command(bin, mode, path, "race", "pub", strconv.Itoa(n))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := c.Get([]byte("ready")); err == nil {
			break
		}
		runtime.Gosched()
	}
	for i := 1; i <= n; i++ {
		v := []byte(fmt.Sprintf("%08d", i))
		must(t, c.Set([]byte("race"), v, 0))
		must(t, c.Set([]byte("pub"), v, 0))
	}
	if err := cmd.Wait(); err != nil || !strings.HasPrefix(stdout.String(), "ok ") {
		t.Fatalf("driver: %v %s\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(strings.TrimSpace(stdout.String()))
}

// shmlru_l1_current, native: 0 once a change was made in the shard of the
// stripe since the cursors, 1 again once shmlru_l1_changes reported it,
// and 1 through a change in another shard; a stripe out of range or
// cursors that are not one per shard are refused. Go's Unchanged answers
// the same for cursors of its own.
func TestNativeL1Current(t *testing.T) {
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 4})
	d, _, st := startWithAChange(t, bin, path, c)
	b := c.Binding()
	goCursors := []uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	goUnchanged := func() bool {
		t.Helper()
		same, err := b.Unchanged(goCursors, st)
		must(t, err)
		return same
	}
	applyGo := func() {
		t.Helper()
		_, _, err := b.StripeChanges(goCursors, make([]uint32, 0, 64))
		must(t, err)
	}
	applyGo()
	current := func() string { return d.Ask(fmt.Sprint("current ", st, " 4")) }
	if a := current(); a != "0" {
		t.Fatalf("current after a change in the stripe's shard: %q", a)
	}
	if a, want := d.Ask("changes 4"), fmt.Sprint("0 1 0 ", st); a != want {
		t.Fatalf("changes: %q, want %q", a, want)
	}
	if a := current(); a != "1" || !goUnchanged() {
		t.Fatalf("current once the change was reported: native %q, Go %v", a, goUnchanged())
	}
	other := keyIn(c, "other", 1)
	must(t, c.Set([]byte(other), []byte("v"), 0))
	if a := current(); a != "1" || !goUnchanged() {
		t.Fatalf("current after a change in another shard: native %q, Go %v", a, goUnchanged())
	}
	must(t, c.Set([]byte(keyIn(c, "same", 0)), []byte("v"), 0))
	if a := current(); a != "0" || goUnchanged() {
		t.Fatalf("current after another change in the shard: native %q, Go %v", a, goUnchanged())
	}
	for _, bad := range []string{fmt.Sprint(b.Stripes(), " 4"), "4294967295 4", fmt.Sprint(st, " 3"), fmt.Sprint(st, " 5")} {
		if a := d.Ask("current " + bad); a != fmt.Sprint(statusBadArgument) {
			t.Fatalf("current %s: %q, want %d", bad, a, statusBadArgument)
		}
	}
	if _, err := b.Unchanged(goCursors[:3], st); !errors.Is(err, lru.ErrBadOptions) {
		t.Fatalf("Unchanged with 3 cursors for 4 shards: %v", err)
	}
	if _, err := b.Unchanged(goCursors, uint32(b.Stripes())); !errors.Is(err, lru.ErrBadOptions) {
		t.Fatalf("Unchanged of a stripe out of range: %v", err)
	}
	d.Close()
}

// shmlru_l1_current whose cursors fault where they lie: a fault on them is
// the caller's (SHMLRU_BAD_ARGUMENT) and never marks the handle broken,
// even with the cursors on a page of the handle's own mapping that faults,
// on either of the call's paths (guard.c's recoverable load, or the escape
// peek_load sets where there is none). The handle is marked broken only
// by a fault on the region's word, which the call reads after them.
func TestNativeL1CurrentCursorsFault(t *testing.T) {
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 4})
	d, _, st := startWithAChange(t, bin, path, c)
	if a, want := d.Ask(fmt.Sprint("mapcursors ", st, " 4")), fmt.Sprint(statusBadArgument, " 0"); a != want {
		t.Fatalf("current with cursors on a page of the mapping that faults: %q, want %q (rc broken)", a, want)
	}
	if a := d.Ask(fmt.Sprint("current ", st, " 4")); a != "0" {
		t.Fatalf("current after it: %q", a)
	}
	d.Close()
}

// shmlru_l1_current on a region truncated underneath: the shard's header
// gone, it answers SHMLRU_CORRUPT (Go's answer, its mapping faulting too),
// and the process lives; so does every call after the fault.
func TestNativeL1CurrentTruncated(t *testing.T) {
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 4})
	gone := keyIn(c, "key", 3)
	st, _, err := c.Binding().Stripe([]byte(gone))
	must(t, err)
	d := startDriver(t, bin, "wait", path)
	d.Await("ready")
	if a := d.Ask("changes 4"); a != "0 0 0" {
		t.Fatalf("changes from now on: %q", a)
	}
	q := fmt.Sprint("current ", st, " 4")
	if a := d.Ask(q); a != "1" {
		t.Fatalf("current before the truncation: %q", a)
	}
	if err := os.Truncate(path, c.Capacity()/2); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if a := d.Ask(q); a != fmt.Sprint(statusCorrupt) {
			t.Fatalf("current of a shard truncated away: %q, want %d", a, statusCorrupt)
		}
	}
	d.Close()
}

// startWatching is startWithAChange over a region of 4 shards whose driver
// then took the ring-head watch (native_driver's "heads"): the driver, the
// cache, the changed key's stripe, and the shift from a stripe to its
// shard, which the watch's answer is checked against.
func startWatching(t *testing.T) (*driver, *lru.Cache, uint32, uint32) {
	t.Helper()
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 4})
	d, _, st := startWithAChange(t, bin, path, c)
	b := c.Binding()
	shift := uint32(bits.TrailingZeros(uint(b.Stripes() / b.Shards())))
	if a, want := d.Ask("heads 4"), fmt.Sprint("1 ", shift); a != want {
		t.Fatalf("heads: %q, want %q", a, want)
	}
	return d, c, st, shift
}

// shmlru_l1_heads: the ring-head watch answers what shmlru_l1_current
// answers, read with a plain load by the caller, through every change the
// current test makes; bad arguments are refused; a child forked without
// exec, which inherits no watch, reads 0 there; and once the handle is
// closed the heads taken before read 0, never a head, without a fault,
// and the handle has no watch to give.
func TestNativeL1Heads(t *testing.T) {
	d, c, st, _ := startWatching(t)
	same := func(want string) {
		t.Helper()
		cur, head := d.Ask(fmt.Sprint("current ", st, " 4")), d.Ask(fmt.Sprint("head ", st))
		if cur != want || head != want+" 0" {
			t.Fatalf("current %q, head %q; want %q", cur, head, want)
		}
	}
	same("0")
	if a, want := d.Ask("changes 4"), fmt.Sprint("0 1 0 ", st); a != want {
		t.Fatalf("changes: %q, want %q", a, want)
	}
	same("1")
	must(t, c.Set([]byte(keyIn(c, "other", 1)), []byte("v"), 0))
	same("1")
	must(t, c.Set([]byte(keyIn(c, "same", 0)), []byte("v"), 0))
	same("0")
	bad := fmt.Sprint(statusBadArgument)
	for _, n := range []string{"0", "3", "5"} {
		if a := d.Ask("heads " + n); a != bad+" 0" {
			t.Fatalf("heads %s for 4 shards: %q, want %s", n, a, bad)
		}
	}
	if a, want := d.Ask("headsbad 4"), strings.Repeat(bad+" ", 3)+bad; a != want {
		t.Fatalf("heads or shift NULL or unwritable: %q, want %q", a, want)
	}
	if a := d.Ask(fmt.Sprint("forkhead ", st)); a != "0 1" {
		t.Fatalf("a head read in a child forked without exec: %q, want a 0 that is no cursor", a)
	}
	same("0")
	if a := d.Ask("close"); a != "0" {
		t.Fatalf("close: %q", a)
	}
	if a := d.Ask(fmt.Sprint("head ", st)); a != "0 1" {
		t.Fatalf("a head taken before close, read after it: %q, want a 0 that is no cursor", a)
	}
	if a := d.Ask("heads 4"); a != "0 0" {
		t.Fatalf("heads of a closed handle: %q, want none", a)
	}
	d.Close()
}

// The ring-head watch of a region truncated underneath: a load from the
// caller's own code on the page the file lost does not kill the process;
// it reads 0, and so does every head of the watch from then on (the
// handle is broken, as after a fault in a call), so no copy is served
// without asking the library, which answers SHMLRU_CORRUPT.
func TestNativeL1HeadsTruncated(t *testing.T) {
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 4})
	b := c.Binding()
	gone, _, err := b.Stripe([]byte(keyIn(c, "key", 3)))
	must(t, err)
	kept, _, err := b.Stripe([]byte(keyIn(c, "key", 0)))
	must(t, err)
	d := startDriver(t, bin, "wait", path)
	d.Await("ready")
	if a := d.Ask("changes 4"); a != "0 0 0" {
		t.Fatalf("changes from now on: %q", a)
	}
	if a := d.Ask("heads 4"); !strings.HasPrefix(a, "1 ") {
		t.Fatalf("heads: %q", a)
	}
	for _, s := range []uint32{gone, kept} {
		if a := d.Ask(fmt.Sprint("head ", s)); a != "1 0" {
			t.Fatalf("head of stripe %d before the truncation: %q", s, a)
		}
	}
	if err := os.Truncate(path, c.Capacity()/2); err != nil {
		t.Fatal(err)
	}
	for _, s := range []uint32{gone, kept, gone} {
		if a := d.Ask(fmt.Sprint("head ", s)); a != "0 1" {
			t.Fatalf("head of stripe %d after the truncation: %q, want 0 read", s, a)
		}
	}
	if a := d.Ask(fmt.Sprint("current ", gone, " 4")); a != fmt.Sprint(statusCorrupt) {
		t.Fatalf("current of a shard truncated away: %q, want %d", a, statusCorrupt)
	}
	if a := d.Ask("heads 4"); a != "0 0" {
		t.Fatalf("heads of a broken handle: %q, want none", a)
	}
	d.Close()
}

// A child forked without exec finds no hole where the ring-head watch was:
// the pages of every watch read 0 there from the fork on. Were the watch's
// place left unmapped, the child's own mappings could land in it, so
// that a head pointer taken before the fork read whatever the child put
// there (here, the very cursor: a copy served as current), and the fault
// on the rest of the watch (here, a third shard's head) would map zeros
// over the child's pages.
func TestNativeL1HeadsForkHole(t *testing.T) {
	d, _, st, shift := startWatching(t)
	if a, want := d.Ask("changes 4"), fmt.Sprint("0 1 0 ", st); a != want {
		t.Fatalf("changes: %q, want %q", a, want)
	}
	if a := d.Ask(fmt.Sprint("head ", st)); a != "1 0" {
		t.Fatalf("head in the parent: %q, want current", a)
	}
	other := (st>>shift + 1) % 4
	third := (st>>shift + 2) % 4
	if a := d.Ask(fmt.Sprint("forkhole ", st, " ", other, " ", third)); a != "0 1 1" {
		t.Fatalf("a head read in a forked child that mapped pages of its own where it could: %q, want \"0 1 1\" (not current, 0 read, the child's pages intact)", a)
	}
	if a := d.Ask(fmt.Sprint("head ", st)); a != "1 0" {
		t.Fatalf("head in the parent after the child: %q, want current", a)
	}
	d.Close()
}
