package near

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/shmlru/shmlru/lru"
)

// agent competes for the host's agent role and, while it holds it, keeps
// the region in step with Redis (see the package doc).
type agent struct {
	cache   *lru.Cache
	o       Options
	cancel  context.CancelFunc
	done    chan struct{}
	leading atomic.Bool
	// sessions counts tracking sessions that reached "in step", for tests
	// and the command's log.
	sessions atomic.Int64
}

func startAgent(cache *lru.Cache, o Options) *agent {
	ctx, cancel := context.WithCancel(context.Background())
	a := &agent{cache: cache, o: o, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.run(ctx)
	}()
	return a
}

// stop ends the agent and gives the role up.
func (a *agent) stop() {
	a.cancel()
	<-a.done
}

// run tries to take the role every ClaimInterval until it has it, then
// leads until ctx ends.
func (a *agent) run(ctx context.Context) {
	t := time.NewTicker(a.o.ClaimInterval)
	defer t.Stop()
	for {
		ok, err := a.cache.Tracker().ClaimAgent()
		if err != nil {
			a.o.logf("near: claiming the agent role: %v", err)
		}
		if ok {
			a.lead(ctx)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lead runs tracking sessions, one after another, until ctx ends. Each
// session ends when its stream may have lost a message; the next starts
// after a backoff (50 ms doubling to 1 s), the cache out of step meanwhile.
func (a *agent) lead(ctx context.Context) {
	a.leading.Store(true)
	defer func() {
		a.leading.Store(false)
		a.cache.Tracker().ReleaseAgent()
	}()
	a.o.logf("near: this process (%s) is the host's agent", a.cache.Path())
	// Nothing told the region of the changes made while no one listened.
	a.cache.Tracker().InvalidateAll()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		confirmed, err := a.session(ctx)
		a.cache.Tracker().InvalidateAll()
		if ctx.Err() != nil {
			return
		}
		a.o.logf("near: tracking session ended (%v); every cached key dropped", err)
		if confirmed {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// session opens a tracking connection to every master, then confirms the
// stream every MaxLag/4 until something may have been lost. It reports
// whether it ever confirmed.
func (a *agent) session(ctx context.Context) (confirmed bool, err error) {
	opt := a.o.Redis
	opt.ClientName = AgentClientName
	rdb, err := rueidis.NewClient(opt)
	if err != nil {
		return false, err
	}
	defer rdb.Close()
	masters, err := mastersOf(ctx, rdb)
	if err != nil {
		return false, err
	}
	nodes := rdb.Nodes()
	lost := make(chan error, 1)
	fail := func(err error) {
		select {
		case lost <- err:
		default:
		}
	}
	var conns []rueidis.DedicatedClient
	for _, addr := range masters {
		node, ok := nodes[addr]
		if !ok {
			return false, fmt.Errorf("master %s is not among the client's nodes", addr)
		}
		dc, release := node.Dedicate()
		defer release()
		closed := dc.SetOnInvalidations(func(keys []rueidis.RedisMessage) { a.apply(keys, fail) })
		go func() {
			err := <-closed
			if err == nil {
				err = errors.New("connection closed")
			}
			fail(fmt.Errorf("tracking connection to %s: %w", addr, err))
		}()
		args := []string{"ON", "BCAST"}
		for _, p := range a.o.Prefixes {
			args = append(args, "PREFIX", p)
		}
		if err := dc.Do(ctx, dc.B().Arbitrary("CLIENT", "TRACKING").Args(args...).Build()).Error(); err != nil {
			return false, fmt.Errorf("CLIENT TRACKING ON at %s: %w", addr, err)
		}
		conns = append(conns, dc)
	}
	// Tracking is on everywhere: from now on no change goes unannounced.
	// Whatever was filled before (in this generation, by readers while a
	// previous session's confirmation still ran) may have missed one.
	a.cache.Tracker().InvalidateAll()
	every := a.o.MaxLag / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := a.confirm(ctx, rdb, conns, masters); err != nil {
			return confirmed, err
		}
		if !confirmed {
			confirmed = true
			a.sessions.Add(1)
			a.o.logf("near: tracking %d node(s) %v, in step", len(masters), masters)
		}
		select {
		case <-ctx.Done():
			return confirmed, ctx.Err()
		case err := <-lost:
			return confirmed, err
		case <-t.C:
		}
	}
}

// confirm pings every tracking connection at once; when all have answered
// (and so every invalidation sent before each ping has been applied), the
// region is in step until the pings were sent plus MaxLag. A cluster's
// masters are checked too: a moved slot may live on a node not tracked.
func (a *agent) confirm(ctx context.Context, rdb rueidis.Client, conns []rueidis.DedicatedClient, masters []string) error {
	sent := lru.TrackClock()
	// A ping that takes longer than a few bounds means a dead peer.
	ctx, cancel := context.WithTimeout(ctx, 4*a.o.MaxLag+time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, dc := range conns {
		wg.Go(func() { errs[i] = dc.Do(ctx, dc.B().Ping().Build()).Error() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if rdb.Mode() == rueidis.ClientModeCluster {
		now, err := mastersOf(ctx, rdb)
		if err != nil {
			return err
		}
		if !slices.Equal(now, masters) {
			return fmt.Errorf("the cluster's masters changed from %v to %v", masters, now)
		}
	}
	return a.cache.Tracker().SetInStep(sent + int64(a.o.MaxLag))
}

// apply deletes the keys of one invalidation message; nil (FLUSHALL, or
// the connection closing) drops every key.
func (a *agent) apply(keys []rueidis.RedisMessage, fail func(error)) {
	if keys == nil {
		if _, err := a.cache.Tracker().InvalidateAll(); err != nil {
			fail(err)
		}
		return
	}
	for _, m := range keys {
		k, err := m.ToString()
		if err == nil {
			err = a.cache.Tracker().Invalidate([]byte(k))
		}
		if err != nil && !errors.Is(err, lru.ErrEmptyKey) && !errors.Is(err, lru.ErrKeyTooLarge) {
			// A key that could not be removed may stay stale: start over.
			a.cache.Tracker().InvalidateAll()
			fail(fmt.Errorf("invalidating %q: %w", k, err))
		}
	}
}

// mastersOf returns the addresses of the nodes that own slots, sorted: the
// one node of a standalone server, or a cluster's masters.
func mastersOf(ctx context.Context, rdb rueidis.Client) ([]string, error) {
	if rdb.Mode() != rueidis.ClientModeCluster {
		var addrs []string
		for addr := range rdb.Nodes() {
			addrs = append(addrs, addr)
		}
		return addrs, nil
	}
	slots, err := rdb.Do(ctx, rdb.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range slots {
		r, err := s.ToArray()
		if err != nil || len(r) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS: unexpected reply")
		}
		node, err := r[2].ToArray()
		if err != nil || len(node) < 2 {
			return nil, fmt.Errorf("CLUSTER SLOTS: unexpected node")
		}
		host, _ := node[0].ToString()
		port, _ := node[1].AsInt64()
		seen[fmt.Sprintf("%s:%d", host, port)] = true
	}
	addrs := make([]string, 0, len(seen))
	for a := range seen {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	return addrs, nil
}

// RunAgent runs only the agent on the host's region until ctx ends:
// competing for the role, then keeping the region in step with Redis
// (cmd/shmlru-near). o.NoAgent is ignored.
func RunAgent(ctx context.Context, o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	cache, err := lru.Open(o.Cache, o.CacheOptions)
	if err != nil {
		return fmt.Errorf("near: open the cache: %w", err)
	}
	defer cache.Close()
	a := startAgent(cache, o)
	<-ctx.Done()
	a.stop()
	return nil
}
