package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/near"
)

// The near section (-only near): shmlru as each host's shared near cache in front of Redis
// (package near). First a near-cache hit against a go-redis GET of the
// same key, in one process. Then N processes doing one workload over the
// same keys in Redis, either sharing one near region (one agent among
// them holds the host's tracking connection) or each with rueidis's own
// client-side cache; what each costs Redis and memory, and the hits.
//
// The section has a redis-server of its own (nearRedis), so that Redis's
// counters (INFO cpu, commandstats, stats) and CLIENT LIST see this
// section's clients only.

// NearSection is what the near section measured.
type NearSection struct {
	Hit *NearHit `json:"hit,omitempty"`
	// The multi-process workload; the near region's size and near's
	// MaxLag; runs per process count and peer.
	nearLoad
	RegionSize int64         `json:"region_size"`
	MaxLag     time.Duration `json:"max_lag"`
	Rounds     int           `json:"rounds"`
	Runs       []NearRun     `json:"runs"`
}

// NearHit is the single-process comparison: per round, a near.Client.Get
// of cached keys, and a go-redis GET of the same keys; and for reference
// the region's own read of them (lru.Cache.GetTracked into a reused
// buffer), what near.Client.Get does on a hit besides its own work.
type NearHit struct {
	Size   string   `json:"size"` // key/value sizes
	Keys   int      `json:"keys"`
	Near   []Sample `json:"near"`
	Redis  []Sample `json:"redis"`
	Region []Sample `json:"region,omitempty"`
	// GETs Redis served while the near loops ran (all of them hits: 0),
	// and the region's generations dropped meanwhile (0).
	NearRedisGets int64  `json:"near_redis_gets"`
	Generations   uint64 `json:"generations"`
	Err           string `json:"err,omitempty"`
}

// NearRun is one run of the multi-process workload: n processes, one peer.
type NearRun struct {
	Procs int    `json:"procs"`
	Peer  string `json:"peer"` // nearShmlru or nearRueidis
	Round int    `json:"round"`
	// Sums over the processes; OwnOK: rueidis's own count was read in
	// every one.
	nearCounts
	OwnOK bool `json:"own_ok"`
	// From the first process's start to the last one's end.
	WallNs float64 `json:"wall_ns"`
	// Redis over the run: GET commands served (INFO commandstats), all
	// commands (total_commands_processed), CPU seconds (used_cpu_sys +
	// used_cpu_user); at its end, its connections and those with
	// tracking on (CLIENT LIST, flag t), and its tracking table
	// (INFO stats tracking_total_keys, tracking_total_items,
	// tracking_total_prefixes).
	RedisGets      int64   `json:"redis_gets"`
	RedisCmds      int64   `json:"redis_cmds"`
	RedisCPU       float64 `json:"redis_cpu"`
	Conns          int     `json:"conns"`
	TrackingConns  int     `json:"tracking_conns"`
	TrackingKeys   int64   `json:"tracking_keys"`
	TrackingItems  int64   `json:"tracking_items"`
	TrackingPrefix int64   `json:"tracking_prefixes"`
	// The near region (nearShmlru only), at the run's end: bytes of its
	// entries (lru Stats.UsedBytes), entries, evictions; over the run:
	// keys the agent invalidated, generations dropped, fills refused (an
	// invalidation came while they loaded), loads claimed; and how often
	// the parent, sampling every nearSampleEvery, found it out of step.
	UsedBytes     int64  `json:"used_bytes"`
	Entries       int    `json:"entries"`
	Evictions     uint64 `json:"evictions"`
	Invalidations uint64 `json:"invalidations"`
	Generations   uint64 `json:"generations"`
	Refused       uint64 `json:"refused"`
	Loads         uint64 `json:"loads"`
	Samples       int    `json:"samples"`
	OutOfStep     int    `json:"out_of_step"`
}

// nearPeers are the multi-process peers in table order.
var nearPeers = []string{nearShmlru, nearRueidis}

// nearSampleEvery is how often the parent reads the region's TrackState
// during a run.
const nearSampleEvery = 5 * time.Millisecond

// HitRatio is the fraction of reads not sent to Redis: for rueidis its
// own count of cache hits, for near the reads less the GETs Redis served
// (every GET at Redis in a run is a near fill or an out-of-step read).
func (r NearRun) HitRatio() float64 {
	if r.Reads == 0 {
		return 0
	}
	if r.Peer == nearRueidis {
		return float64(r.Hits) / float64(r.Reads)
	}
	return 1 - float64(r.RedisGets)/float64(r.Reads)
}

