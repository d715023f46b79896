package near

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// The chaos run: two hosts (two processes, two regions, two agents), each
// with writers and readers over one key space, while the test kills the
// agents' connections now and then. Each key has one writer in the whole
// run, so its values (a sequence number) reach Redis in order, and every
// read can be judged:
//
//   - a read that began at least MaxLag after a write of its key had
//     returned, on any host, saw that write or a later one (the bound);
//   - a read on the writer's host that began after the write returned saw
//     it or a later one (read your writes);
//   - one reader never sees a key go back to an older value;
//   - at the end, every host's cached copies equal Redis's values.
//
// Times are lru.TrackClock's (the host's CLOCK_MONOTONIC), the same clock
// in both processes.

type chaosEvent struct {
	host       int
	write      bool
	reader     int
	key        int
	seq        int
	start, end int64
}

func TestChaos(t *testing.T) {
	r := startRedis(t)
	rc := direct(t, r.Addr())
	const (
		keys    = 64
		writers = 2
		readers = 4
		runMs   = 4000
	)
	lag := 200 * time.Millisecond
	var hosts []*host
	for h := range 2 {
		hosts = append(hosts, startHost(t, "host", regionPath(t, fmt.Sprint("host", h)), lag, r.Addr()))
	}
	for _, h := range hosts {
		c, err := lru.Open(h.cache, &lru.Options{NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		inStep(t, c)
		c.Close()
	}
	for h, hh := range hosts {
		fmt.Fprintf(hh.in, "chaos %d %d %d %d %d\n", h, keys, writers, readers, runMs)
	}
	// Kill both agents' connections (and every other client's) a few times
	// during the run.
	kills := 0
	end := time.Now().Add(runMs * time.Millisecond)
	for time.Now().Add(time.Second).Before(end) {
		time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond) // chaos timing, not synchronisation
		if n, _ := do(t, rc, "CLIENT", "KILL", "USER", "default", "SKIPME", "yes").AsInt64(); n > 0 {
			kills++
		}
	}
	var events []chaosEvent
	for h, hh := range hosts {
		for {
			line := hh.line(t)
			if line == "done" {
				break
			}
			if strings.HasPrefix(line, "err ") {
				t.Fatalf("host %d: %s", h, line)
			}
			f := strings.Fields(line)
			n := make([]int64, len(f)-1)
			for i := range n {
				n[i], _ = strconv.ParseInt(f[i+1], 10, 64)
			}
			e := chaosEvent{host: h, key: int(n[0]), seq: int(n[1]), start: n[2], end: n[3]}
			if f[0] == "w" {
				e.write = true
			} else {
				e.reader = int(n[4])
			}
			events = append(events, e)
		}
	}
	// Per key: its writes in order.
	writes := map[int][]chaosEvent{}
	reads := 0
	for _, e := range events {
		if e.write {
			writes[e.key] = append(writes[e.key], e)
		} else {
			reads++
		}
	}
	// latest returns the highest seq of key's writes that returned before
	// at, on host (or any host if host < 0).
	latest := func(key int, at int64, host int) int {
		best := 0
		for _, w := range writes[key] {
			if w.end < at && (host < 0 || w.host == host) && w.seq > best {
				best = w.seq
			}
		}
		return best
	}
	type rk struct{ host, reader, key int }
	last := map[rk]chaosEvent{}
	stale := 0
	for _, e := range events {
		if e.write {
			continue
		}
		if want := latest(e.key, e.start-int64(lag), -1); e.seq < want {
			stale++
			t.Errorf("host %d read key %d = %d, but %d was written more than MaxLag before the read began", e.host, e.key, e.seq, want)
		}
		if want := latest(e.key, e.start, e.host); e.seq < want {
			stale++
			t.Errorf("host %d read key %d = %d after writing %d itself", e.host, e.key, e.seq, want)
		}
		k := rk{e.host, e.reader, e.key}
		if p, ok := last[k]; ok && p.end < e.start && e.seq < p.seq {
			stale++
			t.Errorf("host %d reader %d: key %d went back from %d to %d", e.host, e.reader, e.key, p.seq, e.seq)
		}
		last[k] = e
		if stale > 20 {
			t.Fatal("too many stale reads")
		}
	}
	nw := 0
	for _, ws := range writes {
		nw += len(ws)
	}
	if reads < 1000 || nw < 100 {
		t.Fatalf("the run did too little to judge: %d reads, %d writes", reads, nw)
	}
	// Quiet now: once both agents are in step, every cached copy is Redis's.
	for h, hh := range hosts {
		c, err := lru.Open(hh.cache, &lru.Options{NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		inStep(t, c)
		for k := range keys {
			key := fmt.Sprint("chaos:", k)
			want, err := do(t, rc, "GET", key).ToString()
			if err != nil && !strings.Contains(err.Error(), "nil") {
				t.Fatal(err)
			}
			v, m, err := c.Tracker().Get(nil, []byte(key))
			if err == nil && m.Type != lru.TypeNone && string(v) != want {
				t.Errorf("host %d caches %s = %q, Redis has %q", h, key, v, want)
			}
		}
		s, _ := c.Tracker().State()
		t.Logf("host %d: %+v", h, s.Counters)
		c.Close()
	}
	t.Logf("chaos: %d reads, %d writes, %d connection kills, %d stale reads", reads, nw, kills, stale)
}

// chaosChild runs one host's side of TestChaos and prints its events:
//
//	w KEY SEQ START END
//	r KEY SEQ START END READER
//	done
func chaosChild(c *Client, args []string) {
	n := make([]int, len(args))
	for i, a := range args {
		n[i], _ = strconv.Atoi(a)
	}
	hostIdx, keys, writers, readers, runMs := n[0], n[1], n[2], n[3], n[4]
	deadline := time.Now().Add(time.Duration(runMs) * time.Millisecond)
	var mu sync.Mutex
	var out []string
	record := func(s string) {
		mu.Lock()
		out = append(out, s)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range writers {
		var own []int
		for k := range keys {
			if k%2 == hostIdx && (k/2)%writers == w {
				own = append(own, k)
			}
		}
		seq := make(map[int]int)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				k := own[rand.IntN(len(own))]
				seq[k]++
				start := lru.TrackClock()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := c.Set(ctx, fmt.Sprint("chaos:", k), []byte(strconv.Itoa(seq[k])), 0)
				cancel()
				if err != nil {
					// The connection was killed under it; the write may or
					// may not have landed, so this key's order is unknown
					// from here: retire it.
					own = removeKey(own, k)
					if len(own) == 0 {
						return
					}
					continue
				}
				record(fmt.Sprintf("w %d %d %d %d", k, seq[k], start, lru.TrackClock()))
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				k := rand.IntN(keys)
				start := lru.TrackClock()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				v, err := c.Get(ctx, fmt.Sprint("chaos:", k))
				cancel()
				s := 0
				switch {
				case errors.Is(err, Nil):
				case err != nil:
					continue // a killed connection: no answer, nothing to judge
				default:
					s, _ = strconv.Atoi(string(v))
				}
				record(fmt.Sprintf("r %d %d %d %d %d", k, s, start, lru.TrackClock(), r))
			}
		})
	}
	wg.Wait()
	w := os.Stdout
	for _, l := range out {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "done")
}

func removeKey(ks []int, k int) []int {
	out := ks[:0]
	for _, x := range ks {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}
