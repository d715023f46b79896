package ffi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// TestReadThroughDifferential runs the same read-through scenarios through
// Go's Cache.Load and through resty.shmlru's get_or_load (plain LuaJIT,
// ffi/t/readthrough_diff.lua), each on a key of its own set up the same
// way, and compares every outcome: the caller's answer (value, error,
// source), the outcome a second caller queued on the load is told
// (lru.LoadState, and a failure's message), and what the key holds
// afterwards (type, value, user flags, TTL in whole seconds). Both sides
// must also match the scenario's expected record, which pins the rules
// themselves: a change of rule on either side fails here.
//
// The scenarios: a loaded value, negative caching (and neg_ttl 0), hits
// on a value and on a remembered absence, a loader's failure, resurrection
// of an expired value or absence, a resurrected value or absence read back
// by another caller (still resurrected) and once its resurrect_ttl ended
// (loaded again), stale-while-revalidate (the stale answer, then the
// refresh's value and window), a value stored with a stale window, tracked
// fills in step (a value, an absence kept and not kept, a failure, a hit)
// and out of step, and a wait that times out behind a held load.

// rtScenario is one read-through call and what it must come to.
type rtScenario struct {
	name string
	// pre is what the key holds first: "" nothing, "fresh:V", "absent",
	// "softstale:V" (a value in its 60 s stale window), "expired:V",
	// "expiredabsent" (an absence past its TTL), "resurrected:V" and
	// "resurrectedabsent" (as a failed load with resurrect_ttl left them),
	// "expiredresurrected:V" (such a value past its resurrect_ttl),
	// "tracked:V" (a tracked fill), "held" (a load another caller holds).
	pre   string
	agent string // the tracking agent: "in" step, "out" of step, "" as it was
	// the options, in seconds; wait 0 is 5
	ttl, neg, stale, res, wait float64
	tracked                    bool
	do                         string // the loader: "value:V", "absent", "fail:MSG"
	refresh                    bool   // the loader runs after the answer (a stale value's refresh)
	want                       string // the record both sides must produce
}

