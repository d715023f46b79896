package lru

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Read-through: GetOrLoad answers from the cache, and on a miss runs a
// loader for the key in exactly one caller among all the processes of the
// host (the load table, flight.go) while the others wait for its value.
//
// Two levels, as the best pools of callers have: the goroutines of this
// process that miss one key first coalesce here (localLoad), so only one of
// them goes on to the load table, where it meets the other processes. The
// local waiters get the loader's own error value; remote ones get its
// message.
//
// What GetOrLoad writes, every process reads the same way (resty.shmlru's
// get_or_load and resty.shmlru.mlcache follow these rules too):
//   - a loaded value is an entry of LoadOptions.Type with the TTL;
//   - a value with a stale window (LoadOptions.StaleTTL) lives TTL+StaleTTL
//     in the region, and its user flags are StaleFlag|window in ms: it is
//     fresh until Expires-window, then served stale while one caller
//     refreshes it;
//   - a cached absence (NegativeTTL) is an entry of TypeNone.

// Loader loads the value of key from where the cache's data comes from (a
// database, a service). It returns ErrNotFound (or an error wrapping it)
// when the key has no value there. It should honour ctx.
type Loader func(ctx context.Context, key []byte) ([]byte, error)

// LoadOptions say how GetOrLoad caches what its loader returns. Their
// names and meanings follow lua-resty-mlcache's where it has them (ttl,
// neg_ttl, resurrect_ttl).
type LoadOptions struct {
	// TTL of a loaded value; 0 means it never expires.
	TTL time.Duration
	// NegativeTTL is how long a "not found" from the loader is remembered
	// (as an entry of TypeNone); 0 remembers nothing, and every miss
	// loads again.
	NegativeTTL time.Duration
	// StaleTTL is stale-while-revalidate: for this long after TTL the
	// value is still served, while one caller on the host refreshes it in
	// the background. It needs a TTL. 0: no stale serving.
	StaleTTL time.Duration
	// ResurrectTTL: when the loader fails and an expired value of the key
	// is still in the cache, that value is served (SourceResurrected) and
	// made fresh again for this long, instead of the error going to every
	// waiter. 0: the error goes to every caller waiting on the load, and
	// nothing is cached. Values kept for StaleTTL are at hand for it; an
	// expired one without it only until the cache removes it.
	ResurrectTTL time.Duration
	// Lease is how long a load stays its loader's while the loader's
	// process lives: a loader still running after it may be taken over
	// by a waiter. 0 means DefaultLease.
	Lease time.Duration
	// Type of loaded values (the loader's bytes must match it).
	Type Type
	// Tracked makes the loads tracked entries (track.go): served only in
	// the generation they were loaded in and while the cache is in step
	// with its store, and stored only if no invalidation of the key came
	// while the loader ran. Out of step, every caller runs the loader
	// itself and nothing is cached. It excludes StaleTTL and
	// ResurrectTTL, which serve what may have changed.
	Tracked bool

	fill *FillTicket // a tracked load's, once it has one (runLoader)
}

// Source tells where GetOrLoad's answer came from (mlcache's hit_level,
// in more detail).
type Source uint8

// Sources of an answer.
const (
	SourceHit         Source = iota // a fresh entry (or cached absence) in the cache
	SourceLoaded                    // this caller ran the loader
	SourceWaited                    // another caller, here or in another process, ran the loader
	SourceStale                     // an expired value, while one caller refreshes it (StaleTTL)
	SourceResurrected               // an expired value, because the loader failed (ResurrectTTL)
)