// ServerHitRatio is 1 - Redis GETs / reads, for either peer.
func (r NearRun) ServerHitRatio() float64 {
	if r.Reads == 0 {
		return 0
	}
	return 1 - float64(r.RedisGets)/float64(r.Reads)
}

// CacheBytes is the run's cache memory: the region's entries for near,
// the processes' heap growth for rueidis.
func (r NearRun) CacheBytes() int64 {
	if r.Peer == nearShmlru {
		return r.UsedBytes
	}
	return r.HeapGrowth
}

func (e *env) nearServer() *peers.ServerProc {
	if e.nearRedis == nil {
		s, err := peers.StartRedis(256 << 20)
		check(err)
		e.nearRedis = s
		logf("near: redis-server on %s", s.Addr)
	}
	return e.nearRedis
}

func runNear(e *env, cfg Config) *NearSection {
	srv := e.nearServer()
	defer func() { srv.Stop(); e.nearRedis = nil }()
	// Its connections are named, so that CLIENT LIST tells them apart.
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 1, Protocol: 2, ClientName: nearAdminName})
	defer admin.Close()
	s := &NearSection{nearLoad: nearLoad{Keys: cfg.NearKeys, ValueSize: cfg.NearValue, Ops: cfg.NearOps, WriteFrac: cfg.NearWrite, MaxTTL: near.DefaultMaxTTL},
		RegionSize: cfg.NearRegion, MaxLag: near.DefaultMaxLag, Rounds: cfg.NearRounds}
	s.Hit = runNearHit(e, cfg, srv.Addr, admin)
	for _, n := range cfg.NearProcs {
		for round := 0; round < cfg.NearRounds; round++ {
			for _, p := range rotated(nearPeers, round) {
				r := runNearProcs(e, s, admin, srv.Addr, n, p, round)
				logf("near: %d processes, %s, round %d: hit ratio %.4f, %d Redis GETs, Redis CPU %.2fs, %d tracking connections, cache %s, wall %s",
					n, p, round, r.HitRatio(), r.RedisGets, r.RedisCPU, r.TrackingConns, fmtSize(r.CacheBytes()), fmtNs(r.WallNs))
				s.Runs = append(s.Runs, r)
			}
		}
	}
	return s
}

// ---- one process: a near hit against a go-redis GET ----

func runNearHit(e *env, cfg Config, addr string, admin *redis.Client) *NearHit {
	ctx := context.Background()
	sz := workload.Sizes[0]
	h := &NearHit{Size: sz.String(), Keys: cfg.NearHitKeys}
	resetRedis(admin)
	val := workload.Value(sz.Value)
	bkeys := shuffled(workload.KeySet(sz.Key, cfg.NearHitKeys, 0), 3)
	keys := make([]string, len(bkeys))
	for i, k := range bkeys {
		keys[i] = string(k)
	}
	rd := peers.NewRedis(addr) // the ops section's redis peer: go-redis, RESP2
	defer rd.Close()
	rd.SetMany(bkeys, val)

	path := e.shmPath("near-hit")
	os.Remove(path)
	defer os.Remove(path)
	c, err := near.New(near.Options{Redis: rueidis.ClientOption{InitAddress: []string{addr}}, Cache: path,
		CacheOptions: &lru.Options{Size: 16 << 20}})
	check(err)
	defer c.Close()
	check(waitInStep(c.Cache(), 10*time.Second))
	for _, k := range keys { // the fills
		v, err := c.Get(ctx, k)
		check(err)
		if string(v) != string(val) {
			check(fmt.Errorf("near: Get(%q) = %q, want %q", k, v, val))
		}
	}
	nearCur, redisCur, regionCur := 0, cursor{keys: bkeys}, cursor{keys: bkeys}
	var getErr error
	nearLoop := func(n int) (int, int) {
		for i := 0; i < n; i++ {
			v, err := c.Get(ctx, keys[nearCur])
			if err != nil || len(v) != sz.Value {
				getErr = fmt.Errorf("near: Get(%q): %q, %v", keys[nearCur], v, err)
			}
			if nearCur++; nearCur == len(keys) {
				nearCur = 0
			}
		}
		return n, n
	}
	regionBuf := make([]byte, 0, sz.Value)
	regionLoop := func(n int) (int, int) {
		hits := 0
		for i := 0; i < n; i++ {
			v, _, err := c.Cache().Tracker().Get(regionBuf[:0], regionCur.next())
			if err == nil && len(v) == sz.Value {
				hits++
			}
		}
		return n, hits
	}
	ts0, err := c.Cache().Tracker().State()
	check(err)
	buf := make([]byte, 0, sz.Value)
	logf("near: hit vs go-redis GET, %s, %d keys, %d rounds of %s", sz, len(keys), cfg.Reps, cfg.Dur)
	for rep := 0; rep < cfg.Reps; rep++ {
		runNearLoop := func() {
			before := redisInfo(admin)
			h.Near = append(h.Near, runFor(cfg.Dur, nearLoop))
			h.NearRedisGets += redisInfo(admin).delta(before, "cmdstat_get")
		}
		runRedisLoop := func() { h.Redis = append(h.Redis, runFor(cfg.Dur, loopGet(rd, &redisCur, buf))) }
		for _, loop := range rotated([]func(){runNearLoop, runRedisLoop}, rep) {
			loop()
		}
		h.Region = append(h.Region, runFor(cfg.Dur, regionLoop))
	}
	ts1, err := c.Cache().Tracker().State()
	check(err)
	h.Generations = ts1.Counters.Generations - ts0.Counters.Generations
	if getErr != nil {
		h.Err = getErr.Error()
	}
	if r := medianSample(h.Region); r.HitRatio() < 1 && h.Err == "" {
		h.Err = fmt.Sprintf("the region's own read found %.2f%% of the keys", 100*r.HitRatio())
	}
	a, b := medianSample(h.Near), medianSample(h.Redis)
	logf("near: Get (hit) %s, go-redis GET %s: 1/%.0f; %d GETs at Redis during the near loops",
		fmtNs(a.NsPerOp), fmtNs(b.NsPerOp), b.NsPerOp/a.NsPerOp, h.NearRedisGets)
	return h
}

