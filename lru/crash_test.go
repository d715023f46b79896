package lru

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
)

func init() { childRoles["hook"] = hookChild }

// hookChild stops inside a mutation, at the point named by arg, with the
// shard locked and its structures half updated; it prints "at POINT" and
// waits there for the parent's SIGKILL.
func hookChild(c *Cache, arg string) error {
	point, op, _ := strings.Cut(arg, ":")
	testHook = func(p string) {
		if p == point {
			fmt.Printf("at %s\n", p)
			holdUntilKilled()
		}
	}
	switch op {
	case "set": // a value of another size: remove and insert
		return c.Set([]byte("victim"), bytes.Repeat([]byte("new value "), 50), 0)
	case "overwrite": // a value of the same size: rewritten in place
		return c.Set([]byte("victim"), []byte("new value"), 0)
	case "incr": // a number updated in place, then moved to the head
		_, err := c.Incr([]byte("victim"), 1)
		return err
	case "chain": // a value no free run can take: stored in pieces
		return c.Set([]byte("victim"), bytes.Repeat([]byte("chained value "), 7000), 0)
	}
	return fmt.Errorf("unknown op %q", op)
}

// keysInShard returns n keys that hash to shard si.
func keysInShard(c *Cache, si, n int, prefix string) [][]byte {
	var keys [][]byte
	for i := 0; len(keys) < n; i++ {
		k := []byte(prefix + strconv.Itoa(i))
		if c.shardFor(hashKey(k)).idx == si {
			keys = append(keys, k)
		}
	}
	return keys
}

// hostPid returns the pid, as seen here, of the process that `unshare
// --fork` started in a new pid namespace (where it is pid 1).
func hostPid(t *testing.T, unsharePid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", unsharePid, unsharePid))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("children of unshare: %q", b)
	}
	return pid
}

// A process killed at the worst point (a node unlinked and not relinked)
// leaves its shard locked; the next operation on that shard takes the lock
// over. A writer leaves the shard dirty: that shard alone is reset. A death
// in a touch (the LRU move that follows an in-place incr, made after the
// dirty mark is cleared) leaves only the LRU queue half relinked: it is
// rebuilt and no entry is lost.
func TestKillAtWorstPoint(t *testing.T) {
	for _, tc := range []struct {
		point, op string
		reset     bool
	}{
		{"remove-unlinked", "set", true},
		{"touch-unlinked", "incr", false},
		{"insert-written", "set", true},
		{"overwrite-copied", "overwrite", true},
		{"insert-key-written", "chain", true},
		{"insert-written", "chain", true},
	} {
		for _, pidns := range []bool{false, true} {
			name := tc.point
			if tc.op == "chain" {
				name += "/chained-value"
			}
			if pidns {
				name += "/own-pid-namespace"
			}
			t.Run(name, func(t *testing.T) {
				var wrap []string
				if pidns {
					wrap = testenv.PidNamespace(t)
				}
				killAtPoint(t, tc.point, tc.op, tc.reset, wrap)
			})
		}
	}
}

// fragment fills shard si with 1000-byte values and deletes every other
// one, so that its free space is in holes of about one entry each.
func fragment(t *testing.T, c *Cache, si int) {
	var keys [][]byte
	for i := 0; ; i++ {
		k := []byte(fmt.Sprint("frag", i))
		if c.Binding().ShardOf(k) != si {
			continue
		}
		r, err := c.Write(k, make([]byte, 1000), WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Forcible {
			break
		}
		keys = append(keys, k)
	}
	for i := 0; i < len(keys); i += 2 {
		c.Delete(keys[i])
	}
	if st, _ := c.Stats(); st.Shards[si].FreeRuns < 100 {
		t.Fatalf("shard %d has its free space in %d runs: not fragmented", si, st.Shards[si].FreeRuns)
	}
}

func killAtPoint(t *testing.T, point, op string, wantReset bool, wrap []string) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 2})
	si := c.shardFor(hashKey([]byte("victim"))).idx
	if op == "chain" {
		fragment(t, c, si)
	}
	same := keysInShard(c, si, 20, "same")
	other := keysInShard(c, 1-si, 20, "other")
	for _, k := range append(same, other...) {
		c.Set(k, []byte("v"), 0)
	}
	setVictim(c, op)
	c.Set(same[0], []byte("v"), 0) // so that victim is not at the head
	before, _ := c.Stats()

	k := startChild(t, "hook", path, point+":"+op, wrap...)
	if got := k.line(); got != "at "+point {
		k.cmd.Process.Kill()
		k.cmd.Wait()
		t.Fatalf("child did not stop at %s: %q\n%s", point, got, k.stderr)
	}
	owner, _ := c.r.LockOwner(&c.shards[si].h.Lock)
	if !owner.Held || !owner.Alive {
		t.Fatalf("lock of shard %d while the child holds it: %+v\n%s", si, owner, k.stderr)
	}
	pid := k.cmd.Process.Pid
	if len(wrap) > 0 {
		pid = hostPid(t, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	k.cmd.Wait()

	// The next write to that shard recovers it (a read takes no lock).
	if err := c.Set(same[1], []byte("x"), 0); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := c.Get([]byte("victim")); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on the recovered shard: %v", err)
	}
	after, _ := c.Stats()
	if got := after.Shards[si].Recoveries - before.Shards[si].Recoveries; got != 1 {
		t.Fatalf("recoveries on shard %d: %d, want 1", si, got)
	}
	want := uint64(0)
	if wantReset {
		want = 1
	}
	if got := after.Shards[si].Resets - before.Shards[si].Resets; got != want {
		t.Fatalf("resets on shard %d: %d, want %d", si, got, want)
	}
	if !wantReset {
		for _, k := range append(same, []byte("victim")) {
			if _, err := c.Get(k); err != nil {
				t.Fatalf("a death in an LRU move lost %q: %v", k, err)
			}
		}
	}
	if after.Shards[1-si].Resets != before.Shards[1-si].Resets {
		t.Fatal("the other shard was reset too")
	}
	for _, k := range other {
		if _, err := c.Get(k); err != nil {
			t.Fatalf("entry %q of the untouched shard lost: %v", k, err)
		}
	}
	mustCheck(t, c)
	// And the shard works again.
	for i := 0; i < 100; i++ {
		k := []byte(fmt.Sprint("again", i))
		if err := c.Set(k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(k); err != nil || string(v) != "v" {
			t.Fatalf("after recovery: %q %v", v, err)
		}
	}
	mustCheck(t, c)
}

// holdUntilKilled blocks the calling goroutine for good, waiting for the
// parent's SIGKILL. Not select{}: with every goroutine blocked and no timer
// pending, the runtime may declare a deadlock and exit the child, which
// drops its locks and makes a live owner look dead to the test
// (intermittently: it depends on whether a timer happens to be pending).
func holdUntilKilled() {
	for {
		time.Sleep(time.Hour)
	}
}

// setVictim writes the entry that hookChild's op works on: a number for
// "incr", bytes for the others.
func setVictim(c *Cache, op string) {
	if op == "incr" {
		c.Write([]byte("victim"), EncodeNumber(1), WriteOptions{Type: TypeNumber})
		return
	}
	c.Set([]byte("victim"), []byte("old value"), 0)
}
