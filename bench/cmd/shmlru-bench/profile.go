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

// runProfiles profiles shmlru's get and set loops at every size and
// freecache's at 16 B/32 B, the loops of the ops section, and keeps the
// profiles in out/profiles/ for `go tool pprof`.
func runProfiles(e *env, cfg Config, out0 string) []Profile {
	out := out0
	dir := filepath.Join(out, "profiles")
	os.MkdirAll(dir, 0o755)
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
	// File name suffixes by size: the 16 B/32 B files keep their old names.
	suffix := []string{"", "-512", "-4k"}
	for _, def := range []peerDef{shmlruDef, freecacheDef} {
		for si, sz := range workload.Sizes {
			if def.Name != shmlruDef.Name && si > 0 {
				continue
			}
			C := capacityFor(sz)
			val := workload.Value(sz.Value)
			hot := workload.KeySet(sz.Key, C, 0)
			hitKeys := shuffled(hot, 1)
			c := openForOps(e, def, sz, C)
			prefill(c, def.Kind, hot, val)
			for _, op := range []string{"get", "set"} {
				file := filepath.Join(dir, def.Name+"-"+op+suffix[si]+".pprof")
				f, err := os.Create(file)
				check(err)
				runtime.GC()
				check(pprof.StartCPUProfile(f))
				if op == "get" {
					runFor(d, loopGet(c, &cursor{keys: hitKeys}, make([]byte, 0, sz.Value)))
				} else {
					runFor(d, loopSet(c, &cursor{keys: hitKeys}, val))
				}
				pprof.StopCPUProfile()
				f.Close()
				top(fmt.Sprintf("%s %s (%s, hits)", def.Name, op, sz), file)
			}
			c.Close()
		}
	}

	// shmlru in one and in two processes: the scaling section's Zipf workload, each
	// child profiling itself.
	{
		spec := scaleSpecs()[1]
		tr := workload.NewTrace(spec, traceLen(spec), 42)
		def := shmlruDef
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
