package ffi_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// Plain LuaJIT processes (ffi/t/load_child.lua) on read-through keys, with
// this Go process holding or watching the loads: outside nginx a waiter
// sleeps in shmlru_load_wait itself. The Go side decides when a load ends
// (it holds it, or kills its holder) once the load table counts the
// waiters, so every case is exact. A tracked read, stopped at each of its
// lines while this process plays the agent, checks that it reads at one
// instant.
//
// TestLuaJITLoadWaits: three LuaJIT waiters blocked in shmlru_load_wait get
// a Go loader's value, its absence or its error; a 0.1 s wait_timeout ends
// in "timeout waiting for the load"; a LuaJIT loader killed in its callback
// is taken over by one of two LuaJIT waiters, which loads while the other
// waits; and a TypeNone entry written by Go reads as nil (an expired one
// loads). TestLuaJITTrackedReadIsOneInstant: the tracked read above.
// Run by `go test ./ffi/` (so by make test-go); they need luajit and
// build/libshmlru.so.

type luajitEnv struct {
	t      *testing.T
	c      *lru.Cache
	region string
	luajit string
	lib    string
}

func startLuaJIT(t *testing.T) *luajitEnv {
	t.Helper()
	luajit := testenv.Need(t, "luajit")
	lib := testenv.Lib(t)
	region := shm.Path(fmt.Sprintf("shmlru-luajit-test-%d", os.Getpid()))
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); shm.Remove(region) })
	return &luajitEnv{t: t, c: c, region: region, luajit: luajit, lib: lib}
}

// child is one running ffi/t/load_child.lua.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	done chan string // the rest of its output once it exits
}

func (e *luajitEnv) start(mode, key string, extra ...string) *child {
	e.t.Helper()
	cmd := exec.Command(e.luajit, append([]string{"ffi/t/load_child.lua", e.region, mode, key}, extra...)...)
	cmd.Dir = ".." // the repository's root, where load_child.lua finds ffi/
	cmd.Env = append(os.Environ(), "SHMLRU_LIB="+e.lib)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	ch := &child{cmd: cmd, in: stdin, out: bufio.NewReader(stdout), done: make(chan string, 1)}
	e.t.Cleanup(func() { cmd.Process.Kill() })
	return ch
}

// line reads one line of the child's output.
func (ch *child) line(t *testing.T) string {
	t.Helper()
	l, err := ch.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child output: %q, %v", l, err)
	}
	return strings.TrimSpace(l)
}

// finish returns the rest of the child's output once it has exited,
// failing the test if that takes more than 30 s or the exit is not 0.
func (ch *child) finish(t *testing.T) string {
	t.Helper()
	go func() {
		b, _ := io.ReadAll(ch.out)
		err := ch.cmd.Wait()
		if err != nil {
			b = append(b, []byte("\nexit: "+err.Error())...)
		}
		ch.done <- strings.TrimSpace(string(b))
	}()
	select {
	case s := <-ch.done:
		if strings.Contains(s, "exit: ") {
			t.Fatalf("luajit child failed: %s", s)
		}
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("a luajit child did not finish in 30 s")
	}
	return ""
}

// waits waits until the load table has counted n more waiters than base.
func (e *luajitEnv) waitsFrom(base uint64, n uint64) {
	e.t.Helper()
	waitUntil(e.t, 20*time.Second, fmt.Sprintf("%d waiters", n), func() bool {
		st, err := e.c.Loads().Stats()
		if err != nil {
			e.t.Fatal(err)
		}
		return st.Waits >= base+n
	})
}

func (e *luajitEnv) waitCount() uint64 {
	st, err := e.c.Loads().Stats()
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Waits
}

