package lru

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
)

// stallBound is the longest any operation may take while processes are
// being killed around it: a waiter behind a dead owner notices it within
// shm.OwnerCheckInterval (10 ms); the rest is headroom for a loaded
// two-core machine running the race detector.
const stallBound = 2 * time.Second

// chaosProc is a verify child whose progress lines are read as they come.
type chaosProc struct {
	*child
	pidns    bool
	readOnly bool // reads only: lock-free unless a read must take the lock
	progress atomic.Int64
	worst    atomic.Int64 // ns
	ticks    chan struct{}
}

func startChaosProc(t *testing.T, path string, pidns, readOnly bool) *chaosProc {
	var wrap []string
	if pidns {
		wrap = testenv.PidNamespace(t)
	}
	arg := "0"
	if readOnly {
		arg += ":ro"
	}
	p := &chaosProc{child: startChild(t, "verify", path, arg, wrap...), pidns: pidns, readOnly: readOnly, ticks: make(chan struct{}, 1)}
	go func() {
		defer close(p.ticks)
		for p.out.Scan() {
			f := strings.Fields(p.out.Text())
			if len(f) == 3 && f[0] == "progress" {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				w, _ := strconv.ParseInt(f[2], 10, 64)
				p.progress.Store(n)
				if w > p.worst.Load() {
					p.worst.Store(w)
				}
				select {
				case p.ticks <- struct{}{}:
				default:
				}
			}
		}
	}()
	return p
}

// waitProgress blocks until the child has done at least n operations.
func (p *chaosProc) waitProgress(t *testing.T, n int64) {
	for p.progress.Load() < n {
		if _, ok := <-p.ticks; !ok {
			p.cmd.Wait()
			t.Fatalf("child exited on its own: %s", p.stderr)
		}
	}
}

