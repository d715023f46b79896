package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
)

// loopArg is a loop child's argument: it opens its peer (the parent's
// shmlru region, or a client of the parent's server; none for the
// "control" peer, which spins) and loops Op on it: "get" or "set" on Keys
// keys of Spec's size, or "mix", the same trace as the parent (same
// spec, length and seed) replayed from Off.
type loopArg struct {
	Peer   string        `json:"peer"`   // shmlru, redis, memcached or control
	Target string        `json:"target"` // region path or server address
	Op     string        `json:"op"`     // get, set or mix
	Keys   int           `json:"keys,omitempty"`
	Spec   workload.Spec `json:"spec"`
	Len    int           `json:"len,omitempty"`
	Seed   uint64        `json:"seed,omitempty"`
	Off    int           `json:"off,omitempty"`
	Prof   string        `json:"prof,omitempty"` // write a CPU profile here
}

// loopChildMain is a child of the mixed, scaling and hot-key sections
// (loopArg).
func loopChildMain(arg []byte) {
	var a loopArg
	check(jsonArg(arg, &a))
	var c peers.Cache
	switch a.Peer {
	case "control":
	case "shmlru":
		s, err := peers.OpenShmlru(a.Target, &lru.Options{NoCreate: true}, false)
		check(err)
		c = s
	case "redis":
		c = peers.NewRedis(a.Target)
	case "memcached":
		c = peers.NewMemcached(a.Target)
	default:
		check(fmt.Errorf("child: unknown peer %q", a.Peer))
	}
	run := spin
	if c != nil {
		defer c.Close()
		sz := a.Spec.Size
		keys := func() *cursor { return &cursor{keys: workload.KeySet(sz.Key, a.Keys, 0)} }
		switch a.Op {
		case "get":
			run = loopGet(c, keys(), make([]byte, 0, sz.Value))
		case "set":
			run = loopSet(c, keys(), workload.Value(sz.Value))
		case "mix":
			tr := workload.NewTrace(a.Spec, a.Len, a.Seed)
			m := &mixer{c: c, tr: tr, val: workload.Value(sz.Value), buf: make([]byte, 0, sz.Value), pos: a.Off % tr.Len()}
			run = m.run
		default:
			check(fmt.Errorf("child: unknown operation %q", a.Op))
		}
	}
	if a.Prof != "" {
		f, err := os.Create(a.Prof)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	serveRuns(run)
}

// spinSink keeps spin's work observable.
var spinSink uint64

// spin is the control: CPU-bound work touching no shared memory, about as
// long per "operation" as a cache request. Its N-process throughput is the
// machine's own ceiling for scaling at the time of the run.
func spin(n int) (int, int) {
	x := spinSink | 1
	for i := 0; i < n*100; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink = x
	return 0, 0
}