// String names the source.
func (s Source) String() string {
	switch s {
	case SourceHit:
		return "hit"
	case SourceLoaded:
		return "loaded"
	case SourceWaited:
		return "waited"
	case SourceStale:
		return "stale"
	case SourceResurrected:
		return "resurrected"
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// LoadError is the error of a load whose loader failed. Every caller that
// waited on that load gets it.
type LoadError struct {
	// Msg is the loader's error message; from a loader in another process,
	// its first 88 bytes.
	Msg string
	// Err is the loader's error when it ran in this process, else nil.
	Err error
}

func (e *LoadError) Error() string { return "lru: loader failed: " + e.Msg }

// Unwrap returns the loader's own error, when it ran in this process.
func (e *LoadError) Unwrap() error { return e.Err }

// StaleFlag marks the user flags of an entry that a read-through load
// wrote with a stale window: the low 31 bits are the window in
// milliseconds (see the top of this file). Code in other languages that
// reads through follows the same rule (SHMLRU_STALE_FLAG_BIT in shmlru.h).
const StaleFlag = 1 << 31

// maxStaleWindow is the longest StaleTTL the flags can hold.
const maxStaleWindow = (StaleFlag - 1) * time.Millisecond

// GetOrLoad returns the value of key: from the cache if it holds a fresh
// one, else from load, run once on the whole host however many callers
// miss the key at once (see Load). A key the loader found absent (and
// NegativeTTL remembered) is ErrNotFound.
func (c *Cache) GetOrLoad(ctx context.Context, key []byte, load Loader, o LoadOptions) ([]byte, error) {
	v, _, err := c.Load(ctx, nil, key, load, o)
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

// Load is GetOrLoad that appends the value to dst and says where it came
// from. On a miss exactly one caller among every process that has the
// cache open runs load; the others sleep on a word of the region until it
// has written the value, then read it. ctx bounds the wait (its error is
// returned, wrapped) and is the context load runs with. If the loading
// process dies, one waiter takes the load over within about
// shm.OwnerCheckInterval; if the loading caller's ctx ends, its load is
// abandoned and a waiter takes it over at once.
//
// load's errors reach every caller waiting on it as a *LoadError (unless
// ResurrectTTL serves a stale value instead), and nothing is cached.
func (c *Cache) Load(ctx context.Context, dst, key []byte, load Loader, o LoadOptions) (v []byte, src Source, err error) {
	if err := o.check(); err != nil {
		return dst, 0, err
	}
	if load == nil {
		return dst, 0, fmt.Errorf("%w: nil Loader", ErrBadOptions)
	}
	v, st, err := c.look(dst, key, o.Tracked)
	switch {
	case errors.Is(err, ErrNotInStep):
		return c.loadUncached(ctx, dst, key, load)
	case err != nil && !errors.Is(err, ErrNotFound):
		return dst, 0, err
	case st == lookFresh:
		return v, SourceHit, nil
	case st == lookAbsent:
		return dst, SourceHit, ErrNotFound
	case st == lookSoftStale:
		c.refresh(ctx, key, load, o)
		return v, SourceStale, nil
	}
	var stale []byte // an expired value, for ResurrectTTL
	if st == lookExpired {
		stale = v[len(dst):]
	}
	res := c.coalesce(ctx, key, load, o, stale)
	if errors.Is(res.err, ErrNotInStep) {
		return c.loadUncached(ctx, dst, key, load)
	}
	if res.err != nil {
		return dst, res.src, res.err
	}
	return append(dst, res.v...), res.src, nil
}

// loadUncached runs the loader for this caller alone and caches nothing: a
// tracked load while the cache is not in step with its store.
func (c *Cache) loadUncached(ctx context.Context, dst, key []byte, load Loader) ([]byte, Source, error) {
	v, err := load(ctx, key)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return dst, SourceLoaded, ErrNotFound
		}
		return dst, SourceLoaded, &LoadError{Msg: err.Error(), Err: err}
	}
	return append(dst, v...), SourceLoaded, nil
}

func (o *LoadOptions) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TTL", o.TTL}, {"NegativeTTL", o.NegativeTTL}, {"StaleTTL", o.StaleTTL}, {"ResurrectTTL", o.ResurrectTTL}, {"Lease", o.Lease}} {
		if d.v < 0 {
			return fmt.Errorf("%w: LoadOptions.%s %v is negative", ErrBadTTL, d.name, d.v)
		}
	}
	if _, err := deadline(o.TTL + o.StaleTTL); err != nil || o.TTL+o.StaleTTL < o.TTL {
		return fmt.Errorf("%w: LoadOptions.TTL+StaleTTL is too long", ErrBadTTL)
	}
	if o.StaleTTL > maxStaleWindow {
		return fmt.Errorf("%w: LoadOptions.StaleTTL %v; at most %v", ErrBadTTL, o.StaleTTL, maxStaleWindow)
	}
	if o.StaleTTL > 0 && o.TTL == 0 {
		return fmt.Errorf("%w: LoadOptions.StaleTTL needs a TTL (a value that never expires is never stale)", ErrBadOptions)
	}
	if o.Tracked && (o.StaleTTL > 0 || o.ResurrectTTL > 0) {
		return fmt.Errorf("%w: LoadOptions.Tracked excludes StaleTTL and ResurrectTTL (they serve values that may have changed)", ErrBadOptions)
	}
	if o.Type >= numTypes || o.Type == TypeNone {
		return fmt.Errorf("%w: LoadOptions.Type %v", ErrBadOptions, o.Type)
	}
	return nil
}

