package lru

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func init() {
	childRoles["counter"] = counterChild
	childRoles["verify"] = verifyChild
	childRoles["visibility"] = visibilityChild
}

const counterOps = 3000

// counterChild increments shared counters: one with Incr, one with a
// CompareAndSwap loop, and its own share of per-key counters.
func counterChild(c *Cache, arg string) error {
	for i := 0; i < counterOps; i++ {
		if _, _, err := c.IncrInit([]byte("incr"), 1, 0, 0); err != nil {
			return err
		}
		if _, _, err := c.IncrInit([]byte(fmt.Sprint("k", i%17)), 1, 0, 0); err != nil {
			return err
		}
		for { // CAS increment of a bytes value holding a decimal number
			v, m, err := c.GetInto(nil, []byte("cas"))
			if err != nil {
				return err
			}
			n, _ := strconv.Atoi(string(v))
			_, err = c.CompareAndSwap([]byte("cas"), m.Version, []byte(strconv.Itoa(n+1)), 0)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrVersionMismatch) {
				return err
			}
		}
	}
	return nil
}

func TestMultiProcessCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 4})
	c.Set([]byte("cas"), []byte("0"), 0)
	const n = 4
	var kids []*child
	for i := 0; i < n; i++ {
		kids = append(kids, startChild(t, "counter", path, ""))
	}
	for _, k := range kids {
		k.wait(t)
	}
	if v, _ := c.Get([]byte("incr")); num(v) != n*counterOps {
		t.Fatalf("Incr total %v, want %d", num(v), n*counterOps)
	}
	if v, _ := c.Get([]byte("cas")); string(v) != strconv.Itoa(n*counterOps) {
		t.Fatalf("CAS total %s, want %d", v, n*counterOps)
	}
	sum := 0.0
	for i := 0; i < 17; i++ {
		v, _ := c.Get([]byte(fmt.Sprint("k", i)))
		sum += num(v)
	}
	if sum != n*counterOps {
		t.Fatalf("per-key totals sum to %v, want %d", sum, n*counterOps)
	}
	mustCheck(t, c)
}

func num(b []byte) float64 { f, _ := DecodeNumber(b); return f }

func openAt(t testing.TB, path string, o *Options) *Cache {
	t.Helper()
	c, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// verifyChild writes and reads self-verifying values under a small key set
// until its stdin closes or it has done the number of operations in arg
// (0 = unbounded). Every read is verified. Every 256 operations it prints
// "progress N MAXNS", MAXNS being the longest any operation took so far in
// nanoseconds, and at the end "done READS".
func verifyChild(c *Cache, arg string) error {
	arg, readOnly := strings.CutSuffix(arg, ":ro") // only reads: never takes a lock unless a read must
	limit, _ := strconv.Atoi(arg)
	stop := make(chan struct{})
	go func() { // the parent closes stdin to stop us
		var b [1]byte
		os.Stdin.Read(b[:])
		close(stop)
	}()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	buf := make([]byte, 0, 8192)
	reads := 0
	var worst time.Duration
	for op := 1; limit == 0 || op <= limit; op++ {
		select {
		case <-stop:
			fmt.Printf("done %d\n", reads)
			return nil
		default:
		}
		key := []byte(fmt.Sprint("v", rng.IntN(400)))
		start := time.Now()
		r := rng.IntN(10)
		if readOnly {
			r = 9
		}
		switch {
		case r < 4:
			payload := make([]byte, rng.IntN(3000))
			for i := range payload {
				payload[i] = byte(rng.Uint32())
			}
			if err := c.Set(key, makeValue(key, payload), 0); err != nil {
				return err
			}
		case r < 5:
			if _, err := c.Delete(key); err != nil {
				return err
			}
		default:
			v, _, err := c.GetInto(buf[:0], key)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err == nil {
				if err := verifyValue(key, v); err != nil {
					return err
				}
				reads++
			}
		}
		worst = max(worst, time.Since(start))
		if op%256 == 0 {
			fmt.Printf("progress %d %d\n", op, worst)
		}
	}
	fmt.Printf("done %d\n", reads)
	return nil
}

func TestMultiProcessValuesNeverTorn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	// Small enough that the writers evict each other's entries all the time.
	c := openAt(t, path, &Options{Size: 512 << 10, Shards: 2})
	var kids []*child
	for i := 0; i < 4; i++ {
		kids = append(kids, startChild(t, "verify", path, "20000"))
	}
	for _, k := range kids {
		k.wait(t)
	}
	st, _ := c.Stats()
	if st.Evictions == 0 || st.Hits == 0 {
		t.Fatalf("too little contention to mean anything: %+v", st.Counters)
	}
	mustCheck(t, c)
}

// visibilityChild reads what the parent wrote and writes an answer.
func visibilityChild(c *Cache, arg string) error {
	v, m, err := c.GetInto(nil, []byte("from-parent"))
	if err != nil {
		return err
	}
	fmt.Printf("%s %d\n", v, m.Flags)
	_, err = c.Write([]byte("from-child"), EncodeNumber(float64(os.Getpid())), WriteOptions{Type: TypeNumber, Flags: 9})
	return err
}

func TestMultiProcessVisibility(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, nil)
	c.Write([]byte("from-parent"), []byte("hello"), WriteOptions{Flags: 5})
	k := startChild(t, "visibility", path, "")
	if got := k.line(); got != "hello 5" {
		t.Fatalf("child read %q", got)
	}
	k.wait(t)
	v, m, err := c.GetInto(nil, []byte("from-child"))
	if err != nil || num(v) != float64(k.cmd.Process.Pid) || m.Type != TypeNumber || m.Flags != 9 {
		t.Fatalf("parent read %v %+v %v", num(v), m, err)
	}
}
