package main

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/internal/ngxrun"
)

// The hot-key section (-only hot): does a key that every process reads
// serialize them? For each P of -hot.procs, P processes loop at once on
// the same keys (16 B, values 32 B) of one cache:
//   - Go: P children (-child loop, loopchild.go) loop
//     GetInto on 1, 16 or 1,000 keys of one region, or Set (an update of
//     the same size) on 16;
//   - Go control: P children that spin on the CPU and touch no shared
//     memory (loopchild.go's spin), the machine's own ceiling at that time;
//   - nginx: an nginx of P workers (internal/ngxrun) loops get on 1, 16 or
//     1,000 keys through resty.shmlru and through ngx.shared.DICT, a timer
//     in every worker, all started at one time (bench/lua/shmlru_hot.lua).
// A round runs every cell once, the process counts in turns and the two
// nginx peers alternating. A run's CPU share is the CPU time its
// processes used over the time they would use if each had a core of its
// own (min(P, cores) of them) for the whole run: a run below hotShare,
// whose processes other work on the machine kept from running at once
// (which also spares them each other's contention), is run again, up to
// hotTries times in all, and the one with the highest share kept. Each
// cell's figure is the median, over the rounds whose run reached
// hotShare (over all rounds when none did), of the operations per second
// summed over the processes; the table counts the rounds below.

var flagHotProcs = flag.String("hot.procs", "1,2", "process counts of -only hot, comma-separated; the first is the ratios' base")

const (
	hotKey   = 16
	hotValue = 32
	hotWarm  = 200 * time.Millisecond
	hotLead  = 200 * time.Millisecond // shmlru_hot.lua's START_NS
	hotShare = 0.9
	hotTries = 4
)

var hotKeyCounts = []int{1, 16, 1000}

// hotCell is one row of the tables: a side (go, nginx), a peer (shmlru,
// shdict; control), an operation (get, set; spin) and a key count.
type hotCell struct {
	Side string `json:"side"`
	Peer string `json:"peer"`
	Op   string `json:"op"`
	Keys int    `json:"keys"`
}

func (c hotCell) String() string {
	if c.Op == "spin" {
		return "Go control: CPU only, no cache"
	}
	api := map[string]string{"go get": "Go GetInto", "go set": "Go Set", "nginx shmlru": "nginx resty.shmlru get", "nginx shdict": "nginx ngx.shared.DICT get"}
	name := api[c.Side+" "+c.Op]
	if c.Side == "nginx" {
		name = api[c.Side+" "+c.Peer]
	}
	return name + ", " + fmtKeys(c.Keys)
}

// HotResult is one cell at one process count.
type HotResult struct {
	hotCell
	Procs     int       `json:"procs"`
	OpsPerSec float64   `json:"ops_per_sec"` // median over the rounds at hotShare (see hotMedian)
	All       []float64 `json:"all"`         // every round's
	CPU       []float64 `json:"cpu_share"`   // every round's CPU share
	Below     int       `json:"below_share"` // rounds below hotShare
}

// HotSection is what the hot-key section measured.
type HotSection struct {
	Procs   []int       `json:"procs"`
	Share   float64     `json:"share"` // hotShare
	Results []HotResult `json:"results"`
}

func hotCells() (goCells, ngxCells []hotCell) {
	goCells = append(goCells, hotCell{"go", "control", "spin", 0})
	for _, n := range hotKeyCounts {
		goCells = append(goCells, hotCell{"go", "shmlru", "get", n})
		ngxCells = append(ngxCells, hotCell{"nginx", "shmlru", "get", n}, hotCell{"nginx", "shdict", "get", n})
	}
	goCells = append(goCells, hotCell{"go", "shmlru", "set", 16})
	return goCells, ngxCells
}