func (o *LoadOptions) lease() time.Duration {
	if o.Lease == 0 {
		return DefaultLease
	}
	return o.Lease
}

// What look found.
type lookState uint8

const (
	lookMiss      lookState = iota // nothing
	lookFresh                      // a live value
	lookAbsent                     // a live cached absence
	lookSoftStale                  // a value past its fresh time, within its stale window
	lookExpired                    // a value past its deadline, not yet removed
)

// look reads key as GetOrLoad sees it (see the top of this file); a
// tracked look sees only tracked entries, and fails with ErrNotInStep.
func (c *Cache) look(dst, key []byte, tracked bool) ([]byte, lookState, error) {
	v, m, stale, err := c.Read(dst, key, ReadOptions{Stale: !tracked, Absent: true, Tracked: tracked})
	switch {
	case err != nil:
		return dst, lookMiss, err
	case stale:
		if m.Type == TypeNone {
			return dst, lookMiss, nil
		}
		return v, lookExpired, nil
	case m.Type == TypeNone:
		return dst, lookAbsent, nil
	case m.Flags&StaleFlag != 0 && m.Expires != 0:
		window := int64(m.Flags &^ StaleFlag)
		if nowMillis() >= m.Expires-window {
			return v, lookSoftStale, nil
		}
	}
	return v, lookFresh, nil
}

// localLoad is one key's load as this process's callers share it.
type localLoad struct {
	done      chan struct{}
	res       loadResult
	ctx       context.Context // the leader's
	followers int             // callers waiting on the leader (under localMu; for tests)
}

type loadResult struct {
	v   []byte
	src Source
	err error
	// refused: a tracked load whose key changed while it loaded, so its
	// value is not kept. Its caller may use it (it read the store before
	// the change), but a follower that joined later must not: it may have
	// begun after the change (see coalesce).
	refused bool
	// fill is a tracked load's fill ticket: a follower takes the answer
	// only if it still holds, i.e. no change to the key has been applied
	// since the leader read the store.
	fill *FillTicket
}

// coalesce runs one key's miss for this process: the first caller leads
// (and meets the other processes in the load table), the others wait for
// its result. A follower whose leader's own context ended tries again, as
// the leader did not fail for it.
func (c *Cache) coalesce(ctx context.Context, key []byte, load Loader, o LoadOptions, stale []byte) loadResult {
	for {
		c.localMu.Lock()
		if c.local == nil {
			c.local = make(map[string]*localLoad)
		}
		l, ok := c.local[string(key)]
		if !ok {
			l = &localLoad{done: make(chan struct{}), ctx: ctx}
			c.local[string(key)] = l
			c.localMu.Unlock()
			func() {
				// Whatever the loader does (a panic included), the
				// followers are released.
				defer func() {
					c.localMu.Lock()
					delete(c.local, string(key))
					c.localMu.Unlock()
					close(l.done)
				}()
				l.res = c.loadShared(ctx, key, load, o, stale)
			}()
			return l.res
		}
		l.followers++
		c.localMu.Unlock()
		select {
		case <-l.done:
		case <-ctx.Done():
			return loadResult{err: fmt.Errorf("lru: waiting for the load of the key: %w", ctx.Err())}
		}
		if l.res.err != nil && l.ctx.Err() != nil && errors.Is(l.res.err, l.ctx.Err()) {
			continue // the leader gave up for itself, not for us
		}
		if l.res.refused || (l.res.fill != nil && !c.ticketHolds(l.res.fill)) {
			continue // the leader's answer may predate a change this caller must see
		}
		r := l.res
		if r.src == SourceLoaded {
			r.src = SourceWaited
		}
		return r
	}
}