// TestChaos SIGKILLs writer processes at random moments, hundreds of times,
// while others keep reading and writing self-verifying values (verified on
// every read, in the children), and one process only reads, through the
// lock-free path. After each kill it checks that nothing
// stalled beyond stallBound, that Check passes, and that entries were lost
// only from a shard the dead process was changing (the cache is sized so
// that nothing is ever evicted). Some victims run in their own pid namespace.
// SHMLRU_SOAK_KILLS sets the number of kills (make soak: 10,000).
func TestChaos(t *testing.T) {
	kills, err := soakKills(os.Getenv("SHMLRU_SOAK_KILLS"), 200)
	if err != nil {
		t.Fatal(err)
	}
	// Victims in pid namespaces of their own need root and unshare: without
	// them every victim shares this process's.
	pidnsOK := os.Geteuid() == 0 && testenv.Has(t, "unshare")
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 8 << 20, Shards: 8})
	var sentinels [][]byte
	for i := 0; i < 64; i++ {
		k := []byte(fmt.Sprint("sentinel", i))
		sentinels = append(sentinels, k)
		c.Set(k, makeValue(k, []byte("never touched by the children")), 0)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	// Three processes write and read; a fourth only reads, without taking
	// locks, and is never the one killed: it must never see a torn value
	// nor stall, whatever the writers die in the middle of.
	pool := make([]*chaosProc, 4)
	for i := range pool {
		pool[i] = startChaosProc(t, path, false, i == 3)
	}
	prev, _ := c.Stats()
	var worstParent time.Duration
	pidnsKills := 0
	for kill := 0; kill < kills; kill++ {
		i := rng.IntN(len(pool) - 1) // a writer
		v := pool[i]
		v.waitProgress(t, v.progress.Load()+int64(1+rng.IntN(3))*256)
		pid := v.cmd.Process.Pid
		if v.pidns {
			pid = hostPid(t, pid)
			pidnsKills++
		}
		syscall.Kill(pid, syscall.SIGKILL)
		v.cmd.Wait()
		// Judge the victim by what it said, not by its exit status:
		// unshare reports its child's SIGKILL as an exit status of its own.
		if strings.Contains(v.stderr.String(), "child") {
			t.Fatalf("kill %d: the victim had failed on its own: %s", kill, v.stderr)
		}
		if w := time.Duration(v.worst.Load()); w > stallBound {
			t.Fatalf("kill %d: an operation of a child took %v", kill, w)
		}
		pool[i] = startChaosProc(t, path, pidnsOK && kill%4 == 3, false)
		if w := time.Duration(pool[3].worst.Load()); w > stallBound {
			t.Fatalf("kill %d: a read of the reader that takes no lock took %v", kill, w)
		}

		// Repair takes every shard's lock, repairing what the victim left
		// (the children may have done so already). A repair that had to
		// reset a shard for a problem Check found means the recovery
		// itself went wrong.
		start := time.Now()
		done, err := c.Repair()
		worstParent = max(worstParent, time.Since(start))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range done {
			if strings.Contains(d.Msg, "problem") {
				t.Fatalf("kill %d: after the takeover: %v", kill, d)
			}
		}
		st, err := c.Stats()
		if err != nil {
			t.Fatal(err)
		}
		reset := map[int]bool{}
		for si := range st.Shards {
			if st.Shards[si].Resets != prev.Shards[si].Resets {
				reset[si] = true
			}
		}
		if len(reset) > 1 {
			t.Fatalf("kill %d: one dead process, but shards %v were reset", kill, reset)
		}
		for _, k := range sentinels {
			val, _, _, err := c.Peek(nil, k)
			if err != nil {
				if !reset[c.shardFor(hashKey(k)).idx] {
					t.Fatalf("kill %d: %q lost from shard %d, which was not reset", kill, k, c.shardFor(hashKey(k)).idx)
				}
				c.Set(k, makeValue(k, []byte("never touched by the children")), 0)
				continue
			}
			if err := verifyValue(k, val); err != nil {
				t.Fatalf("kill %d: %v", kill, err)
			}
		}
		if ps, err := c.Check(); err != nil || len(ps) > 0 {
			t.Fatalf("kill %d: Check: %v %v", kill, ps, err)
		}
		prev = st
	}
	if n := pool[3].progress.Load(); n == 0 {
		t.Fatal("the reader that takes no lock made no progress")
	}
	for _, p := range pool {
		p.stdin.Close()
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("survivor failed: %v\n%s", err, p.stderr)
		}
		if w := time.Duration(p.worst.Load()); w > stallBound {
			t.Fatalf("an operation of a survivor took %v", w)
		}
	}
	if worstParent > stallBound {
		t.Fatalf("the parent's Repair took %v", worstParent)
	}
	st, _ := c.Stats()
	t.Logf("%d kills (%d in their own pid namespace): %d lock takeovers, %d shard resets, longest parent stall %v",
		kills, pidnsKills, st.Recoveries, st.Resets, worstParent)
	if st.Recoveries == 0 {
		t.Fatal("no kill ever landed while a lock was held: the test exercised nothing")
	}
}

// soakKills reads SHMLRU_SOAK_KILLS: unset means def; anything but a
// positive whole number is an error, never a soak of zero kills that passes.
func soakKills(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("SHMLRU_SOAK_KILLS=%q: want a positive whole number of kills (make soak uses 10000)", s)
	}
	return n, nil
}

// A mistyped kill count fails instead of running a soak
// of zero kills.
func TestSoakKillsMustParse(t *testing.T) {
	for _, s := range []string{"10k", "0", "-5", " 100", "1e4"} {
		if n, err := soakKills(s, 200); err == nil {
			t.Errorf("SHMLRU_SOAK_KILLS=%q accepted as %d", s, n)
		}
	}
	if n, err := soakKills("10000", 200); n != 10000 || err != nil {
		t.Errorf("10000: %d, %v", n, err)
	}
	if n, err := soakKills("", 200); n != 200 || err != nil {
		t.Errorf("unset: %d, %v", n, err)
	}
}
