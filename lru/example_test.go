package lru_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// dir stands in for /dev/shm in the examples, so they leave nothing behind.
func exampleDir() string {
	d, _ := os.MkdirTemp("", "shmlru-example")
	return d
}

func Example() {
	dir := exampleDir()
	defer os.RemoveAll(dir)

	// Every process that opens the same path shares the cache. (A name
	// without a slash, like "myapp", is a file under /dev/shm.)
	c, err := lru.Open(filepath.Join(dir, "myapp"), &lru.Options{Size: 16 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	c.Set([]byte("user:42"), []byte(`{"name":"Ada"}`), time.Minute)
	v, err := c.Get([]byte("user:42"))
	fmt.Printf("%s %v\n", v, err)

	_, err = c.Get([]byte("user:43"))
	fmt.Println(errors.Is(err, lru.ErrNotFound))
	// Output:
	// {"name":"Ada"} <nil>
	// true
}

func ExampleCache_GetInto() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), nil)
	defer c.Close()

	c.Write([]byte("k"), []byte("value"), lru.WriteOptions{Flags: 7})
	buf := make([]byte, 0, 1024) // reused across calls: no allocation
	buf, meta, err := c.GetInto(buf[:0], []byte("k"))
	fmt.Println(string(buf), meta.Flags, meta.Type, err)
	// Output: value 7 bytes <nil>
}

func ExampleCache_IncrInit() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), nil)
	defer c.Close()

	// A counter shared by every process: created at 0 on first use, with a
	// one-hour window.
	for i := 0; i < 3; i++ {
		n, _, _ := c.IncrInit([]byte("requests"), 1, 0, time.Hour)
		fmt.Println(n)
	}
	// Output:
	// 1
	// 2
	// 3
}

func ExampleCache_CompareAndSwap() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), nil)
	defer c.Close()

	c.Set([]byte("config"), []byte("v1"), 0)
	_, meta, _ := c.GetInto(nil, []byte("config"))
	// Only one of two writers that read the same version wins.
	_, err1 := c.CompareAndSwap([]byte("config"), meta.Version, []byte("v2"), 0)
	_, err2 := c.CompareAndSwap([]byte("config"), meta.Version, []byte("v3"), 0)
	v, _ := c.Get([]byte("config"))
	fmt.Println(err1, errors.Is(err2, lru.ErrVersionMismatch), string(v))
	// Output: <nil> true v2
}

func ExampleCache_Add() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), nil)
	defer c.Close()

	// Add as a cross-process lock with a lease: only the first caller gets it.
	fmt.Println(c.Add([]byte("lock:job"), []byte("worker-1"), 30*time.Second))
	fmt.Println(c.Add([]byte("lock:job"), []byte("worker-2"), 30*time.Second))
	// Output:
	// <nil>
	// lru: exists
}

func ExampleCache_Stats() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), &lru.Options{Size: 4 << 20})
	defer c.Close()

	c.Set([]byte("a"), []byte("1"), 0)
	c.Get([]byte("a"))
	c.Get([]byte("b"))
	st, _ := c.Stats()
	fmt.Printf("entries %d, hits %d, misses %d, ratio %.2f\n", st.Entries, st.Hits, st.Misses, st.HitRatio())
	// Output: entries 1, hits 1, misses 1, ratio 0.50
}

func ExampleCache_LPush() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), nil)
	defer c.Close()

	c.RPush([]byte("jobs"), []byte("first"), lru.TypeBytes)
	c.RPush([]byte("jobs"), []byte("second"), lru.TypeBytes)
	job, _, _ := c.LPop(nil, []byte("jobs"))
	n, _ := c.LLen([]byte("jobs"))
	fmt.Println(string(job), n)
	// Output: first 1
}

func ExampleCache_GetOrLoad() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), nil)
	defer c.Close()

	// The loader runs once per missing key among every process on the
	// host that has the cache open; the others wait for its value.
	load := func(ctx context.Context, key []byte) ([]byte, error) {
		if string(key) == "user:0" {
			return nil, lru.ErrNotFound // remembered for NegativeTTL
		}
		return []byte("row of " + string(key)), nil
	}
	o := lru.LoadOptions{TTL: time.Minute, NegativeTTL: 10 * time.Second}
	ctx := context.Background()

	v, src, err := c.Load(ctx, nil, []byte("user:42"), load, o)
	fmt.Printf("%s %v %v\n", v, src, err)
	v, src, err = c.Load(ctx, nil, []byte("user:42"), load, o)
	fmt.Printf("%s %v %v\n", v, src, err)
	_, err = c.GetOrLoad(ctx, []byte("user:0"), load, o)
	fmt.Println(errors.Is(err, lru.ErrNotFound))
	// Output:
	// row of user:42 loaded <nil>
	// row of user:42 hit <nil>
	// true
}

func ExampleLoads() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	c, _ := lru.Open(filepath.Join(dir, "c"), nil)
	defer c.Close()

	// The steps under GetOrLoad, as C and Lua take them.
	l := c.Loads()
	key := []byte("k")
	t, _ := l.Begin(key, 30*time.Second)
	for t.State == lru.LoadWaiting {
		l.Wait(&t, 10*time.Millisecond, 30*time.Second) // an event loop polls with 0
	}
	if t.State == lru.LoadMine {
		l.Write(&t, key, []byte("loaded"), lru.WriteOptions{TTL: time.Minute}) // load, write ...
		l.End(&t, lru.LoadDone, "")                                            // ... and wake every waiter
	}
	v, _ := c.Get(key)
	fmt.Printf("%s %v\n", v, t.State)
	// Output: loaded done
}
