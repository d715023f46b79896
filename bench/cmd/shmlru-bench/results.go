package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Results is what one section of a run measured: the run's header and
// that section's field. Each section is written to -out on its own, as
// <section>.json and <section>.md (its tables); bench/cmd/shmlru-charts
// draws from the JSON files, and people copy the tables they discuss into
// RESULTS.md.
type Results struct {
	Date    string `json:"date"`
	Command string `json:"command"`
	// Layout is lru.LayoutVersion when the figures were measured.
	Layout      int             `json:"layout,omitempty"`
	Machine     Machine         `json:"machine"`
	Quick       bool            `json:"quick"`
	Dur         string          `json:"dur"`
	Reps        int             `json:"reps"`
	Elapsed     string          `json:"elapsed"`
	Ops         []OpResult      `json:"ops,omitempty"`
	Mixed       []MixedResult   `json:"mixed,omitempty"`
	Scaling     []ScaleResult   `json:"scaling,omitempty"`
	Density     []DensityResult `json:"density,omitempty"`
	HitRatio    []HitResult     `json:"hit_ratio,omitempty"`
	HitSize     int64           `json:"hit_size,omitempty"`
	Lua         []LuaResult     `json:"lua,omitempty"`
	LuaNote     string          `json:"lua_note,omitempty"`
	Mlcache     []LuaResult     `json:"mlcache,omitempty"`
	MlcacheNote string          `json:"mlcache_note,omitempty"`
	Profiles    []Profile       `json:"profiles,omitempty"`
	Load        *LoadSection    `json:"load,omitempty"`
	Near        *NearSection    `json:"near,omitempty"`
	Hot         *HotSection     `json:"hot,omitempty"`
}

// section is one step of a run, as -only names it: what it measures into
// a Results, and its tables.
type section struct {
	name, title string
	alone       bool // run only when -only names it
	run         func(e *env, cfg Config, r *Results)
	tables      func(r *Results) []table
}

// sections are the steps of a run, in order.
var sections = []section{
	{"ops", "Go: single operations", false, func(e *env, cfg Config, r *Results) { r.Ops = runOps(e, cfg) }, opsTables},
	{"mixed", "Go: mixed workloads, one and two processes", false, func(e *env, cfg Config, r *Results) { r.Mixed = runMixed(e, cfg) }, mixedTables},
	{"scale", "Throughput scaling, 1 to N workers", false, func(e *env, cfg Config, r *Results) { r.Scaling = runScaling(e, cfg) }, scaleTables},
	{"density", "Entries a 64 MiB cache holds", false, func(e *env, cfg Config, r *Results) { r.Density = runDensity(e, cfg) }, densityTables},
	{"hitratio", "Hit ratio against an exact LRU", false, func(e *env, cfg Config, r *Results) { r.HitRatio, r.HitSize = runHitRatio(cfg), cfg.HitSize }, hitTables},
	{"lua", "LuaJIT in an nginx worker", false, func(e *env, cfg Config, r *Results) { r.Lua, r.LuaNote = runLua(e, cfg) }, luaTables},
	{"mlcache", "mlcache's L1 and L2 hits in an nginx worker", false, func(e *env, cfg Config, r *Results) { r.Mlcache, r.MlcacheNote = runMlcache(e, cfg) }, mlcacheTables},
	{"profile", "CPU profiles", false, func(e *env, cfg Config, r *Results) { r.Profiles = runProfiles(e, cfg, *flagOut) }, profileTables},
	{"load", "Read-through: a stampede of processes on a cold key", false, func(e *env, cfg Config, r *Results) { r.Load = runLoad(e, cfg) }, loadTables},
	{"near", "Near cache in front of Redis", false, func(e *env, cfg Config, r *Results) { r.Near = runNear(e, cfg) }, nearTables},
	{"hot", "Hot keys shared by N processes", true, func(e *env, cfg Config, r *Results) { r.Hot = runHot(e, cfg, r) }, hotTables},
}

// sectionNamed is the section called name.
func sectionNamed(name string) (section, bool) {
	return find(sections, func(s section) bool { return s.name == name })
}

// header is the line under a section's title: which run measured the
// figures, where, and how each cell was taken.
func (r *Results) header() string {
	m := r.Machine
	h := fmt.Sprintf("Measured by `%s` on %s", r.Command, r.Date)
	if r.Layout > 0 {
		h += fmt.Sprintf(", layout %d", r.Layout)
	}
	h += fmt.Sprintf(", in %s: %s, %d cores, %s, %s; %s; %s; %s; %s.", r.Elapsed, m.CPU, m.Cores, m.Kernel, m.OS, m.Go, m.Redis, m.Memcached, m.Nginx)
	h += fmt.Sprintf(" Timed cells are the median of %d runs of %s (-reps, -dur); ratios are peer ÷ shmlru.", r.Reps, r.Dur)
	if r.Quick {
		h += " A quick run (-quick): fewer sizes, workloads and rounds."
	}
	return h
}

// writeSection writes s's <name>.json and <name>.md of r to dir.
func writeSection(r *Results, dir string, s section) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, s.name+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "## %s\n\n%s\n\n", s.title, r.header())
	for _, t := range s.tables(r) {
		t.write(&md)
	}
	return os.WriteFile(filepath.Join(dir, s.name+".md"), []byte(md.String()), 0o644)
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"`
	Go        string `json:"go"`
	Redis     string `json:"redis"`
	Memcached string `json:"memcached"`
	Nginx     string `json:"nginx"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "not installed"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	m.Kernel = run("uname", "-sr")
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	m.Redis = run("redis-server", "--version")
	m.Memcached = run("memcached", "-V")
	m.Nginx = nginxVersion()
	return m
}
