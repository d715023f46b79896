package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/lru"
)

func init() {
	register(20, "nginx workers share the cache", nginxWorkers)
}

// nginxWorkers starts nginx with two workers that open the cache through
// resty.shmlru, has each read what the Go processes wrote and write values
// that Go then reads, and stops nginx.
func nginxWorkers(path string) error {
	if _, err := ngxrun.FindNginx(); err != nil {
		fmt.Printf("skipped: %v\n", err)
		return nil
	}
	c, err := lru.Open(path, &lru.Options{NoCreate: true})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Set([]byte("demo:greeting"), []byte(fmt.Sprintf("hello from Go pid %d", os.Getpid())), 0); err != nil {
		return err
	}

	s, err := ngxrun.Start(ngxrun.Config{Workers: 2, Region: path})
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Printf("nginx master pid %d, 2 workers, %s\n", s.MasterPID(), s.URL)

	// Each worker reads what Go wrote: ask until both have answered.
	for _, key := range []string{"demo:greeting", "demo:ops"} {
		seen := map[int]string{}
		for i := 0; i < 500 && len(seen) < 2; i++ {
			a, err := s.Get("/get?k=" + key)
			if err != nil {
				return err
			}
			seen[ngxrun.WorkerOf(a)] = a
		}
		for _, pid := range sortedPids(seen) {
			f := strings.SplitN(seen[pid], " ", 4) // pid type flags value
			fmt.Printf("  worker %d: cache:get(%q) -> %s (a Lua %s)\n", pid, key, f[3], f[1])
		}
	}

	// The workers write; Go reads, types included.
	if _, err := s.Get("/set?k=demo:from-lua&t=string&v=written+by+an+nginx+worker"); err != nil {
		return err
	}
	if _, err := s.Get("/set?k=demo:lua-number&t=number&v=3.5&f=7"); err != nil {
		return err
	}
	counts := map[int]int{}
	for i := 0; i < 20; i++ {
		a, err := s.Get("/incr?k=demo:nginx-requests")
		if err != nil {
			return err
		}
		counts[ngxrun.WorkerOf(a)]++
	}
	if err := s.Stop(); err != nil {
		return err
	}
	fmt.Printf("  20 requests incremented demo:nginx-requests (by worker: %v); nginx stopped\n", counts)

	v, err := c.Get([]byte("demo:from-lua"))
	if err != nil {
		return err
	}
	fmt.Printf("Go reads demo:from-lua = %q\n", v)
	b, m, err := c.GetInto(nil, []byte("demo:lua-number"))
	if err != nil {
		return err
	}
	n, _ := lru.DecodeNumber(b)
	fmt.Printf("Go reads demo:lua-number = %v (type %s, flags %d)\n", n, m.Type, m.Flags)
	b, err = c.Get([]byte("demo:nginx-requests"))
	if err != nil {
		return err
	}
	n, _ = lru.DecodeNumber(b)
	fmt.Printf("Go reads demo:nginx-requests = %v\n", n)
	return nil
}

func sortedPids(m map[int]string) []int {
	var out []int
	for p := range m {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}
