package main

// Tests of the fault-recoverable load that shmlru_l1_valid reads its
// stripe with (guard.c's shmlru_fast_load64, on x86-64 and arm64; the
// sigsetjmp escape elsewhere), through test/guard_driver.c:
//   - a fault on the load, the file truncated or the page made to fault in
//     the native path's mapping alone, from many threads at once: every
//     call is answered (by Go), the handle is marked broken, nothing dies;
//   - a SIGBUS sent with pthread_kill to a thread held inside the load is
//     not a fault of the library's: it goes to the handler before ours, and
//     the load then completes.
// TestNativeL1ValidTruncated (native_test.go) and abi_test.c's
// test_l1_valid_while_closing cover the call's other faults.

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/lru"
)

// stripeOffset returns key's stripe's file offset in c's region, and sets
// key three times so that its stamp is not 0 (guard_driver checks both).
func stripeOffset(t *testing.T, c *lru.Cache, key string) int {
	t.Helper()
	for i := 0; i < 3; i++ {
		must(t, c.Set([]byte(key), []byte("v"), 0))
	}
	stripe, _, err := c.Binding().Stripe([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Binding().NativeView()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Region.Close()
	shard, i := int(stripe)/v.Stripes, int(stripe)%v.Stripes
	return v.DataOff + format.CacheHeaderSize + shard*v.Stride + v.StripesOff + 8*i
}

func TestL1ValidLoadFaults(t *testing.T) {
	bin := buildC(t, "test/guard_driver.c")
	const threads, calls = 4, 20000
	for _, tc := range []struct {
		how  string
		want int // every call's answer
	}{
		// Go's mapping faults too: SHMLRU_CORRUPT.
		{"trunc", statusCorrupt},
		// The page is the file's, and Go's mapping has it: Go answers
		// that the stamp holds.
		{"protect", 1},
	} {
		t.Run(tc.how, func(t *testing.T) {
			path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 4})
			off := stripeOffset(t, c, "key")
			out, err := execDriver(bin, "faults", path, "key", tc.how, strconv.Itoa(off), strconv.Itoa(threads), strconv.Itoa(calls))
			if err != nil {
				t.Fatalf("driver: %v\n%s", err, out)
			}
			want := fmt.Sprintf("%d %d\nhandle broken\n", tc.want, threads*calls)
			if out != want {
				t.Fatalf("driver said %q, want %q", out, want)
			}
		})
	}
}

func TestL1ValidSentSignalIsNotAFault(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm: userfaultfd's minor faults need a region on tmpfs")
	}
	bin := buildC(t, "test/guard_driver.c")
	path := fmt.Sprintf("/dev/shm/shmlru-test-sent-%d", os.Getpid())
	os.Remove(path)
	c, err := lru.Open(path, &lru.Options{Size: 1 << 20, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		os.Remove(path)
	})
	off := stripeOffset(t, c, "key")
	out, err := execDriver(bin, "sent", path, "key", strconv.Itoa(off))
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	if strings.HasPrefix(out, "skip ") {
		t.Skip("this kernel cannot hold a load on a page: " + out)
	}
	// The host's handler saw the signal once, the call answered from the
	// native path (its stamp holds) and the handle is whole: nothing took
	// the signal for a fault of the load.
	if want := "host 1 rc 1 handle whole\n"; out != want {
		t.Fatalf("driver said %q, want %q", out, want)
	}
}

// execDriver runs a driver to its end and returns its stdout (its stderr
// too if it failed).
func execDriver(bin string, args ...string) (string, error) {
	d, e := &strings.Builder{}, &strings.Builder{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = d, e
	if err := cmd.Run(); err != nil {
		return d.String() + e.String(), err
	}
	return d.String(), nil
}
