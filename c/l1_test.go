package main

import (
	"fmt"
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
// slots, and laps for a head behind the cursor or more than a ring ahead.
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
		{"behind the cursor", 0, 0, true},
		{"at the top", ^uint64(0) - 1, 0, true},
		{"wrapped past zero", 2, 4, false},
	} {
		atomic.StoreUint64(head, step.head)
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
// driver keeps a copy of the first as mlcache's always mode does
// (shmlru_l1_stamp, the value, then shmlru_l1_valid on every use, all
// native) and checks every copy it serves against the second key read
// just before: never older.
func TestNativeL1GuaranteeRaced(t *testing.T) {
	bin := buildC(t, "test/native_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 2})
	const n = 20000
	must(t, c.Set([]byte("race"), []byte(fmt.Sprintf("%08d", 0)), 0))
	cmd := exec.Command(bin, "l1race", path, "race", "pub", strconv.Itoa(n))
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
