package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
)

// Multi-process runs re-execute this binary with -child. A child builds the
// same trace as the parent (same spec and seed), opens its peer (the
// parent's shmlru region, or a client of the parent's server), prints
// "ready", then answers each "run <ns>" line on stdin with one JSON Sample
// on stdout, until "quit" or end of input. The children of the hot-key
// section (-c.peer hot, hot.go) speak the same protocol over a key list
// instead of a trace; those of the read-through section (-c.peer load) and
// of the near-cache section (-c.peer near, rueidis) speak protocols of
// their own (loadchild.go, nearchild.go).

var (
	cPeer   = flag.String("c.peer", "", "internal: child's peer (shmlru, redis, memcached)")
	cTarget = flag.String("c.target", "", "internal: child's region path or server address")
	cSpec   = flag.String("c.spec", "", "internal: child's workload spec, JSON")
	cLen    = flag.Int("c.len", 0, "internal: trace length")
	cSeed   = flag.Uint64("c.seed", 0, "internal: trace seed")
	cOff    = flag.Int("c.off", 0, "internal: start offset in the trace")
	cProf   = flag.String("c.cpuprofile", "", "internal: write the child's CPU profile here")
)

// flagChildProf makes every child of the scaling runs write a CPU profile.
var flagChildProf = flag.String("childprof", "", "directory for CPU profiles of the child processes (scaling section)")

func childMain() {
	switch *cPeer {
	case loadPeer:
		loadChildMain()
		return
	case nearShmlru, nearRueidis:
		nearChildMain()
		return
	case hotPeer:
		hotChildMain()
		return
	}
	var spec workload.Spec
	check(json.Unmarshal([]byte(*cSpec), &spec))
	tr := workload.NewTrace(spec, *cLen, *cSeed)
	var c peers.Cache
	run := func(n int) (int, int) { return 0, 0 }
	switch *cPeer {
	case "control":
		run = spin
	case "shmlru":
		s, err := peers.OpenShmlru(*cTarget, &lru.Options{NoCreate: true}, false)
		check(err)
		c = s
	case "redis":
		c = peers.NewRedis(*cTarget)
	case "memcached":
		c = peers.NewMemcached(*cTarget)
	default:
		check(fmt.Errorf("child: unknown peer %q", *cPeer))
	}
	if c != nil {
		defer c.Close()
		m := &mixer{c: c, tr: tr, val: workload.Value(spec.Size.Value), buf: make([]byte, 0, spec.Size.Value), pos: *cOff % tr.Len()}
		run = m.run
	}
	if *cProf != "" {
		f, err := os.Create(*cProf)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	serveRuns(run)
}

// serveRuns prints "ready", then answers each "run <ns>" line on stdin
// with the JSON Sample of run timed for that long, until "quit" or end of
// input.
func serveRuns(run func(n int) (int, int)) {
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 || f[0] == "quit" {
			return
		}
		if f[0] == "run" && len(f) == 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			s := runFor(time.Duration(ns), run)
			b, _ := json.Marshal(s)
			out.Write(b)
			out.WriteByte('\n')
			out.Flush()
		}
	}
}

// child is the parent's handle on one child process.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// spawn starts a child and waits for its "ready".
func (e *env) spawn(peer, target string, spec workload.Spec, traceLen int, seed uint64, off int, prof string) *child {
	sb, _ := json.Marshal(spec)
	return e.spawnChild(peer, "-c.peer", peer, "-c.target", target, "-c.spec", string(sb),
		"-c.len", strconv.Itoa(traceLen), "-c.seed", strconv.FormatUint(seed, 10), "-c.off", strconv.Itoa(off), "-c.cpuprofile", prof)
}

// spawnChild re-executes this binary with -child and args, and waits for
// the child's "ready".
func (e *env) spawnChild(peer string, args ...string) *child {
	exe, err := os.Executable()
	check(err)
	cmd := exec.Command(exe, append([]string{"-child"}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	check(err)
	outp, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	k := &child{cmd: cmd, in: in, out: bufio.NewReader(outp)}
	e.kids = append(e.kids, k)
	line, err := k.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		check(fmt.Errorf("child %s: %q, %v", peer, line, err))
	}
	return k
}

func (k *child) start(d time.Duration) {
	fmt.Fprintf(k.in, "run %d\n", int64(d))
}

func (k *child) result() Sample {
	line, err := k.out.ReadString('\n')
	check(err)
	var s Sample
	check(json.Unmarshal([]byte(line), &s))
	return s
}

func (k *child) quit() {
	fmt.Fprintln(k.in, "quit")
	k.in.Close()
	done := make(chan struct{})
	go func() { k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		k.kill()
	}
}

func (k *child) kill() {
	if k.cmd.ProcessState == nil && k.cmd.Process != nil {
		k.cmd.Process.Kill()
		k.cmd.Wait()
	}
}

// runKids runs all children for d at once and sums their throughput.
func runKids(kids []*child, d time.Duration) Sample {
	for _, k := range kids {
		k.start(d)
	}
	ss := make([]Sample, len(kids))
	for i, k := range kids {
		ss[i] = k.result()
	}
	return aggregate(ss)
}

// aggregate sums parallel runs: throughput adds up; NsPerOp is the
// aggregate's wall time per operation (1e9 / total ops per second).
func aggregate(ss []Sample) Sample {
	var a Sample
	var thr float64
	for _, s := range ss {
		a.Ops += s.Ops
		a.Gets += s.Gets
		a.Hits += s.Hits
		a.Mallocs += s.Mallocs
		thr += s.OpsPerSec()
	}
	if thr > 0 {
		a.Ns = int64(float64(a.Ops) / thr * 1e9)
		a.NsPerOp = 1e9 / thr
	}
	return a
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
