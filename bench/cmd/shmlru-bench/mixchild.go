package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
)

// mixArg is a mix child's argument: it builds the same trace as the
// parent (same spec and seed), opens its peer (the parent's shmlru
// region, or a client of the parent's server) and replays the trace from
// Off; peer "control" spins instead.
type mixArg struct {
	Peer   string        `json:"peer"`   // shmlru, redis, memcached or control
	Target string        `json:"target"` // region path or server address
	Spec   workload.Spec `json:"spec"`
	Len    int           `json:"len"`
	Seed   uint64        `json:"seed"`
	Off    int           `json:"off"`
	Prof   string        `json:"prof,omitempty"` // write a CPU profile here
}

func mixChildMain(arg []byte) {
	var a mixArg
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
		tr := workload.NewTrace(a.Spec, a.Len, a.Seed)
		m := &mixer{c: c, tr: tr, val: workload.Value(a.Spec.Size.Value), buf: make([]byte, 0, a.Spec.Size.Value), pos: a.Off % tr.Len()}
		run = m.run
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
