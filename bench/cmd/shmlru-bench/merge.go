package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// A run with -only measures some sections again, without the 10 minutes of
// a full run: mergeResults keeps the other sections from the results.json
// already written, and Results.Runs records which run measured each section
// that differs from the page's main run, so that RESULTS.md can say so.
// Every ratio is still between figures of one run: no table or goal mixes
// sections.

// sections are the steps of a run, in order, as -only names them.
var sections = []string{"ops", "mixed", "scale", "density", "hitratio", "lua", "profile", "load", "near"}

// sectionTitles name the sections of RESULTS.md that each step fills.
var sectionTitles = map[string]string{
	"ops":      "1 (Go single operations)",
	"mixed":    "2 and 3 (Go mixed workloads)",
	"scale":    "4 (scaling)",
	"lua":      "5 (LuaJIT)",
	"density":  "6 (density)",
	"hitratio": "7 (hit ratio)",
	"profile":  "8 (profiles)",
	"load":     "9 (read-through stampede)",
	"near":     "10 (near cache in front of Redis)",
}

func isSection(s string) bool {
	for _, x := range sections {
		if x == s {
			return true
		}
	}
	return false
}

// RunInfo describes the run that measured a section.
type RunInfo struct {
	Date    string `json:"date"`
	Command string `json:"command"`
	Layout  int    `json:"layout,omitempty"` // lru.LayoutVersion of the run
	Elapsed string `json:"elapsed"`
	Quick   bool   `json:"quick"`
	Dur     string `json:"dur"`
	Reps    int    `json:"reps"`
}

// runOf is the run that measured section.
func (r *Results) runOf(section string) RunInfo {
	if ri, ok := r.Runs[section]; ok {
		return ri
	}
	return RunInfo{Date: r.Date, Command: r.Command, Layout: r.Layout, Elapsed: r.Elapsed, Quick: r.Quick, Dur: r.Dur, Reps: r.Reps}
}

// mergeResults returns the results in path with the sections in only
// replaced by res's. Without a readable results.json there, res is all
// there is.
func mergeResults(path string, res *Results, only map[string]bool) *Results {
	b, err := os.ReadFile(path)
	if err != nil {
		return res
	}
	var base Results
	if err := json.Unmarshal(b, &base); err != nil {
		logf("%s: %v: writing this run's sections alone", path, err)
		return res
	}
	ri := res.runOf("")
	for _, s := range sections {
		if !only[s] {
			continue
		}
		switch s {
		case "ops":
			base.Ops = res.Ops
		case "mixed":
			base.Mixed = res.Mixed
		case "scale":
			base.Scaling = res.Scaling
		case "density":
			base.Density = res.Density
		case "hitratio":
			base.HitRatio, base.HitSize = res.HitRatio, res.HitSize
		case "lua":
			base.Lua, base.LuaNote = res.Lua, res.LuaNote
		case "profile":
			base.Profiles = res.Profiles
		case "load":
			base.Load = res.Load
		case "near":
			base.Near = res.Near
		}
		if base.Runs == nil {
			base.Runs = map[string]RunInfo{}
		}
		base.Runs[s] = ri
	}
	return &base
}

// provenance is RESULTS.md's sentence on which run measured what.
func (r *Results) provenance() string {
	if len(r.Runs) == 0 {
		return "Every figure on this page was measured in that one run, on this machine:"
	}
	var parts []string
	for _, s := range sections {
		if ri, ok := r.Runs[s]; ok {
			p := fmt.Sprintf("section %s was measured alone, by `%s` on %s, in %s", sectionTitles[s], ri.Command, ri.Date, ri.Elapsed)
			if ri.Layout != 0 && ri.Layout != r.Layout {
				p += fmt.Sprintf(", on layout %d", ri.Layout)
			}
			parts = append(parts, p)
		}
	}
	return strings.ToUpper(parts[0][:1]) + strings.Join(parts, "; ")[1:] +
		". Every other figure on this page is from the run above. No table, chart or goal mixes figures of two runs, and all ran on this machine:"
}