// waitUntil polls cond every 2 ms until it holds, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLuaJITLoadWaits(t *testing.T) {
	e := startLuaJIT(t)

	// Go holds a load; three LuaJIT processes wait for it (blocking in
	// shmlru_load_wait), then get what the load ended with.
	for _, tc := range []struct {
		name    string
		end     func(tk *lru.LoadTicket, key []byte)
		want    string
		written bool
	}{
		{"done", func(tk *lru.LoadTicket, key []byte) {
			_, err := e.c.Write(key, []byte("from-go"), lru.WriteOptions{TTL: time.Minute})
			must(t, err)
			must(t, e.c.Loads().End(tk, lru.LoadDone, ""))
		}, "string\tfrom-go\tnil\twaited", true},
		{"absent", func(tk *lru.LoadTicket, key []byte) {
			must(t, e.c.Loads().End(tk, lru.LoadAbsent, ""))
		}, "nil\tnil\tnil\twaited", false},
		{"failed", func(tk *lru.LoadTicket, key []byte) {
			must(t, e.c.Loads().End(tk, lru.LoadFailed, "db down"))
		}, "nil\tnil\tdb down\twaited", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			key := []byte("wait-" + tc.name)
			tk, err := e.c.Loads().Begin(key, time.Minute)
			must(t, err)
			if tk.State != lru.LoadMine {
				t.Fatalf("BeginLoad: %v", tk.State)
			}
			base := e.waitCount()
			var kids []*child
			for i := 0; i < 3; i++ {
				kids = append(kids, e.start("wait", string(key)))
			}
			e.waitsFrom(base, 3)
			tc.end(&tk, key)
			for _, k := range kids {
				if got := k.finish(t); got != tc.want {
					t.Errorf("luajit waiter: %q, want %q", got, tc.want)
				}
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		e.t = t
		tk, err := e.c.Loads().Begin([]byte("slow"), time.Minute)
		must(t, err)
		start := time.Now()
		got := e.start("wait", "slow", "0.1").finish(t)
		took := time.Since(start)
		if got != "nil\tnil\ttimeout waiting for the load\tnil" {
			t.Errorf("impatient waiter: %q", got)
		}
		if took < 100*time.Millisecond {
			t.Errorf("a 0.1 s wait ended after %v", took)
		}
		must(t, e.c.Loads().End(&tk, lru.LoadAbandoned, ""))
	})

	t.Run("dead loader", func(t *testing.T) {
		e.t = t
		// A LuaJIT loader dies in its callback; of the two LuaJIT
		// waiters, one takes the load over and loads, the other gets its
		// value.
		st0, err := e.c.Loads().Stats()
		must(t, err)
		holder := e.start("hold", "dead")
		f := strings.Fields(holder.line(t))
		if len(f) != 2 || f[0] != "loading" {
			t.Fatalf("holder: %q", f)
		}
		pid, _ := strconv.Atoi(f[1])
		base := e.waitCount()
		w1, w2 := e.start("wait", "dead"), e.start("wait", "dead")
		e.waitsFrom(base, 2)
		must(t, syscall.Kill(pid, syscall.SIGKILL))
		a1, a2 := w1.finish(t), w2.finish(t)
		p1, p2 := strings.Split(a1, "\t"), strings.Split(a2, "\t")
		if len(p1) != 4 || len(p2) != 4 || p1[1] != p2[1] || !strings.HasPrefix(p1[1], "from-lua-") ||
			p1[2] != "nil" || p2[2] != "nil" {
			t.Fatalf("waiters answered %q and %q; want one value from one of them", a1, a2)
		}
		if srcs := p1[3] + "," + p2[3]; srcs != "loaded,waited" && srcs != "waited,loaded" {
			t.Errorf("sources %s; want one loaded and one waited", srcs)
		}
		st, err := e.c.Loads().Stats()
		must(t, err)
		if st.Takeovers != st0.Takeovers+1 {
			t.Errorf("takeovers %d -> %d; want one", st0.Takeovers, st.Takeovers)
		}
	})

	t.Run("cached absence reads as nil", func(t *testing.T) {
		e.t = t
		// A TypeNone entry written by Go: get and get_stale find nothing,
		// get_or_load takes it for a hit, and the callback does not run.
		_, err := e.c.Write([]byte("none"), nil, lru.WriteOptions{Type: lru.TypeNone, TTL: time.Minute})
		must(t, err)
		want := "get\tnil\nget_stale\tnil\nget_or_load\tnil\tnil\thit\ncallback\tfalse"
		if got := e.start("get", "none").finish(t); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
		// An expired one is no entry for get_stale either, and loads.
		_, err = e.c.Write([]byte("none-expired"), nil, lru.WriteOptions{Type: lru.TypeNone, TTL: time.Millisecond})
		must(t, err)
		waitUntil(t, time.Second, "the absence expires", func() bool {
			_, _, stale, err := e.c.Read(nil, []byte("none-expired"), lru.ReadOptions{Stale: true, Absent: true})
			return err == nil && stale
		})
		want = "get\tnil\nget_stale\tnil\nget_or_load\tnil\tnil\tloaded\ncallback\ttrue"
		if got := e.start("get", "none-expired").finish(t); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	})
}

// A tracked read (resty.shmlru.load's look with tracked, which get_or_load with
// opts.tracked and resty.shmlru.near use) must not serve a copy that was
// already out of date when it read it. The case: the agent's confirmation
// has run out (its stream is late), the key has changed in the store, and
// the agent catches up, invalidating the key and confirming again, while a
// reader is in the middle of its read. The read is stopped at each of its
// Lua lines in turn and the agent catches up there: read before the
// catching up it must say "not in step", after it "miss", and it never
// returns the old copy as a hit. (Two calls, the entry first and the
// in-step check after, serve the copy when stopped between them.)
func TestLuaJITTrackedReadIsOneInstant(t *testing.T) {
	e := startLuaJIT(t)
	ok, err := e.c.Tracker().ClaimAgent()
	must(t, err)
	if !ok {
		t.Fatal("ClaimAgent: another attachment holds the agent role")
	}
	key := []byte("k")
	ch := e.start("interleave", string(key))
	seen := map[string]bool{}
	for n := 1; ; n++ {
		if n > 100 {
			t.Fatal("the tracked read ran more than 100 lines")
		}
		// A tracked copy of the key, then the confirmation runs out.
		must(t, e.c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
		g, err := e.c.Tracker().BeginFill(key)
		must(t, err)
		if ok, err := e.c.Tracker().StoreFill(key, []byte("old"), false, lru.WriteOptions{}, g); !ok || err != nil {
			t.Fatalf("StoreFill: %v %v", ok, err)
		}
		must(t, e.c.Tracker().SetInStep(0))
		must(t, e.c.Tracker().SetInStep(lru.TrackClock()-1))

		fmt.Fprintln(ch.in, n)
		l := ch.line(t)
		if l == "at" {
			// The store changed the key; the agent applies it and
			// confirms again, while the read is stopped.
			must(t, e.c.Tracker().Invalidate(key))
			must(t, e.c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
			fmt.Fprintln(ch.in, "go")
			l = ch.line(t)
		}
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			t.Fatalf("line %d: child said %q", n, l)
		}
		if f[0] == "done" {
			break
		}
		seen[f[1]] = true
		if f[1] == "1" { // FRESH
			t.Errorf("stopped at line %d of the read, the agent caught up: the old copy was served (%q)", n, l)
		}
	}
	// Stopped before its read the read saw the agent caught up (a miss:
	// MISS is 0); stopped after it, not in step (OUT_OF_STEP is -1).
	if !seen["0"] || !seen["-1"] {
		t.Errorf("states seen %v: want both a miss (0) and not in step (-1)", seen)
	}
	ch.in.Close()
	ch.finish(t)
}
