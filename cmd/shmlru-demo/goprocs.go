package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/shmlru/shmlru/lru"
)

const (
	writers  = 2
	readers  = 2
	demoKeys = 2000
	demoOps  = 20000
)

// goProcesses starts the writer and reader processes and waits for them.
func goProcesses(path string, c *lru.Cache) error {
	fmt.Printf("== %d writer and %d reader Go processes share the cache\n", writers, readers)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := 0; i < writers+readers; i++ {
		role := "writer"
		if i >= writers {
			role = "reader"
		}
		cmd := exec.Command(self, "-role", role, "-path", path, "-id", strconv.Itoa(i))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("child %d: %w", i, err)
		}
		fmt.Print(outs[i].String())
	}
	total, err := c.Get([]byte("demo:ops"))
	if err != nil {
		return err
	}
	n, _ := lru.DecodeNumber(total)
	st, err := c.Stats()
	if err != nil {
		return err
	}
	fmt.Printf("shared counter demo:ops = %.0f (every process incremented it; %d expected)\n", n, (writers+readers)*demoOps)
	fmt.Printf("cache: %d entries, %d hits, %d misses (hit ratio %.2f), %d sets, %d evictions\n",
		st.Entries, st.Hits, st.Misses, st.HitRatio(), st.Sets, st.Evictions)
	return nil
}

// child is one writer or reader process.
func child(role, path string, id int) error {
	c, err := lru.Open(path, &lru.Options{NoCreate: true})
	if err != nil {
		return err
	}
	defer c.Close()
	me := fmt.Sprintf("pid %d", os.Getpid())
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	var hits, misses, fromOthers, sets int
	var sample string
	buf := make([]byte, 0, 256)
	for op := 0; op < demoOps; op++ {
		key := []byte(fmt.Sprintf("user:%d", rng.IntN(demoKeys)))
		if role == "writer" && op%2 == 0 {
			val := fmt.Sprintf("written by writer %d (%s)", id, me)
			if err := c.Set(key, []byte(val), time.Minute); err != nil {
				return err
			}
			sets++
		} else {
			v, _, err := c.GetInto(buf[:0], key)
			switch {
			case err == lru.ErrNotFound:
				misses++
			case err != nil:
				return err
			default:
				hits++
				if !strings.Contains(string(v), me) {
					fromOthers++
					sample = fmt.Sprintf("%s = %q", key, v)
				}
			}
		}
		if _, _, err := c.IncrInit([]byte("demo:ops"), 1, 0, 0); err != nil {
			return err
		}
	}
	fmt.Printf("%s %d (%s): %d sets, %d hits, %d misses, %d values written by another process\n", role, id, me, sets, hits, misses, fromOthers)
	if sample != "" {
		fmt.Printf("    e.g. %s\n", sample)
	}
	return nil
}