// loadShared is a miss among all processes: claim the key's load, or wait
// for whoever holds it, until there is an answer.
func (c *Cache) loadShared(ctx context.Context, key []byte, load Loader, o LoadOptions, stale []byte) loadResult {
	waited := false
	for {
		if err := ctx.Err(); err != nil {
			return loadResult{err: fmt.Errorf("lru: waiting for the load of the key: %w", err)}
		}
		t, err := c.lt.Begin(key, o.lease())
		if err != nil {
			return loadResult{err: err}
		}
		var msg string
		if t.State == LoadWaiting {
			waited = true
			msg, err = c.waitCtx(ctx, &t, o.lease())
			if err != nil {
				return loadResult{err: err}
			}
		}
		switch t.State {
		case LoadMine:
			return c.runLoader(ctx, &t, key, load, o, stale)
		case LoadAbsent:
			return loadResult{src: SourceWaited, err: ErrNotFound}
		case LoadFailed:
			return loadResult{src: SourceWaited, err: &LoadError{Msg: msg}}
		}
		// LoadDone: the value should be there now.
		v, st, err := c.look(nil, key, o.Tracked)
		switch {
		case err != nil && !errors.Is(err, ErrNotFound):
			return loadResult{err: err}
		case st == lookFresh || st == lookSoftStale:
			src := SourceHit
			if waited {
				src = SourceWaited
			}
			return loadResult{v: v, src: src}
		case st == lookAbsent:
			return loadResult{src: SourceWaited, err: ErrNotFound}
		}
		// Gone again (abandoned, or evicted at once): claim again.
	}
}

// waitCtx waits on a load until it ends, the caller takes it over, or ctx
// ends. A context that ends wakes the sleeper at once (it wakes every
// sleeper on the word; they look and sleep again).
func (c *Cache) waitCtx(ctx context.Context, t *LoadTicket, lease time.Duration) (string, error) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { c.wakeTicket(t) })
		defer stop()
	}
	for {
		timeout := time.Hour
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		msg, err := c.waitLoad(t, max(timeout, 0), lease, func() bool { return ctx.Err() != nil })
		if t.State == LoadWaiting && (err != nil || ctx.Err() != nil) && t.Flight < uint32(c.g.loads) {
			c.releaseKeep(t.Flight, t.Seq) // gives up: the outcome is not needed
		}
		if err != nil || t.State != LoadWaiting {
			return msg, err
		}
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("lru: waiting for the load of the key: %w", err)
		}
	}
}