var rtScenarios = []rtScenario{
	{name: "miss loads", ttl: 60, do: "value:v1",
		want: "answer=v1,nil,loaded waiter=done stored=bytes:v1 flags=0 ttl=60"},
	{name: "negative cached", ttl: 60, neg: 30, do: "absent",
		want: "answer=nil,nil,loaded waiter=absent stored=none: flags=0 ttl=30"},
	{name: "neg_ttl 0 keeps nothing", ttl: 60, do: "absent",
		want: "answer=nil,nil,loaded waiter=absent stored=-"},
	{name: "hit", pre: "fresh:v0", ttl: 60, do: "value:v1",
		want: "answer=v0,nil,hit waiter=- stored=bytes:v0 flags=0 ttl=60"},
	{name: "absent hit", pre: "absent", ttl: 60, neg: 30, do: "value:v1",
		want: "answer=nil,nil,hit waiter=- stored=none: flags=0 ttl=60"},
	{name: "loader fails", ttl: 60, do: "fail:db down",
		want: "answer=nil,db down,loaded waiter=failed:db down stored=-"},
	{name: "resurrect", pre: "expired:old", ttl: 60, res: 30, do: "fail:db down",
		want: "answer=old,nil,resurrected waiter=done stored=bytes:old flags=resurrected ttl=30"},
	{name: "failure without resurrect_ttl", pre: "expired:old", ttl: 60, do: "fail:db down",
		want: "answer=nil,db down,loaded waiter=failed:db down stored=expired bytes:old"},
	{name: "resurrect an absence", pre: "expiredabsent", ttl: 60, neg: 30, res: 30, do: "fail:db down",
		want: "answer=nil,nil,resurrected waiter=done stored=none: flags=resurrected ttl=30"},
	{name: "resurrected, read back by another caller", pre: "resurrected:old", ttl: 60, res: 30, do: "value:v1",
		want: "answer=old,nil,resurrected waiter=- stored=bytes:old flags=resurrected ttl=60"},
	{name: "resurrected absence, read back by another caller", pre: "resurrectedabsent", ttl: 60, neg: 30, res: 30, do: "value:v1",
		want: "answer=nil,nil,resurrected waiter=- stored=none: flags=resurrected ttl=60"},
	{name: "resurrected, past its resurrect_ttl", pre: "expiredresurrected:old", ttl: 60, res: 30, do: "value:v1",
		want: "answer=v1,nil,loaded waiter=done stored=bytes:v1 flags=0 ttl=60"},
	{name: "resurrected, past its resurrect_ttl, fails again", pre: "expiredresurrected:old", ttl: 60, res: 30, do: "fail:db down",
		want: "answer=old,nil,resurrected waiter=done stored=bytes:old flags=resurrected ttl=30"},
	{name: "an expired absence without resurrect_ttl", pre: "expiredabsent", ttl: 60, neg: 30, do: "fail:db down",
		want: "answer=nil,db down,loaded waiter=failed:db down stored=expired none:"},
	{name: "an expired absence loads again", pre: "expiredabsent", ttl: 60, neg: 30, res: 30, do: "value:v1",
		want: "answer=v1,nil,loaded waiter=done stored=bytes:v1 flags=0 ttl=60"},
	{name: "stale while revalidate", pre: "softstale:old", ttl: 60, stale: 60, do: "value:new", refresh: true,
		want: "answer=old,nil,stale waiter=done stored=bytes:new flags=stale+60000ms ttl=120"},
	{name: "stale window stored", ttl: 60, stale: 60, do: "value:v1",
		want: "answer=v1,nil,loaded waiter=done stored=bytes:v1 flags=stale+60000ms ttl=120"},
	{name: "tracked value", agent: "in", tracked: true, ttl: 60, do: "value:t1",
		want: "answer=t1,nil,loaded waiter=done stored=bytes:t1 flags=gen ttl=60"},
	{name: "tracked absence kept", agent: "in", tracked: true, ttl: 60, neg: 30, do: "absent",
		want: "answer=nil,nil,loaded waiter=done stored=none: flags=gen ttl=30"},
	{name: "tracked neg_ttl 0", agent: "in", tracked: true, ttl: 60, do: "absent",
		want: "answer=nil,nil,loaded waiter=done stored=-"},
	{name: "tracked failure", agent: "in", tracked: true, ttl: 60, do: "fail:db down",
		want: "answer=nil,db down,loaded waiter=failed:db down stored=-"},
	{name: "tracked hit", agent: "in", pre: "tracked:t0", tracked: true, ttl: 60, do: "value:t1",
		want: "answer=t0,nil,hit waiter=- stored=bytes:t0 flags=gen ttl=never"},
	{name: "tracked out of step", agent: "out", tracked: true, ttl: 60, do: "value:t1",
		want: "answer=t1,nil,loaded waiter=unclaimed stored=-"},
	{name: "wait times out", pre: "held", ttl: 60, wait: 0.2, do: "value:v1",
		want: "answer=nil,timeout,nil waiter=- stored=-"},
}

// rtRun is one side's run of a call: when its loader starts (it then
// waits for release) and the call's answer.
type rtRun struct {
	loading <-chan struct{}
	result  <-chan string
	release func()
}

func TestReadThroughDifferential(t *testing.T) {
	e := startLuaJIT(t)
	if ok, err := e.c.Tracker().ClaimAgent(); err != nil || !ok {
		t.Fatalf("ClaimAgent: %v %v", ok, err)
	}
	lua := startDiffLua(t, e)
	for i, sc := range rtScenarios {
		t.Run(sc.name, func(t *testing.T) {
			goRec := rtOne(t, e, sc, fmt.Sprintf("rt-%d-go", i), func(key string) rtRun { return goLoad(e.c, sc, key) })
			luaRec := rtOne(t, e, sc, fmt.Sprintf("rt-%d-lua", i), func(key string) rtRun { return lua.load(t, sc, key) })
			if goRec != luaRec {
				t.Errorf("Go and Lua differ:\n  Go:  %s\n  Lua: %s", goRec, luaRec)
			}
			if goRec != sc.want {
				t.Errorf("Go:  %s\n want %s", goRec, sc.want)
			}
			if luaRec != sc.want {
				t.Errorf("Lua: %s\n want %s", luaRec, sc.want)
			}
		})
	}
	lua.in.Close()
	if err := lua.cmd.Wait(); err != nil {
		t.Errorf("luajit: %v", err)
	}
}

