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

// Results is what a run measured. Each section is written to -out on its
// own, as <section>.json (the run's header and that section's field) and
// <section>.md (its tables); bench/cmd/shmlru-charts draws from the JSON
// files, and people copy the tables they discuss into RESULTS.md.
type Results struct {
	Date    string `json:"date"`
	Command string `json:"command"`
	// Layout is lru.LayoutVersion when the figures were measured.
	Layout   int             `json:"layout,omitempty"`
	Machine  Machine         `json:"machine"`
	Quick    bool            `json:"quick"`
	Dur      string          `json:"dur"`
	Reps     int             `json:"reps"`
	Elapsed  string          `json:"elapsed"`
	Ops      []OpResult      `json:"ops,omitempty"`
	Mixed    []MixedResult   `json:"mixed,omitempty"`
	Scaling  []ScaleResult   `json:"scaling,omitempty"`
	Density  []DensityResult `json:"density,omitempty"`
	HitRatio []HitResult     `json:"hit_ratio,omitempty"`
	HitSize  int64           `json:"hit_size,omitempty"`
	Lua      []LuaResult     `json:"lua,omitempty"`
	LuaNote  string          `json:"lua_note,omitempty"`
	Profiles []Profile       `json:"profiles,omitempty"`
	Load     *LoadSection    `json:"load,omitempty"`
	Near     *NearSection    `json:"near,omitempty"`
}

// sections are the steps of a run, in order, as -only names them, with
// the title of their tables. "hot" runs alone (hot.go).
var sections = []struct{ name, title string }{
	{"ops", "Go: single operations"},
	{"mixed", "Go: mixed workloads, one and two processes"},
	{"scale", "Throughput scaling, 1 to N workers"},
	{"density", "Entries a 64 MiB cache holds"},
	{"hitratio", "Hit ratio against an exact LRU"},
	{"lua", "LuaJIT in an nginx worker"},
	{"profile", "CPU profiles"},
	{"load", "Read-through: a stampede of processes on a cold key"},
	{"near", "Near cache in front of Redis"},
}

func isSection(s string) bool {
	for _, x := range sections {
		if x.name == s {
			return true
		}
	}
	return false
}

// only is a copy of r's header with section's figures alone.
func (r *Results) only(section string) *Results {
	o := &Results{Date: r.Date, Command: r.Command, Layout: r.Layout, Machine: r.Machine, Quick: r.Quick, Dur: r.Dur, Reps: r.Reps, Elapsed: r.Elapsed}
	switch section {
	case "ops":
		o.Ops = r.Ops
	case "mixed":
		o.Mixed = r.Mixed
	case "scale":
		o.Scaling = r.Scaling
	case "density":
		o.Density = r.Density
	case "hitratio":
		o.HitRatio, o.HitSize = r.HitRatio, r.HitSize
	case "lua":
		o.Lua, o.LuaNote = r.Lua, r.LuaNote
	case "profile":
		o.Profiles = r.Profiles
	case "load":
		o.Load = r.Load
	case "near":
		o.Near = r.Near
	}
	return o
}

// tables are section's tables of r.
func (r *Results) tables(section string) []table {
	switch section {
	case "ops":
		return opsTables(r)
	case "mixed":
		return mixedTables(r)
	case "scale":
		return scaleTables(r)
	case "density":
		return densityTables(r)
	case "hitratio":
		return hitTables(r)
	case "lua":
		return luaTables(r)
	case "profile":
		return profileTables(r)
	case "load":
		return loadTables(r)
	case "near":
		return nearTables(r)
	}
	return nil
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

// writeSection writes section's <name>.json and <name>.md to dir.
func writeSection(r *Results, dir, section, title string) error {
	b, err := json.MarshalIndent(r.only(section), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, section+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "## %s\n\n%s\n\n", title, r.header())
	for _, t := range r.tables(section) {
		t.write(&md)
	}
	return os.WriteFile(filepath.Join(dir, section+".md"), []byte(md.String()), 0o644)
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
