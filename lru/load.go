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
//   - a cached absence (NegativeTTL) is an entry of TypeNone;
//   - a value (or absence) resurrected (ResurrectTTL) has ResurrectFlag in
//     its user flags: every read of it until its deadline says
//     SourceResurrected, as the call that resurrected it did.

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
	// waiter; an expired absence likewise (ErrNotFound, SourceResurrected). 0: the error goes to every caller waiting on the load, and
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
	// keepAbsent remembers an absence with NegativeTTL 0, without expiry
	// (lua-resty-mlcache's neg_ttl 0; see ReadThrough).
	keepAbsent bool
	// staleAbsent: the expired entry at hand for ResurrectTTL is an
	// absence (GetOrLoad), resurrected as one.
	staleAbsent bool
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
// wrote with a stale window: the bits below ResurrectFlag are the window
// in milliseconds (see the top of this file). Code in other languages that
// reads through follows the same rule (SHMLRU_STALE_FLAG_BIT in shmlru.h).
const StaleFlag = 1 << 31

// ResurrectFlag marks the user flags of an entry that a read-through load
// resurrected (ResurrectTTL): it reads as LookResurrected until its
// deadline, so that every reader reports SourceResurrected, not a hit.
// It is bit 29, not 30, so that the flags resty.shmlru.mlcache gives a
// table ("JSON" in ASCII, bit 30 set) stay user flags. Read-through
// writes refuse it in the flags they are given, as they refuse StaleFlag
// (SHMLRU_RESURRECT_FLAG_BIT in shmlru.h).
const ResurrectFlag = 1 << 29

// staleWindowMask is the part of a StaleFlag entry's flags that is the
// window.
const staleWindowMask = ResurrectFlag - 1