// waitInStep waits until the region's agent has confirmed its stream.
func waitInStep(c *lru.Cache, timeout time.Duration) error {
	err := poll(timeout, time.Millisecond, func() (bool, error) {
		ts, err := c.Tracker().State()
		return err == nil && ts.InStep, err
	})
	return errorf(err, "near: the region %s in step", c.Path())
}

// ---- N processes ----

// runNearProcs runs the workload once in n fresh processes of peer, from
// a fresh Redis (the keys just written) and, for near, a fresh region.
func runNearProcs(e *env, s *NearSection, admin *redis.Client, addr string, n int, peer string, round int) NearRun {
	r := NearRun{Procs: n, Peer: peer, Round: round}
	resetRedis(admin)
	populateNear(admin, s.Keys, s.ValueSize)
	w := nearWork{Peer: peer, Addr: addr, nearLoad: s.nearLoad}
	var region *lru.Cache
	if peer == nearShmlru {
		w.Region = e.shmPath(fmt.Sprintf("near-n%d-r%d", n, round))
		os.Remove(w.Region)
		var err error
		region, err = lru.Open(w.Region, &lru.Options{Size: s.RegionSize})
		check(err)
		defer os.Remove(w.Region)
		defer region.Close()
	}
	kids := e.spawnN(n, "near", func(int) any { return w })
	defer quitAll(kids)
	var ts0 lru.TrackState
	var ls0 lru.LoadCounters
	if region != nil {
		check(waitInStep(region, 10*time.Second))
		var err error
		ts0, err = region.Tracker().State()
		check(err)
		ls0, err = region.Loads().Stats()
		check(err)
	}
	before := redisInfo(admin)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if region != nil {
		wg.Go(func() {
			t := time.NewTicker(nearSampleEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				ts, err := region.Tracker().State()
				r.Samples++
				if err != nil || !ts.InStep {
					r.OutOfStep++
				}
			}
		})
	}
	for i, k := range kids {
		k.send("run %d", uint64(round)<<16|uint64(i+1))
	}
	reps := recvAll[nearReport](kids)
	close(stop)
	wg.Wait()
	after := redisInfo(admin)
	r.Conns, r.TrackingConns = clientCounts(admin)
	r.add(reps)
	r.RedisGets = after.delta(before, "cmdstat_get")
	r.RedisCmds = after.delta(before, "total_commands_processed")
	r.RedisCPU = after.cpu() - before.cpu()
	r.TrackingKeys = int64(after["tracking_total_keys"])
	r.TrackingItems = int64(after["tracking_total_items"])
	r.TrackingPrefix = int64(after["tracking_total_prefixes"])
	if region != nil {
		st, err := region.Stats()
		check(err)
		r.UsedBytes, r.Entries, r.Evictions = st.UsedBytes, st.Entries, st.Evictions
		ts1, err := region.Tracker().State()
		check(err)
		r.Invalidations = ts1.Counters.Invalidations - ts0.Counters.Invalidations
		r.Generations = ts1.Counters.Generations - ts0.Counters.Generations
		r.Refused = ts1.Counters.Refused - ts0.Counters.Refused
		ls1, err := region.Loads().Stats()
		check(err)
		r.Loads = ls1.Loads - ls0.Loads
	}
	return r
}