// rtOne sets key up as sc says, runs the call, queues a second caller on
// its load while the loader runs, and returns the record of it all.
func rtOne(t *testing.T, e *luajitEnv, sc rtScenario, key string, start func(string) rtRun) string {
	t.Helper()
	c, k := e.c, []byte(key)
	switch sc.agent {
	case "in":
		must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
	case "out":
		must(t, c.Tracker().SetInStep(0))
		must(t, c.Tracker().SetInStep(lru.TrackClock()-1))
	}
	var held lru.LoadTicket
	kind, v, _ := strings.Cut(sc.pre, ":")
	switch kind {
	case "fresh":
		_, err := c.Write(k, []byte(v), lru.WriteOptions{TTL: time.Minute})
		must(t, err)
	case "absent":
		_, err := c.Write(k, nil, lru.WriteOptions{TTL: time.Minute, Type: lru.TypeNone})
		must(t, err)
	case "softstale":
		// Expires a window after now: fresh until now, then stale.
		_, err := c.Write(k, []byte(v), lru.WriteOptions{TTL: time.Minute, Flags: lru.StaleFlag | 60000})
		must(t, err)
	case "resurrected":
		_, err := c.Write(k, []byte(v), lru.WriteOptions{TTL: time.Minute, Flags: lru.ResurrectFlag})
		must(t, err)
	case "resurrectedabsent":
		_, err := c.Write(k, nil, lru.WriteOptions{TTL: time.Minute, Type: lru.TypeNone, Flags: lru.ResurrectFlag})
		must(t, err)
	case "expired", "expiredabsent", "expiredresurrected":
		w := lru.WriteOptions{TTL: time.Millisecond}
		if kind == "expiredabsent" {
			w.Type = lru.TypeNone
		}
		if kind == "expiredresurrected" {
			w.Flags = lru.ResurrectFlag
		}
		_, err := c.Write(k, []byte(v), w)
		must(t, err)
		waitUntil(t, 5*time.Second, "the entry expired", func() bool {
			_, _, stale, err := c.Read(nil, k, lru.ReadOptions{Stale: true, Peek: true})
			return err == nil && stale
		})
	case "tracked":
		g, err := c.Tracker().BeginFill(k)
		must(t, err)
		if ok, err := c.Tracker().StoreFill(k, []byte(v), false, lru.WriteOptions{}, g); !ok || err != nil {
			t.Fatalf("StoreFill: %v %v", ok, err)
		}
	case "held":
		var err error
		held, err = c.Loads().Begin(k, time.Minute)
		must(t, err)
		if held.State != lru.LoadMine {
			t.Fatalf("BeginLoad: %v", held.State)
		}
	}

	run := start(key)
	answer, waiter := "", "-"
	for answer == "" || (sc.refresh && waiter == "-") {
		select {
		case <-run.loading:
			waiter = queueWaiter(t, c, k, run.release)
		case answer = <-run.result:
		case <-time.After(20 * time.Second):
			t.Fatalf("no answer (answer %q, waiter %q)", answer, waiter)
		}
	}
	if held.State == lru.LoadMine {
		must(t, c.Loads().End(&held, lru.LoadAbandoned, ""))
	}
	return "answer=" + answer + " waiter=" + waiter + " stored=" + storedOf(t, c, k)
}

// queueWaiter joins the load of key while its loader runs, lets the
// loader go on, and returns what the load ended with for its waiters
// ("unclaimed" if no load was under way: the loader answers its caller
// alone).
func queueWaiter(t *testing.T, c *lru.Cache, key []byte, release func()) string {
	t.Helper()
	tk, err := c.Loads().Begin(key, time.Minute)
	must(t, err)
	if tk.State == lru.LoadMine {
		release()
		must(t, c.Loads().End(&tk, lru.LoadAbandoned, ""))
		return "unclaimed"
	}
	release()
	msg, err := c.Loads().Wait(&tk, 20*time.Second, time.Minute)
	must(t, err)
	switch tk.State {
	case lru.LoadFailed:
		return "failed:" + msg
	case lru.LoadMine:
		must(t, c.Loads().End(&tk, lru.LoadAbandoned, ""))
		return "taken over"
	}
	return tk.State.String()
}

