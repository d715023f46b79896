package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"

	"github.com/shmlru/shmlru/lru"
)

// The children of the read-through section (load.go, -child load). Each
// opens the parent's region and answers the parent's lines:
//
//	arm <mode> <key> <loader ns>  start G goroutines that will each ask
//	                              for key, held at a gate; reply "armed"
//	go                            open the gate; once every goroutine has
//	                              its value, reply with one loadReport (JSON)
//	victim <key>                  GetOrLoad key with a loader that replies
//	                              "loading" and never returns (the parent
//	                              SIGKILLs this process mid-load)
//
// Modes: loadShmlru asks with GetOrLoad; loadSingleflight with the
// cache-aside that users write today (GetInto, and on a miss a per-process
// singleflight.Group around load-and-Set). The loader sleeps for the loader
// time (the database) and counts its calls.

// loadArg is a read-through child's argument: the region, and callers
// (goroutines) per process.
type loadArg struct {
	Region string `json:"region"`
	G      int    `json:"g"`
}

// The modes of a stampede, as the arm line names them.
const (
	loadShmlru       = "shmlru"
	loadSingleflight = "singleflight"
)

// loadTTL is the TTL of every loaded value: far longer than a round.
const loadTTL = time.Minute

// loadReport is one child's account of one round. Times are
// CLOCK_MONOTONIC nanoseconds (monoNow), which every process of the host
// reads alike, so the parent can set them against its own.
type loadReport struct {
	Calls      int   `json:"calls"`       // loader calls in this process
	FirstCall  int64 `json:"first_call"`  // when the first of them began; 0 if none
	FirstStart int64 `json:"first_start"` // when the first caller asked
	LastStart  int64 `json:"last_start"`  // when the last caller asked
	FirstDone  int64 `json:"first_done"`  // when the first caller had its value
	LastDone   int64 `json:"last_done"`   // when the last caller had its value
	failures         // callers that got an error or a wrong value
}

// monoNow is CLOCK_MONOTONIC in nanoseconds. Go's own monotonic readings
// count from the process's start, so they cannot be compared between
// processes; this can.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// loadValue is the value the loader returns for key: 64 bytes made of it,
// so that a caller can tell its key's value from another's.
func loadValue(key []byte) []byte {
	v := make([]byte, 64)
	for i := range v {
		v[i] = key[i%len(key)]
	}
	return v
}

// loadCounter counts one round's loader calls in this process.
type loadCounter struct {
	calls atomic.Int64
	first atomic.Int64
}

// loader returns the round's loader: it counts the call, sleeps d (the
// database), and returns key's value.
func (lc *loadCounter) loader(d time.Duration) lru.Loader {
	return func(ctx context.Context, key []byte) ([]byte, error) {
		lc.first.CompareAndSwap(0, monoNow())
		lc.calls.Add(1)
		if d > 0 {
			time.Sleep(d)
		}
		return loadValue(key), nil
	}
}

// armed is a round whose goroutines wait at the gate.
type armed struct {
	gate  chan struct{}
	wg    sync.WaitGroup
	lc    *loadCounter
	start []int64
	done  []int64
	errs  []error
}

func loadChildMain(arg []byte) {
	var a loadArg
	check(jsonArg(arg, &a))
	c, err := lru.Open(a.Region, &lru.Options{NoCreate: true})
	check(err)
	defer c.Close()
	var sf singleflight.Group // this process's, for every round
	var cur *armed
	serve(func(f []string) {
		switch {
		case f[0] == "arm" && len(f) == 4:
			ns, err := strconv.ParseInt(f[3], 10, 64)
			check(err)
			cur = arm(c, &sf, f[1], []byte(f[2]), time.Duration(ns), a.G)
			reply("armed")
		case f[0] == "go" && cur != nil:
			close(cur.gate)
			cur.wg.Wait()
			reply(cur.report())
			cur = nil
		case f[0] == "victim" && len(f) == 2:
			hang := func(ctx context.Context, key []byte) ([]byte, error) {
				reply("loading")
				time.Sleep(time.Hour) // until the parent's SIGKILL
				return nil, errors.New("the victim's loader was not killed")
			}
			c.GetOrLoad(context.Background(), []byte(f[1]), hang, lru.LoadOptions{TTL: loadTTL})
			check(errors.New("child: the victim's load returned"))
		default:
			check(fmt.Errorf("child: unexpected line %q", f))
		}
	})
}

// arm starts g goroutines that ask for key in mode once the gate opens.
func arm(c *lru.Cache, sf *singleflight.Group, mode string, key []byte, loadTime time.Duration, g int) *armed {
	a := &armed{gate: make(chan struct{}), lc: &loadCounter{}, start: make([]int64, g), done: make([]int64, g), errs: make([]error, g)}
	load := a.lc.loader(loadTime)
	var get func() ([]byte, error)
	switch mode {
	case loadShmlru:
		get = func() ([]byte, error) {
			return c.GetOrLoad(context.Background(), key, load, lru.LoadOptions{TTL: loadTTL})
		}
	case loadSingleflight:
		get = func() ([]byte, error) { return cacheAside(c, sf, key, load) }
	default:
		check(fmt.Errorf("child: unknown mode %q", mode))
	}
	want := loadValue(key)
	for i := 0; i < g; i++ {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			<-a.gate
			a.start[i] = monoNow()
			v, err := get()
			a.done[i] = monoNow()
			if err == nil && !bytes.Equal(v, want) {
				err = fmt.Errorf("got %q, want %q", v, want)
			}
			a.errs[i] = err
		}()
	}
	return a
}

// cacheAside is what a service does today to have one load per process:
// read the cache; on a miss, one goroutine of the process (singleflight)
// reads it once more (another process may have stored it meanwhile),
// loads, and stores the value, and the others share its answer.
func cacheAside(c *lru.Cache, sf *singleflight.Group, key []byte, load lru.Loader) ([]byte, error) {
	v, _, err := c.GetInto(nil, key)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, lru.ErrNotFound) {
		return nil, err
	}
	r, err, _ := sf.Do(string(key), func() (any, error) {
		if v, _, err := c.GetInto(nil, key); err == nil {
			return v, nil
		}
		v, err := load(context.Background(), key)
		if err != nil {
			return nil, err
		}
		return v, c.Set(key, v, loadTTL)
	})
	if err != nil {
		return nil, err
	}
	return r.([]byte), nil
}

func (a *armed) report() loadReport {
	r := loadReport{Calls: int(a.lc.calls.Load()), FirstCall: a.lc.first.Load()}
	for i := range a.start {
		if r.FirstStart == 0 || a.start[i] < r.FirstStart {
			r.FirstStart = a.start[i]
		}
		r.LastStart = max(r.LastStart, a.start[i])
		if r.FirstDone == 0 || a.done[i] < r.FirstDone {
			r.FirstDone = a.done[i]
		}
		r.LastDone = max(r.LastDone, a.done[i])
		if a.errs[i] != nil {
			r.fail(a.errs[i])
		}
	}
	return r
}
