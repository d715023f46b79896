// Command shmlru-bench measures shmlru next to the caches it is compared
// with, in one run on one machine, and writes each section's tables to
// -out as <section>.md and its figures as <section>.json (results.go).
// `make bench` (full) and `make bench-quick` run it; shmlru-charts draws
// the charts from the JSON files. The discussion of the figures is
// bench/RESULTS.md's, written by people.
//
// It starts the servers it compares with (redis-server, memcached, nginx)
// itself on loopback ports, and stops them at the end. Multi-process runs
// re-execute this binary as child processes (child.go).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
)

// Config is what a run measures.
type Config struct {
	Quick    bool          `json:"quick"`
	Dur      time.Duration `json:"dur"`  // one timed run
	Reps     int           `json:"reps"` // timed runs per cell (median reported)
	OpsSizes []workload.Size
	Mixed    []workload.Spec
	Scale    []int // process counts for the scaling figure
	HitU     int   // universe of the hit-ratio trace
	HitLen   int   // its length
	HitSize  int64 // shmlru region for it
	// The read-through section (load.go): process counts, callers per
	// process, the loader's time, rounds (fresh keys) per count and peer;
	// takeover rounds and the waiting processes in them.
	LoadProcs       []int
	LoadG           int
	LoadTime        time.Duration
	LoadRounds      int
	TakeoverRounds  int
	TakeoverWaiters int
	// The near-cache section (near.go): keys of the single-process hit
	// comparison; process counts, keys, value size, operations per
	// process, write fraction, region size and runs per count and peer of
	// the multi-process one.
	NearHitKeys int
	NearProcs   []int
	NearKeys    int
	NearValue   int
	NearOps     int
	NearWrite   float64
	NearRegion  int64
	NearRounds  int
	// The hot-key section (hot.go): process counts (-hot.procs), the time
	// of one run and the rounds.
	HotProcs []int
	HotDur   time.Duration
	HotReps  int
}

var (
	flagQuick = flag.Bool("quick", false, "a reduced run (make bench-quick)")
	flagOut   = flag.String("out", "out", "directory for each section's <section>.md, <section>.json and profiles/")
	flagOnly  = flag.String("only", "", "comma-separated sections to run: ops,mixed,scale,density,hitratio,lua,mlcache,profile,load,near,hot (default all but hot)")
	flagDur   = flag.Duration("dur", 0, "override the duration of one timed run")
	flagReps  = flag.Int("reps", 0, "override the repetitions per cell")
	flagPeers = flag.String("peers", "", "comma-separated peers to run (default all), for experiments")
)

func capacityFor(s workload.Size) int {
	switch {
	case s.Value <= 64:
		return 64 << 10
	case s.Value <= 1024:
		return 32 << 10
	}
	return 8 << 10
}

func config(quick bool) Config {
	c := Config{Quick: quick, Dur: 200 * time.Millisecond, Reps: 5, OpsSizes: workload.Sizes,
		Scale: []int{1, 2, 4}, HitU: 4 << 20, HitLen: 6 << 20, HitSize: 16 << 20,
		LoadProcs: []int{2, 4, 8, 16}, LoadG: 8, LoadTime: 20 * time.Millisecond, LoadRounds: 200,
		TakeoverRounds: 100, TakeoverWaiters: 3,
		NearHitKeys: 1000, NearProcs: []int{2, 4, 8}, NearKeys: 10000, NearValue: 256, NearOps: 50000, NearWrite: 0.01,
		NearRegion: 32 << 20, NearRounds: 3, HotDur: 2 * time.Second, HotReps: 3}
	hots := []float64{0.95, 0.30}
	reads := []float64{0.9, 0.5}
	sizes := workload.Sizes
	if quick {
		c.Dur, c.Reps = 50*time.Millisecond, 3
		c.OpsSizes = workload.Sizes[:1]
		sizes = workload.Sizes[:1]
		reads = reads[:1]
		c.Scale = []int{1, 2}
		c.HitU, c.HitLen, c.HitSize = 2<<20, 2<<20, 4<<20
		c.LoadProcs, c.LoadRounds, c.TakeoverRounds = []int{2, 4}, 20, 10
		c.NearProcs, c.NearOps, c.NearRounds = []int{2, 4}, 20000, 1
	}
	for _, sz := range sizes {
		for _, h := range hots {
			for _, z := range []bool{false, true} {
				for _, r := range reads {
					c.Mixed = append(c.Mixed, workload.Spec{Size: sz, Hot: h, Zipf: z, ReadFrac: r, Capacity: capacityFor(sz)})
				}
			}
		}
	}
	for _, s := range strings.Split(*flagHotProcs, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 1 {
			check(fmt.Errorf("-hot.procs: %q is not a process count", s))
		}
		c.HotProcs = append(c.HotProcs, p)
	}
	if *flagDur > 0 {
		c.Dur, c.HotDur = *flagDur, *flagDur
	}
	if *flagReps > 0 {
		c.Reps, c.HotReps = *flagReps, *flagReps
	}
	return c
}

func main() {
	flag.Parse()
	// All the machine's cores, whatever the cgroup's quota says: the
	// figures are for the machine.
	runtime.GOMAXPROCS(runtime.NumCPU())
	if *flagChild != "" {
		childMain()
		return
	}
	cfg := config(*flagQuick)
	check(os.MkdirAll(*flagOut, 0o755))
	only := map[string]bool{}
	for _, name := range strings.Split(*flagOnly, ",") {
		if _, ok := sectionNamed(name); name != "" && !ok {
			check(fmt.Errorf("-only: no section %q (see -help)", name))
		}
		only[name] = name != ""
	}
	env := startEnv()
	defer env.stop()
	for _, s := range sections {
		if !only[s.name] && (*flagOnly != "" || s.alone) {
			continue
		}
		r := &Results{
			Date:    time.Now().UTC().Format("2006-01-02 15:04 UTC"),
			Command: commandLine(),
			Layout:  lru.LayoutVersion,
			Machine: machine(),
			Quick:   cfg.Quick,
			Dur:     cfg.Dur.String(),
			Reps:    cfg.Reps,
		}
		t := time.Now()
		logf("== %s", s.name)
		s.run(env, cfg, r)
		r.Elapsed = time.Since(t).Round(time.Second).String()
		logf("== %s done in %s", s.name, r.Elapsed)
		check(writeSection(r, *flagOut, s))
		logf("wrote %s.md and %s.json", filepath.Join(*flagOut, s.name), s.name)
	}
}

// commandLine is the harness's command line as this run was started.
func commandLine() string {
	return strings.Join(append([]string{"shmlru-bench"}, os.Args[1:]...), " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// atExit stops the servers when check ends the run: os.Exit runs no
// deferred calls, and nginx's workers would outlive the harness.
var atExit func()

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmlru-bench:", err)
		if atExit != nil {
			atExit()
		}
		os.Exit(1)
	}
}
