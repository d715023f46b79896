package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// The read-through section (-only load): a stampede of N processes on a
// cold key. Every caller of every process misses the same fresh key at
// once; shmlru's GetOrLoad runs the loader once on the whole host, where
// the cache-aside with a per-process singleflight runs it once per
// process. Then the loader's own process is SIGKILLed mid-load, and a
// waiting process has to take the load over.

// LoadSection is what the read-through section measured.
type LoadSection struct {
	LoaderMs   float64          `json:"loader_ms"`  // each loader call sleeps this long
	Goroutines int              `json:"goroutines"` // callers per process
	Rounds     int              `json:"rounds"`     // fresh keys per process count and peer
	Stampede   []StampedeResult `json:"stampede"`
	Takeover   *TakeoverResult  `json:"takeover,omitempty"`
}

// StampedeResult is one process count and peer over all rounds.
type StampedeResult struct {
	Procs int    `json:"procs"`
	Peer  string `json:"peer"` // loadShmlru or loadSingleflight
	// Per round: loader calls in all processes; nanoseconds from the
	// barrier until every caller had the value, and until the last caller
	// had asked; from the first caller having the value until the last.
	Loads        []int     `json:"loads"`
	AllNs        []float64 `json:"all_ns"`
	LastStartNs  []float64 `json:"last_start_ns"`
	DoneSpreadNs []float64 `json:"done_spread_ns"`
	// Callers that got an error or a wrong value.
	failures
	// shmlru's own counters (lru.LoadCounters) over the rounds: loads
	// claimed, and callers that found a load under way and waited.
	Claims uint64 `json:"claims"`
	Waits  uint64 `json:"waits"`
}

// TakeoverResult is the loader-takeover rounds.
type TakeoverResult struct {
	Waiters    int `json:"waiters"`    // waiting processes
	Goroutines int `json:"goroutines"` // callers in each
	// Per round: nanoseconds from the SIGKILL until a waiter's loader was
	// called (it had taken the load over), and until every caller of
	// every waiter had the value; loader calls among the waiters; and
	// nanoseconds from the SIGKILL until the harness had reaped the killed
	// process (its end, as its parent sees it).
	TakeoverNs []float64 `json:"takeover_ns"`
	AllNs      []float64 `json:"all_ns"`
	Loads      []int     `json:"loads"`
	ReapNs     []float64 `json:"reap_ns"`
	// lru.LoadCounters.Takeovers over the rounds.
	Takeovers uint64 `json:"takeovers"`
	failures
}

// loadPeers are the stampede's peers in table order.
var loadPeers = []string{loadShmlru, loadSingleflight}

// loadRegion is the size of the region each measurement opens: the keys
// are few and small.
const loadRegion = 16 << 20

func runLoad(e *env, cfg Config) *LoadSection {
	s := &LoadSection{LoaderMs: float64(cfg.LoadTime) / 1e6, Goroutines: cfg.LoadG, Rounds: cfg.LoadRounds}
	for _, n := range cfg.LoadProcs {
		s.Stampede = append(s.Stampede, runStampede(e, cfg, n)...)
	}
	s.Takeover = runTakeover(e, cfg)
	return s
}

// openLoadRegion creates a fresh region for one measurement; the parent
// keeps it open to read its counters.
func openLoadRegion(e *env, tag string) (*lru.Cache, string) {
	path := e.shmPath(tag)
	os.Remove(path)
	c, err := lru.Open(path, &lru.Options{Size: loadRegion})
	check(err)
	return c, path
}

func (e *env) loadChildren(n int, region string, g int) []*child {
	return e.spawnN(n, "load", func(int) any { return loadArg{Region: region, G: g} })
}

// runStampede measures n processes, both peers, cfg.LoadRounds rounds each,
// interleaved round by round (the peer that goes first alternates).
func runStampede(e *env, cfg Config, n int) []StampedeResult {
	c, path := openLoadRegion(e, fmt.Sprintf("load-n%d", n))
	defer os.Remove(path)
	defer c.Close()
	kids := e.loadChildren(n, path, cfg.LoadG)
	defer quitAll(kids)
	res := make([]StampedeResult, len(loadPeers))
	for i, p := range loadPeers {
		res[i] = StampedeResult{Procs: n, Peer: p}
	}
	for round := 0; round < cfg.LoadRounds; round++ {
		for _, p := range rotated(loadPeers, round) {
			r := &res[slices.Index(loadPeers, p)]
			key := fmt.Sprintf("stampede:%s:%03d", r.Peer[:2], round)
			before, err := c.Loads().Stats()
			check(err)
			t0, reps := stampedeRound(kids, r.Peer, key, cfg.LoadTime)
			after, err := c.Loads().Stats()
			check(err)
			r.add(t0, reps)
			r.Claims += after.Loads - before.Loads
			r.Waits += after.Waits - before.Waits
		}
	}
	for _, r := range res {
		logf("load: %d processes × %d, %s: loads per key %s, all have the value after %s (median), %s (p99)",
			n, cfg.LoadG, r.Peer, fmtLoads(r.Loads), fmtNs(median(r.AllNs)), fmtNs(p99(r.AllNs)))
	}
	return res
}

