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
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/ffi/ngxrun"
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
}

var (
	flagQuick = flag.Bool("quick", false, "a reduced run (make bench-quick)")
	flagOut   = flag.String("out", "out", "directory for each section's <section>.md, <section>.json and profiles/")
	flagOnly  = flag.String("only", "", "comma-separated sections to run: ops,mixed,scale,density,hitratio,lua,profile,load,near,hot (default all but hot)")
	flagDur   = flag.Duration("dur", 0, "override the duration of one timed run")
	flagReps  = flag.Int("reps", 0, "override the repetitions per cell")
	// flagChildProf makes every child of the scaling runs write a CPU profile.
	flagChildProf = flag.String("childprof", "", "directory for CPU profiles of the child processes (scaling section)")
	flagPeers     = flag.String("peers", "", "comma-separated peers to run (default all), for experiments")
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
		NearRegion: 32 << 20, NearRounds: 3}
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
	if *flagDur > 0 {
		c.Dur = *flagDur
	}
	if *flagReps > 0 {
		c.Reps = *flagReps
	}
	return c
}

func main() {
	flag.Parse()
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
	env := startEnv(cfg)
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

// env holds the servers and temporary files of a run.
type env struct {
	cfg      Config
	dir      string // temporary files
	redis    *peers.ServerProc
	memcache *peers.ServerProc
	ngx      *ngxrun.Server // nginx, once started (see nginx.go)
	ngxErr   error          // or why it did not start
	kids     []*child
	stopped  bool
	shmSeq   int

	// nearRedis is the near section's own redis-server (near.go).
	nearRedis *peers.ServerProc
	// hotNgx are the hot-key section's nginx servers (hot.go).
	hotNgx []*ngxrun.Server
}

// startEnv returns a new env that check's exit, ^C and SIGTERM stop.
func startEnv(cfg Config) *env {
	e := newEnv(cfg)
	atExit = e.stop
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		e.stop()
		os.Exit(130)
	}()
	return e
}

func newEnv(cfg Config) *env {
	dir, err := os.MkdirTemp("", "shmlru-bench-")
	check(err)
	return &env{cfg: cfg, dir: dir}
}

// servers starts redis and memcached on first use.
func (e *env) servers() (redisAddr, mcAddr string) {
	if e.redis == nil {
		s, err := peers.StartRedis(256 << 20)
		check(err)
		e.redis = s
		logf("redis-server on %s", s.Addr)
	}
	if e.memcache == nil {
		s, err := peers.StartMemcached(256)
		check(err)
		e.memcache = s
		logf("memcached on %s", s.Addr)
	}
	return e.redis.Addr, e.memcache.Addr
}

// shmPath is a fresh region path under /dev/shm.
func (e *env) shmPath(tag string) string {
	e.shmSeq++
	return fmt.Sprintf("/dev/shm/shmlru-bench-%d-%d-%s", os.Getpid(), e.shmSeq, tag)
}

func (e *env) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	for _, k := range e.kids {
		k.kill()
	}
	e.redis.Stop()
	e.memcache.Stop()
	e.nearRedis.Stop()
	if e.ngx != nil {
		e.ngx.Stop()
	}
	for _, s := range e.hotNgx {
		s.Stop()
	}
	os.RemoveAll(e.dir)
	m, _ := filepath.Glob(fmt.Sprintf("/dev/shm/shmlru-bench-%d-*", os.Getpid()))
	for _, p := range m {
		os.Remove(p)
	}
}

// ---- peers ----

// peerDef opens one peer sized for capacity entries of size sz.
type peerDef struct {
	Name string
	Kind peers.Kind
	Open func(e *env, sz workload.Size, capacity int) peers.Cache
}

// shmlruDef is shmlru at default options, sized for capacity entries (see
// peers.ShmlruOptions).
var shmlruDef = peerDef{Name: "shmlru", Kind: peers.SharedMemory, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
	c, err := peers.OpenShmlru(e.shmPath("shmlru"), peers.ShmlruOptions(capacity, sz.Key, sz.Value), true)
	check(err)
	return c
}}

// freecacheDef is coocood/freecache, sized for capacity entries.
var freecacheDef = peerDef{Name: "freecache", Kind: peers.InProcess, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
	return peers.NewFreecache(peers.FreecacheBytes(capacity, sz.Key, sz.Value))
}}

func allPeers() []peerDef {
	all := allPeerDefs()
	if *flagPeers == "" {
		return all
	}
	var out []peerDef
	for _, d := range all {
		for _, p := range strings.Split(*flagPeers, ",") {
			if d.Name == p {
				out = append(out, d)
			}
		}
	}
	return out
}

func allPeerDefs() []peerDef {
	return []peerDef{
		shmlruDef,
		freecacheDef,
		{Name: "golang-lru", Kind: peers.InProcess, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			return peers.NewExactLRU(capacity)
		}},
		{Name: "map+mutex", Kind: peers.InProcess, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			return peers.NewMapMutex(capacity)
		}},
		{Name: "redis", Kind: peers.Server, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			addr, _ := e.servers()
			r := peers.NewRedis(addr)
			r.Flush()
			// About capacity entries: redis' own overhead is ~80 bytes an entry.
			r.C.ConfigSet(context.Background(), "maxmemory", fmt.Sprint(int64(capacity)*int64(sz.Key+sz.Value+96)*5/4+4<<20))
			return r
		}},
		{Name: "memcached", Kind: peers.Server, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			_, addr := e.servers()
			m := peers.NewMemcached(addr)
			m.Flush()
			return m
		}},
	}
}

// prefill stores keys in c; servers are filled over several connections.
func prefill(c peers.Cache, kind peers.Kind, keys [][]byte, val []byte) {
	if r, ok := c.(*peers.Redis); ok {
		r.SetMany(keys, val)
		return
	}
	if kind != peers.Server {
		for _, k := range keys {
			c.Set(k, val)
		}
		return
	}
	const par = 8
	done := make(chan struct{})
	for w := 0; w < par; w++ {
		go func(w int) {
			for i := w; i < len(keys); i += par {
				c.Set(keys[i], val)
			}
			done <- struct{}{}
		}(w)
	}
	for w := 0; w < par; w++ {
		<-done
	}
}

func shuffled(keys [][]byte, seed uint64) [][]byte {
	c := append([][]byte(nil), keys...)
	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c
}

func coldKeys(keySize, n int, base uint64) [][]byte {
	keys := make([][]byte, n)
	buf := make([]byte, n*keySize)
	for i := range keys {
		keys[i] = buf[i*keySize : (i+1)*keySize : (i+1)*keySize]
		workload.Key(keys[i], base+uint64(i))
	}
	return keys
}

func init() { runtime.GOMAXPROCS(runtime.NumCPU()) }
