package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
)

// peerDef opens one peer sized for capacity entries of size sz.
type peerDef struct {
	Name string
	Kind peers.Kind
	Open func(e *env, sz workload.Size, capacity int) peers.Cache
}

// shmlruDef is shmlru at default options, sized for capacity entries (see
// peers.ShmlruOptions).
var shmlruDef = peerDef{Name: "shmlru", Kind: peers.SharedMemory, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
	c, err := peers.OpenShmlru(e.shmPath("shmlru"), peers.ShmlruOptions(capacity, sz.Key, sz.Value), true)
	check(err)
	return c
}}

// freecacheDef is coocood/freecache, sized for capacity entries.
var freecacheDef = peerDef{Name: "freecache", Kind: peers.InProcess, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
	return peers.NewFreecache(peers.FreecacheBytes(capacity, sz.Key, sz.Value))
}}

// allPeers are the peers that -peers names (all by default).
func allPeers() []peerDef {
	names := strings.Split(*flagPeers, ",")
	return slices.DeleteFunc(allPeerDefs(), func(d peerDef) bool {
		return *flagPeers != "" && !slices.Contains(names, d.Name)
	})
}

func allPeerDefs() []peerDef {
	return []peerDef{
		shmlruDef,
		freecacheDef,
		{Name: "golang-lru", Kind: peers.InProcess, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			return peers.NewExactLRU(capacity)
		}},
		{Name: "map+mutex", Kind: peers.InProcess, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			return peers.NewMapMutex(capacity)
		}},
		{Name: "redis", Kind: peers.Server, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			addr, _ := e.servers()
			r := peers.NewRedis(addr)
			r.Flush()
			// About capacity entries: redis' own overhead is ~80 bytes an entry.
			r.C.ConfigSet(context.Background(), "maxmemory", fmt.Sprint(int64(capacity)*int64(sz.Key+sz.Value+96)*5/4+4<<20))
			return r
		}},
		{Name: "memcached", Kind: peers.Server, Open: func(e *env, sz workload.Size, capacity int) peers.Cache {
			_, addr := e.servers()
			m := peers.NewMemcached(addr)
			m.Flush()
			return m
		}},
	}
}

// prefill stores keys in c; servers are filled over several connections.
func prefill(c peers.Cache, kind peers.Kind, keys [][]byte, val []byte) {
	if r, ok := c.(*peers.Redis); ok {
		r.SetMany(keys, val)
		return
	}
	if kind != peers.Server {
		for _, k := range keys {
			c.Set(k, val)
		}
		return
	}
	const par = 8
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Go(func() {
			for i := w; i < len(keys); i += par {
				c.Set(keys[i], val)
			}
		})
	}
	wg.Wait()
}

// shuffled is a copy of keys in an order drawn from seed.
func shuffled(keys [][]byte, seed uint64) [][]byte {
	c := append([][]byte(nil), keys...)
	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c
}