// runHot measures the section; it sets r's run time and rounds to its
// own (Config.HotDur, HotReps).
func runHot(e *env, cfg Config, r *Results) *HotSection {
	procs, dur, reps := cfg.HotProcs, cfg.HotDur, cfg.HotReps
	r.Dur, r.Reps = dur.String(), reps
	run := &HotSection{Procs: procs, Share: hotShare}

	region := e.shmPath("hot")
	cache, err := peers.OpenShmlru(region, peers.ShmlruOptions(4096, hotKey, hotValue), true)
	check(err)
	defer cache.Close()
	val := workload.Value(hotValue)
	for _, k := range workload.KeySet(hotKey, hotKeyCounts[len(hotKeyCounts)-1], 0) {
		cache.Set(k, val)
	}
	servers := map[int]*ngxrun.Server{}
	for _, p := range procs {
		if servers[p] == nil {
			servers[p] = e.startHotNginx(p)
		}
	}

	goCells, ngxCells := hotCells()
	type key struct {
		c hotCell
		p int
	}
	all, cpu := map[key][]float64{}, map[key][]float64{}
	measure := func(c hotCell, p int, f func() (ops, share float64, err error)) {
		ops, share := hotMeasure(fmt.Sprintf("%v, P=%d", c, p), f)
		all[key{c, p}] = append(all[key{c, p}], ops)
		cpu[key{c, p}] = append(cpu[key{c, p}], share)
	}
	gen := 0
	for r := 0; r < reps; r++ {
		for _, p := range rotated(procs, r) {
			for _, c := range goCells {
				measure(c, p, func() (float64, float64, error) { return e.hotGo(region, c, p, dur) })
			}
			for j := 0; j < len(ngxCells); j += 2 {
				for _, c := range rotated(ngxCells[j:j+2], r) {
					measure(c, p, func() (float64, float64, error) {
						gen++
						return hotNginx(servers[p], gen, c, p, dur)
					})
				}
			}
			logf("hot: round %d/%d, %d processes done", r+1, reps, p)
		}
	}
	for _, c := range append(goCells, ngxCells...) {
		for _, p := range procs {
			xs, sh := all[key{c, p}], cpu[key{c, p}]
			med, below := hotMedian(xs, sh)
			run.Results = append(run.Results, HotResult{hotCell: c, Procs: p, OpsPerSec: med, All: xs, CPU: sh, Below: below})
		}
	}
	return run
}

// hotMeasure runs f until its CPU share is hotShare or more, at most
// hotTries times, and returns the run with the highest share. An error
// counts as a try; when every try failed, the section fails.
func hotMeasure(what string, f func() (ops, share float64, err error)) (ops, share float64) {
	for try := 1; try <= hotTries; try++ {
		o, sh, err := f()
		if err != nil {
			logf("hot: %s: %v", what, err)
			continue
		}
		if sh > share {
			ops, share = o, sh
		}
		if share >= hotShare {
			return ops, share
		}
		logf("hot: %s: CPU share %.2f", what, sh)
	}
	if share == 0 {
		check(fmt.Errorf("hot: %s: no run in %d tries", what, hotTries))
	}
	logf("hot: %s: kept a run of CPU share %.2f", what, share)
	return ops, share
}

// hotCores is how many of p processes can each run on a core of its own.
func hotCores(p int) float64 { return float64(min(p, runtime.NumCPU())) }

// hotGo runs P Go children on cell c for d and returns their total
// operations per second and the run's CPU share.
func (e *env) hotGo(region string, c hotCell, p int, d time.Duration) (ops, share float64, err error) {
	a := loopArg{Peer: c.Peer, Target: region, Op: c.Op, Keys: c.Keys, Spec: workload.Spec{Size: workload.Size{Key: hotKey, Value: hotValue}}}
	kids := e.spawnN(p, "loop", func(int) any { return a })
	defer quitAll(kids)
	runKids(kids, hotWarm)
	t := time.Now()
	s := runKids(kids, d)
	wall := time.Since(t)
	if s.Hits != s.Gets {
		check(fmt.Errorf("hot: %v, %d processes: %d of %d gets missed", c, p, s.Gets-s.Hits, s.Gets))
	}
	return s.OpsPerSec(), float64(s.CPUNs) / (hotCores(p) * float64(wall)), nil
}

// startHotNginx starts an nginx of p workers for the section, fills its
// caches and arms the timer of every worker.
func (e *env) startHotNginx(p int) *ngxrun.Server {
	s, err := startNginx(p, e.shmPath(fmt.Sprintf("hot-nginx%d", p)),
		"    lua_shared_dict shmlru_hot 8m;\n    lua_shared_dict shmlru_hot_ctl 1m;\n", "shmlru_hot", "/hot_", "setup", "arm", "start", "result")
	check(err)
	e.hotNgx = append(e.hotNgx, s)
	if body, err := s.Get("/hot_setup"); err != nil || body != "ok" {
		check(fmt.Errorf("nginx of %d workers: /hot_setup: %q, %v", p, body, err))
	}
	// A new connection goes to a worker the kernel picks (reuseport), so
	// some take several requests to reach.
	for i := 0; ; i++ {
		body, err := s.Get("/hot_arm")
		if n, _ := strconv.Atoi(body); err == nil && n == p {
			logf("hot: nginx of %d workers on %s, armed in %d requests", p, s.URL, i+1)
			return s
		}
		if err != nil || strings.HasPrefix(body, "error") || i == 200*p {
			check(fmt.Errorf("nginx of %d workers: /hot_arm: %q, %v", p, body, err))
		}
	}
}