// maxStaleWindow is the longest StaleTTL the flags can hold.
const maxStaleWindow = staleWindowMask * time.Millisecond

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
	l, err := c.look(dst, key, o.Tracked, false)
	switch {
	case errors.Is(err, ErrNotInStep):
		return c.loadUncached(ctx, dst, key, load)
	case err != nil && !errors.Is(err, ErrNotFound):
		return dst, 0, err
	case l.State == LookFresh:
		return l.Value, SourceHit, nil
	case l.State == LookAbsent:
		return dst, SourceHit, ErrNotFound
	case l.State == LookSoftStale:
		c.refresh(ctx, key, load, o)
		return l.Value, SourceStale, nil
	case l.State == LookResurrected && l.Meta.Type == TypeNone:
		return dst, SourceResurrected, ErrNotFound
	case l.State == LookResurrected:
		return l.Value, SourceResurrected, nil
	}
	var stale []byte // an expired value, for ResurrectTTL
	if l.State == LookExpired {
		stale = l.Value[len(dst):]
		o.staleAbsent = l.Meta.Type == TypeNone
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

// Check reports what Load would refuse in o, as Load's error.
func (o LoadOptions) Check() error { return o.check() }

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

// LookState is what a read-through's look at a key found.
type LookState uint8

// States of a look.
const (
	LookMiss      LookState = iota // nothing
	LookFresh                      // a live value
	LookAbsent                     // a live cached absence
	LookSoftStale                  // a value past its fresh time, within its stale window
	LookExpired                    // a value past its deadline, not yet removed
	// LookResurrected is a live value or absence (Meta.Type TypeNone)
	// that a failed load resurrected (ResurrectFlag): served as
	// LookFresh or LookAbsent is, but reported as SourceResurrected.
	LookResurrected
)

// Look is what a read-through's look at a key found.
type Look struct {
	// Value is dst with the value appended, but for LookMiss, LookAbsent
	// and a resurrected absence (dst).
	Value []byte
	// Meta is the entry's (Meta.Size is the room a Fit read needed).
	Meta  Meta
	State LookState
	// FreshUntil is when a LookFresh value or a LookAbsent stops being
	// fresh, in Unix ms (0: never): a value with a stale window is fresh
	// until its window begins.
	FreshUntil int64
}

// look reads key as GetOrLoad sees it (see the top of this file); a
// tracked look sees only tracked entries, and fails with ErrNotInStep.
// fit reads into dst's spare room only (ReadOptions.Fit).
func (c *Cache) look(dst, key []byte, tracked, fit bool) (Look, error) {
	v, m, stale, err := c.Read(dst, key, ReadOptions{Stale: !tracked, Absent: true, Tracked: tracked, Fit: fit})
	l := Look{Value: dst, Meta: m}
	switch {
	case err != nil:
		return l, err
	case stale:
		// An expired absence is resurrectable as a value is
		// (lua-resty-mlcache resurrects its cached nils).
		l.Value, l.State = v, LookExpired
		return l, nil
	case m.Type == TypeNone:
		l.State, l.FreshUntil = LookAbsent, m.Expires
		if resurrected(m, tracked) {
			l.State = LookResurrected
		}
		return l, nil
	}
	l.Value, l.State, l.FreshUntil = v, LookFresh, m.Expires
	if resurrected(m, tracked) {
		l.State = LookResurrected
	}
	if m.Flags&StaleFlag != 0 && m.Expires != 0 {
		l.FreshUntil = m.Expires - int64(m.Flags&staleWindowMask)
		if nowMillis() >= l.FreshUntil {
			l.State = LookSoftStale
		}
	}
	return l, nil
}

// resurrected says whether an entry a look found live was resurrected. A
// tracked entry's flags are its generation, which has no such mark.
func resurrected(m Meta, tracked bool) bool {
	return !tracked && m.Flags&ResurrectFlag != 0
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
	// stored is what the load wrote (for ReadThrough's callers, which
	// keep copies of their own).
	stored stored
	// endErr is the error of ending the load (finishLoad).
	endErr error
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
		l, err := c.look(nil, key, o.Tracked, false)
		switch {
		case err != nil && !errors.Is(err, ErrNotFound):
			return loadResult{err: err}
		case l.State == LookFresh || l.State == LookSoftStale:
			src := SourceHit
			if waited {
				src = SourceWaited
			}
			return loadResult{v: l.Value, src: src}
		case l.State == LookAbsent:
			return loadResult{src: SourceWaited, err: ErrNotFound}
		case l.State == LookResurrected && l.Meta.Type == TypeNone:
			return loadResult{src: SourceResurrected, err: ErrNotFound}
		case l.State == LookResurrected:
			return loadResult{v: l.Value, src: SourceResurrected}
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
// once more, load, write, end the load (prepareLoad, then finishLoad, the
// steps bindings in other languages take through ReadThrough). The load
// ends whatever happens, a panic of the loader included (as abandoned, and
// the panic goes on).
func (c *Cache) runLoader(ctx context.Context, t *LoadTicket, key []byte, load Loader, o LoadOptions, stale []byte) loadResult {
	defer func() {
		if t.State == LoadMine {
			c.lt.End(t, LoadAbandoned, "")
		}
	}()
	l, fill, err := c.prepareLoad(t, nil, key, o, false)
	switch {
	case err != nil:
		return loadResult{err: err}
	case l.State == LookFresh:
		return loadResult{v: l.Value, src: SourceWaited}
	case l.State == LookAbsent:
		return loadResult{src: SourceWaited, err: ErrNotFound}
	case l.State == LookResurrected && l.Meta.Type == TypeNone:
		return loadResult{src: SourceResurrected, err: ErrNotFound}
	case l.State == LookResurrected:
		return loadResult{v: l.Value, src: SourceResurrected}
	}
	if o.Tracked {
		o.fill = &fill
	}
	v, lerr := load(ctx, key)
	ld := Loaded{Outcome: LoadedValue, Value: v, Type: o.Type, Err: lerr}
	switch {
	case lerr == nil:
	case errors.Is(lerr, ErrNotFound):
		ld.Outcome = LoadedAbsent
	case ctx.Err() != nil && errors.Is(lerr, ctx.Err()):
		ld.Outcome = LoadedGaveUp
	default:
		ld.Outcome, ld.Value, ld.Resurrect = LoadedFailed, stale, stale != nil || o.staleAbsent
		if o.staleAbsent {
			ld.Type, ld.Value = TypeNone, nil
		}
	}
	res := c.finishLoad(t, key, o, ld)
	if res.endErr != nil {
		return loadResult{err: res.endErr}
	}
	return res
}

// prepareLoad is what the loader of a claimed load does before it loads:
// it looks once more, as a load that ended just before this one was
// claimed wrote its value (a LookFresh, LookAbsent or LookResurrected
// answer ends the load as done), and a tracked load takes its fill ticket before the loader
// reads the store. Out of step, or should the ticket fail, the load is
// abandoned (its waiters find no value and load for themselves) and the
// error returned. With fit, a look whose value does not fit dst returns
// ErrBufferTooSmall and does nothing else, as does a dst that faults
// (ErrFault).
func (c *Cache) prepareLoad(t *LoadTicket, dst, key []byte, o LoadOptions, fit bool) (Look, FillTicket, error) {
	var g FillTicket
	l, err := c.look(dst, key, o.Tracked, fit)
	if errors.Is(err, ErrBufferTooSmall) || errors.Is(err, ErrFault) {
		// dst cannot take the value (a binding's buffer too small, or
		// over memory that faults): the caller's mistake, which must
		// neither end its load nor read as a miss to load.
		return l, g, err
	}
	if err == nil && (l.State == LookFresh || l.State == LookAbsent || l.State == LookResurrected) {
		return l, g, c.endLoad(t, LoadDone, "")
	}
	if o.Tracked {
		if g, err = c.tr.BeginFill(key); err != nil {
			c.endLoad(t, LoadAbandoned, "")
			return Look{Value: dst}, g, err
		}
	}
	return l, g, nil
}

// LoadedOutcome says how a loader ended, for finishLoad.
type LoadedOutcome uint8

// How a loader ended.
const (
	LoadedValue    LoadedOutcome = iota + 1 // it returned a value, to cache
	LoadedAbsent                            // the key has no value (ErrNotFound)
	LoadedFailed                            // it failed
	LoadedGaveUp                            // its caller went away: a waiter loads
	LoadedUncached                          // it returned a value its caller keeps to itself
)

// Loaded is what a loader returned.
type Loaded struct {
	Outcome LoadedOutcome
	// Value is the value (LoadedValue, LoadedUncached), or for
	// LoadedFailed with Resurrect the expired value to serve instead (of
	// Type TypeNone: an expired absence, resurrected as an absence).
	Value     []byte
	Resurrect bool
	Type      Type   // Value's type
	Flags     uint32 // Value's user flags (a stale window needs none)
	Err       error  // LoadedFailed's error
}

// finishLoad is what the loader of a load does after it loaded: it writes
// what the loader returned as the options say, and ends the load with the
// outcome its waiters act on. t nil writes outside any load.
func (c *Cache) finishLoad(t *LoadTicket, key []byte, o LoadOptions, ld Loaded) loadResult {
	// Ended only once decided: a panic (a fault in a binding's argument)
	// ends nothing here, and the caller's ticket stays its own.
	res, outcome, msg := c.decideLoad(t, key, o, ld)
	if t != nil {
		res.endErr = c.endLoad(t, outcome, msg)
	}
	return res
}

// decideLoad writes what the loader returned and says how its load ends.
func (c *Cache) decideLoad(t *LoadTicket, key []byte, o LoadOptions, ld Loaded) (res loadResult, outcome LoadState, msg string) {
	outcome = LoadDone
	switch ld.Outcome {
	case LoadedValue:
		st, err := c.storeLoaded(t, key, ld.Value, o.TTL, o, ld.Type, ld.Flags)
		res = loadResult{v: ld.Value, src: SourceLoaded}
		switch {
		case errors.Is(err, ErrLoadLost):
			// Taken over while it loaded (its lease ran out): the new
			// loader writes the key, and its waiters hear from it. This
			// caller still gets what it loaded, which is what the
			// source said during its call.
		case err != nil:
			// The caller has its value; the waiters learn why it was not
			// kept.
			outcome, msg = LoadFailed, "loaded value not cached: "+err.Error()
		default:
			res.stored, res.refused, res.fill = st, st.refused, o.fill
		}
		return res, outcome, msg
	case LoadedAbsent:
		res = loadResult{src: SourceLoaded, err: ErrNotFound, fill: o.fill}
		switch {
		case o.Tracked && (o.NegativeTTL > 0 || o.keepAbsent) && o.fill != nil:
			stored, _ := c.tr.StoreFill(key, nil, true, WriteOptions{TTL: o.NegativeTTL}, *o.fill)
			res.refused = !stored
		case o.Tracked:
		case o.NegativeTTL > 0 || o.keepAbsent:
			// If it cannot be kept, the waiters still learn the answer,
			// and the caller may keep its own copy as long (if the load
			// was taken over, they hear from the new loader, whose
			// answer this must not replace, and the caller keeps none).
			st, err := c.storeLoaded(t, key, nil, o.NegativeTTL, o, TypeNone, 0)
			switch {
			case err == nil:
				res.stored = st
			case !errors.Is(err, ErrLoadLost):
				res.stored = stored{kept: true, freshUntil: freshUntil(o.NegativeTTL)}
			}
		}
		// A tracked load ends done: its waiters look at the region rather
		// than take "absent" from the table, as an invalidation may have
		// come after the store (or refused it), and a waiter that began
		// after it must see what the region says now. They find the
		// absence, or load.
		if !o.Tracked {
			outcome = LoadAbsent
		}
		return res, outcome, msg
	case LoadedGaveUp:
		return loadResult{err: ld.Err}, LoadAbandoned, ""
	case LoadedUncached:
		return loadResult{v: ld.Value, src: SourceLoaded}, LoadDone, ""
	case LoadedFailed:
		if o.ResurrectTTL > 0 && ld.Resurrect {
			// Taken over (ErrLoadLost), the stale value is not written
			// over the new loader's, but still answers this caller.
			st, err := c.storeLoaded(t, key, ld.Value, o.ResurrectTTL, o, ld.Type, ld.Flags|ResurrectFlag)
			if err == nil || errors.Is(err, ErrLoadLost) {
				res := loadResult{v: ld.Value, src: SourceResurrected, stored: st}
				if ld.Type == TypeNone {
					res.v, res.err = nil, ErrNotFound // an absence, resurrected
				}
				return res, LoadDone, ""
			}
		}
		m := "<nil>"
		if ld.Err != nil {
			m = ld.Err.Error()
		}
		return loadResult{src: SourceLoaded, err: &LoadError{Msg: m, Err: ld.Err}}, LoadFailed, m
	}
	return loadResult{err: fmt.Errorf("%w: Loaded.Outcome %d", ErrBadOptions, ld.Outcome)}, LoadAbandoned, ""
}

// endLoad ends the caller's load. A load taken over meanwhile is no error:
// what the caller wrote was refused once it was, and the new loader's
// outcome is what waiters see.
func (c *Cache) endLoad(t *LoadTicket, outcome LoadState, msg string) error {
	if err := c.lt.End(t, outcome, msg); err != nil && !errors.Is(err, ErrLoadLost) {
		return err
	}
	return nil
}

// stored says what storeLoaded wrote.
type stored struct {
	kept       bool   // the entry is in the region, with this version
	refused    bool   // a tracked fill the key's guard refused
	version    uint64 // the entry's
	freshUntil int64  // Unix ms until which it is fresh (0: never expires)
}

// freshUntil is when a value written now for ttl stops being fresh (0:
// never).
func freshUntil(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return nowMillis() + ttl.Milliseconds()
}

// storeLoaded writes a value loaded (or resurrected) by the load of t
// (nil: outside any load), fresh for ttl, of type typ (TypeNone: an
// absence) with the stale window if the options have one, unless the load
// was taken over meanwhile (ErrLoadLost, see Loads.Write). A tracked
// load's store may be refused (the key changed while it loaded): no error,
// the waiters find no value and load again. A tracked store needs no check
// of the load: its fill ticket refuses it if the key changed in the store since
// it read it, and otherwise it writes what the store still says.
func (c *Cache) storeLoaded(t *LoadTicket, key, v []byte, ttl time.Duration, o LoadOptions, typ Type, flags uint32) (stored, error) {
	w := WriteOptions{TTL: ttl, Type: typ, Flags: flags}
	if o.fill != nil {
		ok, err := c.tr.StoreFill(key, v, false, w, *o.fill)
		return stored{refused: err == nil && !ok}, err
	}
	fresh := freshUntil(ttl)
	if o.StaleTTL > 0 && ttl > 0 && typ != TypeNone {
		if flags&^ResurrectFlag != 0 {
			return stored{}, fmt.Errorf("%w: a value with user flags cannot have a stale window", ErrBadOptions)
		}
		w.TTL += o.StaleTTL
		w.Flags = StaleFlag | flags | uint32(o.StaleTTL.Milliseconds())
	}
	var r WriteResult
	var err error
	if t == nil {
		r, err = c.Write(key, v, w)
	} else {
		r, err = c.lt.Write(t, key, v, w)
	}
	if err != nil {
		return stored{}, err
	}
	return stored{kept: true, version: r.Version, freshUntil: fresh}, nil
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

// ReadThrough is GetOrLoad's rules for a binding in another language,
// whose callers claim, wait on and end loads themselves (Loads.Begin,
// Loads.Wait) and run their loaders in their own language: it classifies
// what a key holds (Look), takes a claimed load up to its loader (Prepare)
// and writes and ends what the loader returned (Finish), exactly as Load
// does for Go's callers. The C ABI's shmlru_load_look, _prepare and
// _finish are these calls.
type ReadThrough struct {
	c *Cache
	o LoadOptions
}

// ReadThrough returns the cache's read-through with the options o, checked
// as Load checks them. o.Type is a default: each loaded value gives its
// own type. keepAbsent remembers an absence without expiry when
// o.NegativeTTL is 0 (lua-resty-mlcache's neg_ttl 0), where Load would
// remember nothing.
func (l *Loads) ReadThrough(o LoadOptions, keepAbsent bool) (ReadThrough, error) {
	if err := o.check(); err != nil {
		return ReadThrough{}, err
	}
	o.keepAbsent = keepAbsent
	o.fill = nil
	return ReadThrough{c: l.c, o: o}, nil
}

// Look reads key as Load does before it loads, into dst's spare room
// (ErrBufferTooSmall, with Meta.Size, if it does not fit). A tracked
// read-through's look fails with ErrNotInStep while the cache is not in
// step with its store: the caller runs its loader and caches nothing.
// ErrNotFound is LookMiss, no error.
func (r ReadThrough) Look(dst, key []byte) (Look, error) {
	l, err := r.c.look(dst, key, r.o.Tracked, true)
	if errors.Is(err, ErrNotFound) {
		return l, nil
	}
	return l, err
}

// Prepare is the first step of the loader of t, a load the caller has
// claimed (LoadMine): a Look (into dst, as Look) that finds LookFresh or
// LookAbsent has ended the load (done), and is the answer (SourceWaited);
// as does LookResurrected, whose answer is SourceResurrected.
// Otherwise the caller runs its loader and calls Finish; a tracked load
// has its fill ticket, for Finish. ErrNotInStep (or another error of
// the ticket's) has abandoned the load: the caller runs its loader and
// caches nothing. ErrBufferTooSmall has done nothing: call again with more
// room; nor has ErrFault (dst over memory that cannot be written).
func (r ReadThrough) Prepare(t *LoadTicket, dst, key []byte) (Look, FillTicket, error) {
	if t == nil || t.State != LoadMine {
		return Look{Value: dst}, FillTicket{}, fmt.Errorf("%w: Prepare needs a claimed load", ErrBadTicket)
	}
	if hashKey(key) != t.Hash {
		// Its look would end the caller's load with another key's answer.
		return Look{Value: dst}, FillTicket{}, fmt.Errorf("%w: the ticket is for another key", ErrBadTicket)
	}
	return r.c.prepareLoad(t, dst, key, r.o, true)
}

// Answer is what the caller of a read-through gets once its loader ran.
type Answer struct {
	Value  []byte
	Source Source
	// Err is ErrNotFound for an absence, a *LoadError for a loader's
	// failure, nil with a value.
	Err error
	// Kept: the answer is an entry of the cache with this Version, fresh
	// until FreshUntil (Unix ms, 0: never), which a caller may copy.
	Kept       bool
	Version    uint64
	FreshUntil int64
}

// Finish is the last step of the loader of t: it writes what the loader
// returned (ld) as Load would, and ends the load with the outcome its
// waiters act on. g is Prepare's fill ticket (tracked loads only). t nil writes
// ld (LoadedValue or LoadedAbsent) outside any load, with the same rules.
// ErrBadTicket (a ticket of another key) and ErrBadOptions (a bad type,
// StaleFlag in the flags, a tracked load without its own FillTicket) have
// done nothing: the load is still the caller's. Any other error is the
// ending's: the answer stands either way.
func (r ReadThrough) Finish(t *LoadTicket, key []byte, g FillTicket, ld Loaded) (Answer, error) {
	o := r.o
	if t != nil && t.State != LoadMine {
		return Answer{}, fmt.Errorf("%w: Finish needs a claimed load", ErrBadTicket)
	}
	if t != nil && hashKey(key) != t.Hash {
		// Checked before anything is written: the load would end with
		// another key's answer (an absence, a failure) for its waiters.
		return Answer{}, fmt.Errorf("%w: the ticket is for another key", ErrBadTicket)
	}
	if t == nil && ld.Outcome != LoadedValue && ld.Outcome != LoadedAbsent {
		return Answer{}, fmt.Errorf("%w: Finish outside a load writes a value or an absence", ErrBadOptions)
	}
	if o.Tracked {
		if t == nil {
			return Answer{}, fmt.Errorf("%w: a tracked value is written by its load", ErrBadOptions)
		}
		if ld.Outcome == LoadedValue || ld.Outcome == LoadedAbsent {
			// Checked before anything is written: a store the ticket
			// refuses would end the load as failed for its waiters.
			if err := r.c.tr.checkTicket(key, g); err != nil {
				return Answer{}, err
			}
		}
		o.fill = &g
	}
	if ld.Flags&StaleFlag != 0 {
		// The read-through's own mark (storeLoaded sets it from
		// StaleTTL): a value given it would be read with a stale
		// window the options never had.
		return Answer{}, fmt.Errorf("%w: Loaded.Flags %#x has StaleFlag", ErrBadOptions, ld.Flags)
	}
	if ld.Flags&ResurrectFlag != 0 {
		// Likewise finishLoad's mark of a resurrected value: a value
		// given it would read as resurrected.
		return Answer{}, fmt.Errorf("%w: Loaded.Flags %#x has ResurrectFlag", ErrBadOptions, ld.Flags)
	}
	resurrect := ld.Outcome == LoadedFailed && ld.Resurrect
	if ld.Type >= numTypes || (ld.Type == TypeNone && !resurrect) || ld.Type == TypeList {
		if ld.Outcome == LoadedValue || resurrect {
			return Answer{}, fmt.Errorf("%w: Loaded.Type %v", ErrBadOptions, ld.Type)
		}
	}
	res := r.c.finishLoad(t, key, o, ld)
	a := Answer{Value: res.v, Source: res.src, Err: res.err}
	if res.stored.kept {
		a.Kept, a.Version, a.FreshUntil = true, res.stored.version, res.stored.freshUntil
	}
	return a, res.endErr
}
