package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/near"
)

// The children of the near section's multi-process runs (near.go, -child
// near). Each connects to the parent's redis-server, either through near
// (the region every child of the run shares, each child competing for the
// agent role) or through rueidis with its own client-side cache, and
// answers "run <seed>": it does the workload once (nearWork.Ops
// operations) and replies with one nearReport (JSON).
//
// The workload: each operation picks one of the keys by Zipf(0.99)
// popularity; with probability WriteFrac it is a SET of a new value to
// Redis (near.Client.Set; rueidis Do(SET)), else a read (near.Client.Get;
// rueidis DoCache(GET, MaxTTL)).

// The peers of the multi-process table, as nearWork.Peer names them.
const (
	nearShmlru  = "near"
	nearRueidis = "rueidis"
)

// nearLoad is the multi-process workload: keys in Redis, their value
// size, operations per process per run, the fraction that are writes,
// and near's MaxTTL (rueidis's DoCache TTL too).
type nearLoad struct {
	Keys      int           `json:"keys"`
	ValueSize int           `json:"value_size"`
	Ops       int           `json:"ops"`
	WriteFrac float64       `json:"write_frac"`
	MaxTTL    time.Duration `json:"max_ttl"`
}

// nearWork is what a child of the near section does.
type nearWork struct {
	Peer   string `json:"peer"`   // nearShmlru or nearRueidis
	Addr   string `json:"addr"`   // redis-server
	Region string `json:"region"` // the near region (nearShmlru)
	nearLoad
}

// nearWarmKeys is how many keys outside the workload a child reads before
// the run: enough that every one of rueidis's pipelined connections is
// used (2 at GOMAXPROCS 2 or 3, 4 from 4 up). DoCache picks a connection
// by the key's hash slot (these 16 keys' slots cover every residue mod
// 4), Do at random.
const nearWarmKeys = 16

// warmClient sends a PING and reads the nearWarmKeys keys, which Redis
// does not have, with Do, and with DoCache where cached (the caches then
// hold those absences and no key of the workload).
func warmClient(ctx context.Context, c rueidis.Client, cached bool) error {
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		return err
	}
	for i := 0; i < nearWarmKeys; i++ {
		k := fmt.Sprintf("nearwarm:%d", i)
		if err := c.Do(ctx, c.B().Get().Key(k).Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
			return err
		}
		if !cached {
			continue
		}
		if err := c.DoCache(ctx, c.B().Get().Key(k).Cache(), time.Minute).Error(); err != nil && !rueidis.IsRedisNil(err) {
			return err
		}
	}
	return nil
}

// nearKey is the name of key i in Redis.
func nearKey(i int) string { return fmt.Sprintf("near:%08d", i) }

// nearValue is key i's value, version ver: size bytes that start with
// both, so that a reader could tell them apart.
func nearValue(i int, ver uint64, size int) []byte {
	v := workload.Value(size)
	copy(v, fmt.Sprintf("%d:%d:", i, ver))
	return v
}

// nearCounts are what a child counts of one run, and what a NearRun sums
// over its processes.
type nearCounts struct {
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
	Hits   int64 `json:"hits"` // rueidis: reads answered from its cache (IsCacheHit); near: 0, counted at Redis
	failures
	Distinct int64 `json:"distinct"` // keys read at least once
	// Growth from after connecting to after the run of the Go heap in use
	// (runtime.MemStats.HeapAlloc after two runtime.GC) and of the
	// anonymous resident memory (RssAnon of /proc/self/status).
	HeapGrowth int64 `json:"heap_growth"`
	AnonGrowth int64 `json:"anon_growth"`
	// rueidis's own count of its caches' bytes and keys after the run
	// (rueidisOwnCount).
	OwnBytes int64 `json:"own_bytes"`
	OwnKeys  int64 `json:"own_keys"`
}