// runLoader is the loader's side of a load the caller has claimed: look
// once more, load, write, end the load. The load ends whatever happens,
// a panic of the loader included (as abandoned, and the panic goes on).
func (c *Cache) runLoader(ctx context.Context, t *LoadTicket, key []byte, load Loader, o LoadOptions, stale []byte) (res loadResult) {
	ended := false
	end := func(outcome LoadState, msg string) {
		ended = true
		if err := c.lt.End(t, outcome, msg); err != nil && !errors.Is(err, ErrLoadLost) && res.err == nil {
			res.err = err
		}
	}
	defer func() {
		if !ended {
			end(LoadAbandoned, "")
		}
	}()
	// A load that ended just before this one was claimed wrote its value.
	if v, st, err := c.look(nil, key, o.Tracked); err == nil && (st == lookFresh || st == lookAbsent) {
		end(LoadDone, "")
		if st == lookAbsent {
			return loadResult{src: SourceWaited, err: ErrNotFound}
		}
		return loadResult{v: v, src: SourceWaited}
	}
	var fill FillTicket
	if o.Tracked {
		// Before the loader reads the store (see StoreFill). Out of step,
		// the waiters find no value and load for themselves, uncached.
		var err error
		if fill, err = c.tr.BeginFill(key); err != nil {
			end(LoadAbandoned, "")
			return loadResult{err: err}
		}
		o.fill = &fill
	}
	v, lerr := load(ctx, key)
	switch {
	case lerr == nil:
		refused, err := c.storeLoaded(t, key, v, o.TTL, o)
		if errors.Is(err, ErrLoadLost) {
			// Taken over while it loaded (its lease ran out): the new
			// loader writes the key, and its waiters hear from it. This
			// caller still gets what it loaded, which is what the
			// source said during its call.
			end(LoadDone, "")
			return loadResult{v: v, src: SourceLoaded}
		}
		if err != nil {
			// The caller has its value; the waiters learn why it was not
			// kept.
			end(LoadFailed, "loaded value not cached: "+err.Error())
			return loadResult{v: v, src: SourceLoaded}
		}
		end(LoadDone, "")
		return loadResult{v: v, src: SourceLoaded, refused: refused, fill: o.fill}
	case errors.Is(lerr, ErrNotFound):
		refused := false
		switch {
		case o.Tracked && o.NegativeTTL > 0:
			stored, _ := c.tr.StoreFill(key, nil, true, WriteOptions{TTL: o.NegativeTTL}, fill)
			refused = !stored
		case o.NegativeTTL > 0:
			// If it cannot be kept, the waiters still learn the answer
			// (and if the load was taken over, they hear from the new
			// loader, whose answer this must not replace).
			c.lt.Write(t, key, nil, WriteOptions{TTL: o.NegativeTTL, Type: TypeNone})
		}
		if o.Tracked {
			// Waiters look at the region rather than take "absent" from
			// the table: an invalidation may have come after the store
			// (or refused it), and a waiter that began after it must see
			// what the region says now. They find the absence, or load.
			end(LoadDone, "")
		} else {
			end(LoadAbsent, "")
		}
		return loadResult{src: SourceLoaded, err: ErrNotFound, refused: refused, fill: o.fill}
	case ctx.Err() != nil && errors.Is(lerr, ctx.Err()):
		end(LoadAbandoned, "") // the caller went away; a waiter loads
		return loadResult{err: lerr}
	case o.ResurrectTTL > 0 && stale != nil:
		// Taken over (ErrLoadLost), the stale value is not written over
		// the new loader's, but still answers this caller.
		if _, err := c.storeLoaded(t, key, stale, o.ResurrectTTL, o); err == nil || errors.Is(err, ErrLoadLost) {
			end(LoadDone, "")
			return loadResult{v: stale, src: SourceResurrected}
		}
	}
	end(LoadFailed, lerr.Error())
	return loadResult{src: SourceLoaded, err: &LoadError{Msg: lerr.Error(), Err: lerr}}
}

// storeLoaded writes a value loaded (or resurrected) by the load of t,
// fresh for ttl, with the stale window if the options have one, unless the
// load was taken over meanwhile (ErrLoadLost, see Loads.Write). A tracked
// load's store may be refused (the key changed while it loaded): no error,
// the waiters find no value and load again. A tracked store needs no check
// of the load: its fill ticket refuses it if the key changed in the store since
// it read it, and otherwise it writes what the store still says.
func (c *Cache) storeLoaded(t *LoadTicket, key, v []byte, ttl time.Duration, o LoadOptions) (refused bool, err error) {
	w := WriteOptions{TTL: ttl, Type: o.Type}
	if o.fill != nil {
		stored, err := c.tr.StoreFill(key, v, false, w, *o.fill)
		return err == nil && !stored, err
	}
	if o.StaleTTL > 0 && ttl > 0 {
		w.TTL += o.StaleTTL
		w.Flags = StaleFlag | uint32(o.StaleTTL.Milliseconds())
	}
	_, err = c.lt.Write(t, key, v, w)
	return false, err
}

// refresh starts the background reload of a value served stale, unless a
// load of the key is under way already. The reload runs with ctx's values
// but not its cancellation (the caller has its answer and may be gone).
func (c *Cache) refresh(ctx context.Context, key []byte, load Loader, o LoadOptions) {
	t, err := c.lt.Begin(key, o.lease())
	if err != nil || t.State != LoadMine {
		return // someone refreshes it already (or the table is full: the next caller tries)
	}
	key = append([]byte(nil), key...)
	go c.runLoader(context.WithoutCancel(ctx), &t, key, load, o, nil)
}