// add sums the processes' reports.
func (r *NearRun) add(reps []nearReport) {
	var first, last int64
	r.OwnOK = len(reps) > 0
	for _, p := range reps {
		r.nearCounts.add(p.nearCounts)
		r.OwnOK = r.OwnOK && p.OwnOK
		if first == 0 || p.Start < first {
			first = p.Start
		}
		last = max(last, p.End)
	}
	r.WallNs = float64(last - first)
}

// resetRedis empties the server once every connection but the admin's
// has gone (the last run's children close theirs as they exit).
func resetRedis(admin *redis.Client) {
	err := poll(10*time.Second, 5*time.Millisecond, func() (bool, error) {
		n, _ := clientCounts(admin)
		return n == 0, nil
	})
	if err != nil {
		list, _ := admin.ClientList(context.Background()).Result()
		check(fmt.Errorf("near: connections to Redis still open after their processes quit: %w:\n%s", err, list))
	}
	check(admin.FlushAll(context.Background()).Err())
}

// populateNear writes every key's first value.
func populateNear(admin *redis.Client, keys, size int) {
	ctx := context.Background()
	for i := 0; i < keys; i += 1000 {
		p := admin.Pipeline()
		for k := i; k < min(i+1000, keys); k++ {
			p.Set(ctx, nearKey(k), nearValue(k, 0, size), 0)
		}
		_, err := p.Exec(ctx)
		check(err)
	}
}

// redisInfo is the server's INFO cpu, commandstats and stats.
func redisInfo(admin *redis.Client) redisStats {
	s, err := admin.Info(context.Background(), "cpu", "commandstats", "stats").Result()
	check(err)
	st, err := parseRedisInfo(s)
	check(err)
	return st
}

// redisStats are INFO's numeric fields by name; cmdstat_get's is its
// calls (a server without GETs yet has no such line: 0).
type redisStats map[string]float64

// cpu is the server's CPU seconds, user and system.
func (s redisStats) cpu() float64 { return s["used_cpu_sys"] + s["used_cpu_user"] }

// delta is s's field k less before's, as a count.
func (s redisStats) delta(before redisStats, k string) int64 { return int64(s[k] - before[k]) }

// parseRedisInfo reads INFO's reply.
func parseRedisInfo(info string) (redisStats, error) {
	s := redisStats{}
	for _, l := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		if k == "cmdstat_get" {
			v, _ = strings.CutPrefix(strings.Split(v, ",")[0], "calls=")
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			s[k] = f
		}
	}
	for _, k := range []string{"used_cpu_sys", "used_cpu_user", "total_commands_processed"} {
		if _, ok := s[k]; !ok {
			return s, fmt.Errorf("INFO: no %s", k)
		}
	}
	return s, nil
}

// clientCounts returns the connections to Redis other than the admin's,
// and those of them with tracking on.
func clientCounts(admin *redis.Client) (conns, tracking int) {
	s, err := admin.ClientList(context.Background()).Result()
	check(err)
	return countClients(s)
}

// nearAdminName is the CLIENT SETNAME of the harness's own connections.
const nearAdminName = "shmlru-bench-admin"

// countClients reads CLIENT LIST's reply: every line but the harness's
// own (name=nearAdminName), and those whose flags have t (tracking on).
func countClients(list string) (conns, tracking int) {
	for _, l := range strings.Split(list, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		self, t := false, false
		for _, kv := range f {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "name":
				self = v == nearAdminName
			case "flags":
				t = strings.Contains(v, "t")
			}
		}
		if self {
			continue
		}
		conns++
		if t {
			tracking++
		}
	}
	return conns, tracking
}