// hotNginx runs cell c on s's p workers for d as run gen and returns
// their total gets per second and the run's CPU share.
func hotNginx(s *ngxrun.Server, gen int, c hotCell, p int, d time.Duration) (ops, share float64, err error) {
	q := fmt.Sprintf("/hot_start?gen=%d&peer=%s&keys=%d&dur_ms=%d", gen, c.Peer, c.Keys, d.Milliseconds())
	if body, err := s.Get(q); err != nil || body != "ok" {
		return 0, 0, fmt.Errorf("%s: %q, %v", q, body, err)
	}
	time.Sleep(hotLead + d)
	var body string
	err = poll(30*time.Second, 20*time.Millisecond, func() (bool, error) {
		var err error
		body, err = s.GetWithin(fmt.Sprintf("/hot_result?gen=%d", gen), 10*time.Second)
		return body != "pending", err
	})
	if err != nil {
		return 0, 0, errorf(err, "run %d: the result of every worker", gen)
	}
	return hotWorkers(body, p, d)
}

// hotWorkers sums the workers' lines of /hot_result ("id iterations
// start_ns end_ns cpu_ns") into gets per second, and the CPU share over
// the span from the first start to the last end. It fails on a worker's
// error, a missing worker, or loops that overlapped for less than 90% of
// d.
func hotWorkers(body string, p int, d time.Duration) (ops, share float64, err error) {
	lines := strings.Split(body, "\n")
	if len(lines) != p {
		return 0, 0, fmt.Errorf("%d result lines from %d workers: %q", len(lines), p, body)
	}
	var cpu, firstStart, lastStart, firstEnd, lastEnd float64
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == "error" {
			return 0, 0, fmt.Errorf("worker %s: %s", f[0], strings.Join(f[2:], " "))
		}
		var x [5]float64
		for j := range x {
			if len(f) != len(x) {
				break
			}
			x[j], _ = strconv.ParseFloat(f[j], 64)
		}
		if len(f) != len(x) || x[1] <= 0 || x[3] <= x[2] || x[4] <= 0 {
			return 0, 0, fmt.Errorf("bad result line %q", l)
		}
		ops += x[1] / (x[3] - x[2]) * 1e9
		cpu += x[4]
		if i == 0 {
			firstStart, lastStart, firstEnd, lastEnd = x[2], x[2], x[3], x[3]
		}
		firstStart, lastStart = min(firstStart, x[2]), max(lastStart, x[2])
		firstEnd, lastEnd = min(firstEnd, x[3]), max(lastEnd, x[3])
	}
	if together := time.Duration(firstEnd - lastStart); together < d*9/10 {
		return 0, 0, fmt.Errorf("the workers looped together for %v of %v", together, d)
	}
	return ops, cpu / (hotCores(p) * (lastEnd - firstStart)), nil
}

// hotTables are the section's tables: every cell at every process count
// with the ratio of each count to the first, then nginx's shmlru over the
// dict at each count.
func hotTables(r *Results) []table {
	run := r.Hot
	ops := map[hotCell]map[int]float64{}
	below, rounds := map[hotCell]int{}, map[hotCell]int{}
	var cells []hotCell
	for _, r := range run.Results {
		if ops[r.hotCell] == nil {
			ops[r.hotCell] = map[int]float64{}
			cells = append(cells, r.hotCell)
		}
		ops[r.hotCell][r.Procs] = r.OpsPerSec
		below[r.hotCell] += r.Below
		rounds[r.hotCell] += len(r.All)
	}
	ps := run.Procs
	all := table{head: []string{"operations per second, summed"}}
	for _, p := range ps {
		all.head = append(all.head, fmt.Sprintf("P=%d", p))
	}
	for _, p := range ps[1:] {
		all.head = append(all.head, fmt.Sprintf("P=%d / P=%d", p, ps[0]))
	}
	all.head = append(all.head, fmt.Sprintf("rounds below %.1f CPU share", hotShare))
	for _, c := range cells {
		row := []string{c.String()}
		for _, p := range ps {
			row = append(row, fmtOps(ops[c][p]))
		}
		for _, p := range ps[1:] {
			row = append(row, fmtRatio(ops[c][p]/ops[c][ps[0]]))
		}
		all.row(append(row, fmt.Sprintf("%d of %d", below[c], rounds[c]))...)
	}
	ngx := table{head: []string{"nginx get", "P", "resty.shmlru", "ngx.shared.DICT", "shmlru / dict"}}
	for _, n := range hotKeyCounts {
		for _, p := range ps {
			sh, dict := ops[hotCell{"nginx", "shmlru", "get", n}][p], ops[hotCell{"nginx", "shdict", "get", n}][p]
			if sh == 0 && dict == 0 {
				continue
			}
			ngx.row(fmtKeys(n), fmt.Sprint(p), fmtOps(sh), fmtOps(dict), fmtRatio(sh/dict))
		}
	}
	return []table{all, ngx}
}