// stampedeRound arms every child for key, then opens the barrier: t0 is
// the instant before the first "go" is written.
func stampedeRound(kids []*child, mode, key string, loadTime time.Duration) (int64, []loadReport) {
	armAll(kids, mode, key, loadTime)
	t0 := monoNow()
	sendAll(kids, "go")
	return t0, recvAll[loadReport](kids)
}

// add records one round: the children's reports against the barrier t0.
func (r *StampedeResult) add(t0 int64, reps []loadReport) {
	loads, last, lastStart, firstDone := 0, int64(0), int64(0), int64(0)
	for _, p := range reps {
		loads += p.Calls
		last = max(last, p.LastDone)
		lastStart = max(lastStart, p.LastStart)
		if firstDone == 0 || p.FirstDone < firstDone {
			firstDone = p.FirstDone
		}
		r.failures.add(p.failures)
	}
	r.Loads = append(r.Loads, loads)
	r.AllNs = append(r.AllNs, float64(last-t0))
	r.LastStartNs = append(r.LastStartNs, float64(lastStart-t0))
	r.DoneSpreadNs = append(r.DoneSpreadNs, float64(last-firstDone))
}

// runTakeover measures cfg.TakeoverRounds takeovers: each round a fresh
// victim claims a fresh key's load and hangs in its loader; the waiters
// ask for the key and sleep on the load; once all of them wait (shmlru's
// Waits counter says so), a random pause of up to two of the waiters'
// liveness checks, so that the kill falls anywhere in their cycle; then
// SIGKILL. The waiters' loader returns at once, so what is measured is
// the takeover, not a load.
func runTakeover(e *env, cfg Config) *TakeoverResult {
	if cfg.TakeoverRounds == 0 {
		return nil
	}
	c, path := openLoadRegion(e, "takeover")
	defer os.Remove(path)
	defer c.Close()
	w := cfg.TakeoverWaiters
	kids := e.loadChildren(w, path, cfg.LoadG)
	defer quitAll(kids)
	res := &TakeoverResult{Waiters: w, Goroutines: cfg.LoadG}
	rng := rand.New(rand.NewPCG(12, 12))
	start, err := c.Loads().Stats()
	check(err)
	for round := 0; round < cfg.TakeoverRounds; round++ {
		key := fmt.Sprintf("takeover:%03d", round)
		victim := e.spawn("load", loadArg{Region: path, G: 1})
		victim.send("victim %s", key)
		victim.expect("loading")
		before, err := c.Loads().Stats()
		check(err)
		armAll(kids, loadShmlru, key, 0)
		sendAll(kids, "go")
		// Each waiting process sends one caller to the load table (its
		// other goroutines wait on that one).
		err = poll(10*time.Second, 200*time.Microsecond, func() (bool, error) {
			now, err := c.Loads().Stats()
			return err == nil && now.Waits-before.Waits >= uint64(w), err
		})
		check(errorf(err, "takeover round %d: the %d waiters", round, w))
		time.Sleep(time.Duration(rng.Int64N(int64(2 * shm.OwnerCheckInterval))))
		tKill := monoNow()
		check(victim.cmd.Process.Signal(syscall.SIGKILL))
		victim.cmd.Wait()
		res.ReapNs = append(res.ReapNs, float64(monoNow()-tKill))
		// It must have died of this kill, not before it.
		if ws, ok := victim.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			check(fmt.Errorf("takeover round %d: the loading process ended by itself (%v)", round, victim.cmd.ProcessState))
		}
		res.add(tKill, recvAll[loadReport](kids))
	}
	end, err := c.Loads().Stats()
	check(err)
	res.Takeovers = end.Takeovers - start.Takeovers
	logf("load: takeover, %d rounds: a waiter took over after %s (median), %s (p99); all had the value after %s (median), %s (p99); %d takeovers counted",
		len(res.AllNs), fmtNs(median(res.TakeoverNs)), fmtNs(p99(res.TakeoverNs)), fmtNs(median(res.AllNs)), fmtNs(p99(res.AllNs)), res.Takeovers)
	return res
}

// armAll arms every child for key and waits until all are.
func armAll(kids []*child, mode, key string, loadTime time.Duration) {
	sendAll(kids, "arm %s %s %d", mode, key, int64(loadTime))
	for _, k := range kids {
		k.expect("armed")
	}
}

// add records one takeover round against the kill at tKill. The takeover
// is the earliest loader call among the waiters; a round where none
// called it (someone else loaded: a bug) counts as an error.
func (r *TakeoverResult) add(tKill int64, reps []loadReport) {
	loads, first, last := 0, int64(0), int64(0)
	for _, p := range reps {
		loads += p.Calls
		if p.Calls > 0 && (first == 0 || p.FirstCall < first) {
			first = p.FirstCall
		}
		last = max(last, p.LastDone)
		r.failures.add(p.failures)
	}
	r.Loads = append(r.Loads, loads)
	if first == 0 {
		r.fail(errors.New("no waiter ran the loader"))
	} else {
		r.TakeoverNs = append(r.TakeoverNs, float64(first-tKill))
	}
	r.AllNs = append(r.AllNs, float64(last-tKill))
}
