package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/shmlru/shmlru/bench/internal/workload"
)

// Profile is a CPU profile of one loop, summarised by `go tool pprof -top`.
type Profile struct {
	Name string `json:"name"`
	File string `json:"file"`
	Top  string `json:"top"`
}

// runProfiles profiles shmlru's and freecache's get and set loops at
// 16 B/32 B, the loops behind the Go goals, and keeps the profiles in
// out/profiles/ for `go tool pprof`.
func runProfiles(e *env, cfg Config, out0 string) []Profile {
	out := out0
	dir := filepath.Join(out, "profiles")
	os.MkdirAll(dir, 0o755)
	sz := workload.Sizes[0]
	C := capacityFor(sz)
	val := workload.Value(sz.Value)
	hot := workload.HotKeySet(sz.Key, C)
	hitKeys := shuffled(hot, 1)
	d := 3 * time.Second
	if cfg.Quick {
		d = time.Second
	}
	var res []Profile
	exe, _ := os.Executable()
	top := func(name, file string) {
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=22", exe, file).CombinedOutput()
		if err != nil {
			out = append(out, []byte("\n(go tool pprof failed: "+err.Error()+")")...)
		}
		rel, _ := filepath.Rel(out0, file)
		res = append(res, Profile{Name: name, File: rel, Top: trimTop(string(out))})
		logf("profile %s written", file)
	}
	for _, def := range []peerDef{allPeers()[0], allPeers()[2]} {
		c := def.Open(e, sz, C)
		prefill(c, def.Kind, hot, val)
		for _, op := range []string{"get", "set"} {
			name := strings.ReplaceAll(def.Name, " ", "") + "-" + op
			file := filepath.Join(dir, name+".pprof")
			f, err := os.Create(file)
			check(err)
			runtime.GC()
			check(pprof.StartCPUProfile(f))
			if op == "get" {
				runFor(d, loopGet(c, &cursor{keys: hitKeys}, make([]byte, 0, 64)))
			} else {
				runFor(d, loopSet(c, &cursor{keys: hitKeys}, val))
			}
			pprof.StopCPUProfile()
			f.Close()
			top(def.Name+" "+op+" (16B/32B, hits)", file)
		}
		c.Close()
	}

	// shmlru's get with 4 KiB values: a chain of blocks at the default size.
	{
		sz := workload.Sizes[2]
		C := capacityFor(sz)
		hot := workload.HotKeySet(sz.Key, C)
		def := allPeerDefs()[0]
		c := def.Open(e, sz, C)
		prefill(c, def.Kind, hot, workload.Value(sz.Value))
		file := filepath.Join(dir, "shmlru-get-4k.pprof")
		f, err := os.Create(file)
		check(err)
		runtime.GC()
		check(pprof.StartCPUProfile(f))
		runFor(d, loopGet(c, &cursor{keys: shuffled(hot, 1)}, make([]byte, 0, sz.Value)))
		pprof.StopCPUProfile()
		f.Close()
		c.Close()
		top("shmlru get (64B/4KiB, hits)", file)
	}

	// shmlru in one and in two processes: the scaling goal's workload, each
	// child profiling itself.
	{
		spec := scaleSpecs()[1]
		tr := workload.NewTrace(spec, traceLen(spec), 42)
		def := allPeerDefs()[0]
		caches, _ := workloadSetup(e, spec, tr, []peerDef{def})
		for _, n := range []int{1, 2} {
			p := e.parallel(def, caches[0], spec, tr, n, dir)
			s := p.run(d)
			p.close()
			top(fmt.Sprintf("shmlru, %d process(es), child 0 (%s; %s in all)", n, spec.Name(), fmtOps(s.OpsPerSec())), filepath.Join(dir, childProfName("shmlru", spec, n, 0)))
		}
		caches[0].Close()
	}
	return res
}

// trimTop drops pprof's preamble lines that name local paths.
func trimTop(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Type:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}