// add sums o into c; the first error stays c's if it had one.
func (c *nearCounts) add(o nearCounts) {
	c.Reads += o.Reads
	c.Writes += o.Writes
	c.Hits += o.Hits
	c.failures.add(o.failures)
	c.Distinct += o.Distinct
	c.HeapGrowth += o.HeapGrowth
	c.AnonGrowth += o.AnonGrowth
	c.OwnBytes += o.OwnBytes
	c.OwnKeys += o.OwnKeys
}

// nearReport is one child's account of one run: its counts, when the
// workload began and ended (CLOCK_MONOTONIC, monoNow), and whether
// rueidis's own count could be read.
type nearReport struct {
	nearCounts
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	OwnOK bool  `json:"own_ok"`
}

// nearStore is one peer as the workload uses it.
type nearStore struct {
	get func(ctx context.Context, key string) (v []byte, hit bool, err error)
	set func(ctx context.Context, key string, v []byte) error
	// warm uses every connection of the client once, reading no key of
	// the workload and storing nothing in a shared region.
	warm  func(ctx context.Context) error
	close func()
	// own is rueidis's own count of its caches (nil for near).
	own func() (bytes int64, keys int, ok bool)
}

func openNearStore(peer string, w nearWork) (*nearStore, error) {
	opt := rueidis.ClientOption{InitAddress: []string{w.Addr}}
	switch peer {
	case nearShmlru:
		c, err := near.New(near.Options{Redis: opt, Cache: w.Region, MaxTTL: w.MaxTTL})
		if err != nil {
			return nil, err
		}
		return &nearStore{
			get: func(ctx context.Context, key string) ([]byte, bool, error) {
				v, err := c.Get(ctx, key)
				return v, false, err
			},
			set: func(ctx context.Context, key string, v []byte) error { return c.Set(ctx, key, v, 0) },
			// Straight to Redis with near's own client: a read through
			// the region would cache the absences, and the next process
			// would find them there and not use its connections.
			warm: func(ctx context.Context) error {
				return warmClient(ctx, c.Redis(), false)
			},
			close: func() {
				if err := c.Close(); err != nil {
					fmt.Fprintln(os.Stderr, "near child: close:", err)
				}
			},
		}, nil
	case nearRueidis:
		// rueidis's own client-side caching at its defaults: CLIENT
		// TRACKING ON OPTIN on each connection, a cache of
		// CacheSizeEachConn (128 MiB) per connection.
		c, err := rueidis.NewClient(opt)
		if err != nil {
			return nil, err
		}
		return &nearStore{
			get: func(ctx context.Context, key string) ([]byte, bool, error) {
				resp := c.DoCache(ctx, c.B().Get().Key(key).Cache(), w.MaxTTL)
				v, err := resp.AsBytes()
				return v, resp.IsCacheHit(), err
			},
			set: func(ctx context.Context, key string, v []byte) error {
				return c.Do(ctx, c.B().Set().Key(key).Value(rueidis.BinaryString(v)).Build()).Error()
			},
			warm:  func(ctx context.Context) error { return warmClient(ctx, c, true) },
			close: c.Close,
			own:   func() (int64, int, bool) { return rueidisOwnCount(c) },
		}, nil
	}
	return nil, fmt.Errorf("near child: unknown peer %q", peer)
}

func nearChildMain(arg []byte) {
	var w nearWork
	check(jsonArg(arg, &w))
	st, err := openNearStore(w.Peer, w)
	check(err)
	defer st.close()
	ctx := context.Background()
	// Connected before "ready", and every connection used once, so that
	// what the client allocates for itself as it opens a connection
	// (rueidis: its buffers, cache or no cache) is in the heap before the
	// run.
	if err := st.warm(ctx); err != nil {
		check(fmt.Errorf("near child: warming the connections: %w", err))
	}
	keys := make([]string, w.Keys)
	for i := range keys {
		keys[i] = nearKey(i)
	}
	z := workload.NewZipf(w.Keys, workload.ZipfS)
	serve(func(f []string) {
		if len(f) != 2 || f[0] != "run" {
			check(fmt.Errorf("near child: unexpected line %q", f))
		}
		seed, err := strconv.ParseUint(f[1], 10, 64)
		check(err)
		reply(nearRun(ctx, st, w, keys, z, seed))
	})
}

