package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// A C read-through loader killed with SIGKILL (held between prepare and
// finish, or at a random instant of a loop of whole loads, finish
// included): a waiter in another process gets the load well before the
// lease runs out, as its loader is gone, and the key holds either nothing
// or a whole value.
func TestReadThroughLoaderKilled(t *testing.T) {
	bin := buildC(t, "test/review_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 4 << 20})
	key := []byte("rt-kill")
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 40; round++ {
		hold := "0"
		if round%4 == 0 {
			hold = "1"
		}
		d := startDriver(t, bin, "rtloop", path, string(key), hold)
		expect := func(want string) {
			if l := d.Line(); l != want {
				t.Fatalf("round %d: driver said %q, want %q", round, l, want)
			}
		}
		expect("running")
		if hold == "1" {
			expect("prepared")
		} else {
			// Not a wait for an event: where in the loop the kill lands.
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		d.Kill()

		start := time.Now()
		tk, err := c.Loads().Begin(key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if tk.State == lru.LoadWaiting {
			if _, err := c.Loads().Wait(&tk, 20*time.Second, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if tk.State == lru.LoadWaiting {
			t.Fatalf("round %d: still waiting on a dead loader after %v", round, time.Since(start))
		}
		if hold == "1" && tk.State != lru.LoadMine {
			t.Fatalf("round %d: the held load of a dead loader: %v, want it taken over", round, tk.State)
		}
		if tk.State == lru.LoadMine {
			if err := c.Loads().End(&tk, lru.LoadAbandoned, ""); err != nil {
				t.Fatal(err)
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("round %d: the waiter took %v (the lease, not the loader's death)", round, time.Since(start))
		}
		v, err := c.Get(key)
		switch {
		case err == nil:
			if len(v) != 4000 || len(bytes.Trim(v, string(v[:1]))) != 0 {
				t.Fatalf("round %d: a torn value of %d bytes: %q...", round, len(v), v[:min(len(v), 40)])
			}
		case !errors.Is(err, lru.ErrNotFound):
			t.Fatalf("round %d: %v", round, err)
		}
		// A lock the loader died holding is taken over by the next
		// locker: a write, then nothing may be left to find.
		if err := c.Set(key, []byte("after"), 0); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, c)
		// The next round starts with no value: "after" is this test's,
		// and a loader that finds it fresh loads nothing.
		if _, err := c.Delete(key); err != nil {
			t.Fatal(err)
		}
	}
}
