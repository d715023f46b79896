// Command shmlru-demo is `make demo`: several Go processes share one cache
// under /dev/shm, some writing and some reading, and each prints what it saw.
// Further stages (other files of this package) show the same cache from
// other clients; the region is removed at the end.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// A stage runs after the Go processes, on the same cache, in order.
type stage struct {
	order int
	name  string
	run   func(path string) error
}

var stages []stage

func register(order int, name string, run func(path string) error) {
	stages = append(stages, stage{order, name, run})
}

func main() {
	role := flag.String("role", "", "internal: run as a child process (writer or reader)")
	path := flag.String("path", "", "internal: the region's path")
	id := flag.Int("id", 0, "internal: child number")
	flag.Parse()
	if *role != "" {
		if err := child(*role, *path, *id); err != nil {
			fmt.Fprintf(os.Stderr, "%s %d: %v\n", *role, *id, err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	path := shm.Path(fmt.Sprintf("shmlru-demo-%d", os.Getpid()))
	c, err := lru.Open(path, &lru.Options{Size: 16 << 20, Mode: 0o600})
	if err != nil {
		return err
	}
	defer shm.Remove(path)
	defer c.Close()
	g := c.Geometry()
	fmt.Printf("cache %s: %d MiB, %d shards, %d KiB of entry storage each, max value %d bytes\n\n", path, g.Size>>20, g.Shards, g.HeapPerShard>>10, g.MaxValue)

	if err := goProcesses(path, c); err != nil {
		return err
	}
	sort.SliceStable(stages, func(i, j int) bool { return stages[i].order < stages[j].order })
	for _, s := range stages {
		fmt.Printf("\n== %s\n", s.name)
		if err := s.run(path); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fmt.Printf("\nremoving %s\n", path)
	return nil
}