// nearRun does w.Ops operations and reports them.
func nearRun(ctx context.Context, st *nearStore, w nearWork, keys []string, z *workload.Zipf, seed uint64) nearReport {
	var r nearReport
	heap0, anon0 := liveHeap(), rssAnon()
	rng := rand.New(rand.NewPCG(seed, 10))
	read := make([]bool, len(keys))
	ver := seed << 32
	r.Start = monoNow()
	for i := 0; i < w.Ops; i++ {
		k := z.Rank(rng)
		if rng.Float64() < w.WriteFrac {
			ver++
			if err := st.set(ctx, keys[k], nearValue(k, ver, w.ValueSize)); err != nil {
				r.fail(err)
			}
			r.Writes++
			continue
		}
		v, hit, err := st.get(ctx, keys[k])
		switch {
		case err != nil:
			r.fail(err)
		case len(v) != w.ValueSize:
			r.fail(fmt.Errorf("%s: a value of %d bytes, want %d", keys[k], len(v), w.ValueSize))
		}
		r.Reads++
		if hit {
			r.Hits++
		}
		if !read[k] {
			read[k] = true
			r.Distinct++
		}
	}
	r.End = monoNow()
	r.HeapGrowth, r.AnonGrowth = int64(liveHeap())-int64(heap0), rssAnon()-anon0
	if st.own != nil {
		var keys int
		r.OwnBytes, keys, r.OwnOK = st.own()
		r.OwnKeys = int64(keys)
	}
	return r
}

// rueidisOwnCount reads what rueidis's default cache store counts of
// itself, summed over the client's connections: the bytes it charges
// against CacheSizeEachConn (its estimate of each entry: fixed struct
// sizes, key, command and reply) and the keys it holds. rueidis does not
// export them, so they are read by reflection from the client as rueidis
// v1.0.76 builds it (singleClient.conn, a *mux; each muxwire's wire, a
// *pipe; its cache, an *lru; its size and store). Anything else (another
// version's layout) reports ok false instead of a figure.
func rueidisOwnCount(c rueidis.Client) (bytes int64, keys int, ok bool) {
	defer func() {
		if recover() != nil {
			bytes, keys, ok = 0, 0, false
		}
	}()
	named := func(v reflect.Value, name string) bool {
		return v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Type().Name() == name
	}
	sc := reflect.ValueOf(c)
	if !named(sc, "singleClient") {
		return 0, 0, false
	}
	mux := sc.Elem().FieldByName("conn").Elem()
	if !named(mux, "mux") {
		return 0, 0, false
	}
	wires := mux.Elem().FieldByName("muxwires")
	for i := 0; i < wires.Len(); i++ {
		wf := wires.Index(i).FieldByName("wire")
		if wf.Type() != reflect.TypeFor[atomic.Value]() {
			return 0, 0, false
		}
		p := reflect.ValueOf((*atomic.Value)(unsafe.Pointer(wf.UnsafeAddr())).Load())
		if !named(p, "pipe") {
			continue // a connection not made yet
		}
		cache := p.Elem().FieldByName("cache")
		if cache.IsNil() {
			continue
		}
		l := cache.Elem()
		if !named(l, "lru") {
			return 0, 0, false
		}
		size := l.Elem().FieldByName("size")
		if size.Kind() != reflect.Int {
			return 0, 0, false
		}
		bytes += int64(*(*int)(unsafe.Pointer(size.UnsafeAddr())))
		keys += l.Elem().FieldByName("store").Len()
	}
	return bytes, keys, true
}

// liveHeap is the Go heap in use after two collections (the second frees
// what the first's sync.Pool victims held).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// rssAnon is RssAnon of /proc/self/status in bytes: the process's private
// resident memory (a shared mapping such as the region is not in it); 0
// where it cannot be read.
func rssAnon() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
