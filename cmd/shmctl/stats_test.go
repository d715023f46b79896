package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestStatsText(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	r := ctl(t, "-r", path, "stats").ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2+fixtureShards+1 || lines[0] != path || !strings.HasPrefix(lines[1], "SHARD") || !strings.HasPrefix(lines[len(lines)-1], "total") {
		t.Fatalf("stats text:\n%s", r.stdout)
	}
	// Right-aligned numbers: every row ends where the header does.
	for _, l := range lines[2:] {
		if len(l) != len(lines[1]) {
			t.Errorf("row %q not aligned with header %q", l, lines[1])
		}
	}
}

func TestStatsJSON(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	for _, args := range [][]string{{"--format", "json"}, {"--json"}} {
		r := ctl(t, append([]string{"-r", path, "stats"}, args...)...).ok(t)
		var doc statsDoc
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if doc.Region != path || doc.Entries != fixtureLive+1 || doc.Total.Sets != fixtureSets || len(doc.Shards) != fixtureShards {
			t.Errorf("stats %q: %+v", args, doc)
		}
		var sets uint64
		for _, s := range doc.Shards {
			sets += s.Counters.Sets
		}
		if sets != doc.Total.Sets {
			t.Errorf("shards' sets sum to %d, total %d", sets, doc.Total.Sets)
		}
	}
	ctl(t, "-r", path, "stats", "--format", "xml").failed(t, exitUsage, `--format "xml"`)
}

func TestStatsPrometheus(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	r := ctl(t, "-r", path, "stats", "--format", "prometheus").ok(t)
	fams := parseExposition(t, r.stdout)
	sum := func(name string) float64 {
		f := fams[name]
		if f == nil {
			t.Fatalf("no family %s", name)
		}
		total := 0.0
		for _, s := range f.samples {
			if s.labels["region"] != path {
				t.Errorf("%s sample labels %v lack region=%q", name, s.labels, path)
			}
			total += s.value
		}
		return total
	}
	for name, want := range map[string]float64{
		"shmlru_entries":        fixtureLive + 1,
		"shmlru_capacity_bytes": fixtureSize,
		"shmlru_shards":         fixtureShards,
		"shmlru_sets_total":     fixtureSets,
		"shmlru_hits_total":     0,
		"shmlru_shard_entries":  fixtureLive + 1,
	} {
		if got := sum(name); got != want {
			t.Errorf("%s sums to %v, want %v", name, got, want)
		}
	}
	if f := fams["shmlru_hits_total"]; f.typ != "counter" || len(f.samples) != fixtureShards {
		t.Errorf("shmlru_hits_total: type %s, %d samples", f.typ, len(f.samples))
	} else {
		for i, s := range f.samples {
			if s.labels["shard"] != strconv.Itoa(i) {
				t.Errorf("sample %d has shard=%q", i, s.labels["shard"])
			}
		}
	}
	if got := sum("shmlru_free_bytes") + sum("shmlru_used_bytes"); got != sum("shmlru_storage_bytes") {
		t.Errorf("free + used = %v, storage %v", got, sum("shmlru_storage_bytes"))
	}
}