// storedOf describes what key holds: "-" nothing; else its type and value,
// its user flags (a stale window, "gen" for the tracked generation,
// "resurrected" for the mark of a resurrected entry)
// and its TTL in whole seconds, or "expired".
func storedOf(t *testing.T, c *lru.Cache, key []byte) string {
	t.Helper()
	v, m, stale, err := c.Read(nil, key, lru.ReadOptions{Stale: true, Peek: true, Absent: true})
	if errors.Is(err, lru.ErrNotFound) {
		return "-"
	}
	must(t, err)
	s := fmt.Sprintf("%s:%s", m.Type, v)
	if stale {
		return "expired " + s
	}
	ts, err := c.Tracker().State()
	must(t, err)
	switch {
	case m.Flags&lru.StaleFlag != 0:
		s += fmt.Sprintf(" flags=stale+%dms", m.Flags&(lru.ResurrectFlag-1))
		if m.Flags&lru.ResurrectFlag != 0 {
			s += "+resurrected"
		}
	case ts.Gen != 0 && m.Flags == ts.Gen:
		s += " flags=gen"
	case m.Flags == lru.ResurrectFlag:
		s += " flags=resurrected"
	default:
		s += fmt.Sprintf(" flags=%d", m.Flags)
	}
	if m.Expires == 0 {
		return s + " ttl=never"
	}
	return s + fmt.Sprintf(" ttl=%d", int64(math.Round(float64(m.Expires-time.Now().UnixMilli())/1000)))
}

// goLoad runs the call through Go's Cache.Load.
func goLoad(c *lru.Cache, sc rtScenario, key string) rtRun {
	loading, result, release := make(chan struct{}, 1), make(chan string, 1), make(chan struct{})
	kind, arg, _ := strings.Cut(sc.do, ":")
	loader := func(ctx context.Context, key []byte) ([]byte, error) {
		loading <- struct{}{}
		<-release
		switch kind {
		case "value":
			return []byte(arg), nil
		case "fail":
			return nil, errors.New(arg)
		}
		return nil, lru.ErrNotFound
	}
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	o := lru.LoadOptions{TTL: secs(sc.ttl), NegativeTTL: secs(sc.neg), StaleTTL: secs(sc.stale),
		ResurrectTTL: secs(sc.res), Tracked: sc.tracked}
	wait := sc.wait
	if wait == 0 {
		wait = 5
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), secs(wait))
		defer cancel()
		v, src, err := c.Load(ctx, nil, []byte(key), loader, o)
		var le *lru.LoadError
		switch {
		case err == nil:
			result <- fmt.Sprintf("%s,nil,%s", v, src)
		case errors.Is(err, lru.ErrNotFound):
			result <- "nil,nil," + src.String()
		case errors.As(err, &le):
			result <- fmt.Sprintf("nil,%s,%s", le.Msg, src)
		case errors.Is(err, context.DeadlineExceeded):
			result <- "nil,timeout,nil"
		default:
			result <- "nil," + err.Error() + ",nil"
		}
	}()
	return rtRun{loading: loading, result: result, release: func() { close(release) }}
}

// diffLua is the running ffi/t/readthrough_diff.lua.
type diffLua struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	loading chan struct{}
	result  chan string
}

func startDiffLua(t *testing.T, e *luajitEnv) *diffLua {
	cmd := exec.Command(e.luajit, "ffi/t/readthrough_diff.lua", e.region)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "SHMLRU_LIB="+e.lib)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	in, err := cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	l := &diffLua{cmd: cmd, in: in, loading: make(chan struct{}, 1), result: make(chan string, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if line == "loading" {
				l.loading <- struct{}{}
			} else if r, ok := strings.CutPrefix(line, "result\t"); ok {
				r = strings.ReplaceAll(r, "timeout waiting for the load", "timeout")
				l.result <- strings.ReplaceAll(r, "\t", ",")
			}
		}
	}()
	return l
}

// load runs the call through get_or_load.
func (l *diffLua) load(t *testing.T, sc rtScenario, key string) rtRun {
	tracked := "0"
	if sc.tracked {
		tracked = "1"
	}
	wait := sc.wait
	if wait == 0 {
		wait = 5
	}
	_, err := fmt.Fprintf(l.in, "%s\t%g\t%g\t%g\t%g\t%s\t%g\t%s\n", key, sc.ttl, sc.neg, sc.stale, sc.res, tracked, wait, sc.do)
	must(t, err)
	return rtRun{loading: l.loading, result: l.result, release: func() { fmt.Fprintln(l.in, "go") }}
}
