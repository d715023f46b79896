package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func keysJSON(t *testing.T, path string, args ...string) []keyJSON {
	t.Helper()
	r := ctl(t, append([]string{"-r", path, "keys", "--json"}, args...)...).ok(t)
	var list []keyJSON
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	return list
}

func TestKeysListsLiveEntriesInLRUOrderPerShard(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	list := keysJSON(t, path)
	if len(list) != fixtureLive {
		t.Fatalf("%d keys, want %d", len(list), fixtureLive)
	}
	byKey := map[string]keyJSON{}
	lastShard, lastUser := -1, 0
	for _, k := range list {
		byKey[k.Key] = k
		if k.Shard < lastShard {
			t.Errorf("shard %d listed after shard %d", k.Shard, lastShard)
		}
		if k.Shard != lastShard {
			lastShard, lastUser = k.Shard, fixtureUsers
		}
		// user:NNN were written in order and never read: most recent first.
		if n, ok := strings.CutPrefix(k.Key, "user:"); ok {
			i, _ := strconv.Atoi(n)
			if i >= lastUser {
				t.Errorf("shard %d: user:%03d after user:%03d, not in LRU order", k.Shard, i, lastUser)
			}
			lastUser = i
		}
	}
	if _, ok := byKey["gone"]; ok {
		t.Error("an expired entry is listed without --expired")
	}
	if k := byKey["ttl"]; k.Type != "bytes" || k.Flags != 7 || k.Size != 4 || k.TTLMillis <= 0 || k.TTLMillis > 3600_000 {
		t.Errorf("ttl: %+v", k)
	}
	if k := byKey["num"]; k.Type != "number" || k.Size != 8 || k.TTLMillis != 0 || k.Expires != 0 {
		t.Errorf("num: %+v", k)
	}
	if k := byKey[binKey]; k.Type != "bytes" || k.KeyBase64 != "" {
		t.Errorf("binary key: %+v", k)
	}
	if byKey["list"].Type != "list" || byKey["flag"].Type != "bool" || byKey["big"].Size != bigSize {
		t.Errorf("list %+v, flag %+v, big %+v", byKey["list"], byKey["flag"], byKey["big"])
	}

	// The shard each key is listed under is the shard that holds it.
	all := keysJSON(t, path, "--expired")
	per := make([]int, fixtureShards)
	for _, k := range all {
		per[k.Shard]++
	}
	for i, s := range inspectJSON(t, path).Shards {
		if per[i] != s.Entries {
			t.Errorf("keys lists %d entries in shard %d, which holds %d", per[i], i, s.Entries)
		}
	}
	if len(all) != fixtureLive+1 || all[len(all)-1].Key == "" {
		t.Errorf("--expired lists %d keys", len(all))
	}
}

func TestKeysPrefixAndLimit(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	if l := keysJSON(t, path, "--prefix", "user:", "--limit", "7"); len(l) != 7 {
		t.Errorf("--limit 7 listed %d", len(l))
	}
	l := keysJSON(t, path, "--prefix", "user:00")
	if len(l) != 10 {
		t.Errorf("--prefix user:00 listed %d keys, want 10", len(l))
	}
	for _, k := range l {
		if !strings.HasPrefix(k.Key, "user:00") {
			t.Errorf("--prefix user:00 listed %q", k.Key)
		}
	}
	if l := keysJSON(t, path, "--prefix", "nothing"); len(l) != 0 {
		t.Errorf("no match listed %v", l)
	}
	ctl(t, "-r", path, "keys", "--limit", "-1").failed(t, exitUsage, "--limit -1")
	ctl(t, "-r", path, "keys", "--limit", "x").failed(t, exitUsage, "invalid value")
}

func TestKeysText(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	r := ctl(t, "-r", path, "keys", "--expired").ok(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 1+fixtureLive+1 || !strings.HasPrefix(lines[0], "SHARD  KEY") {
		t.Fatalf("keys text:\n%s", r.stdout)
	}
	for _, want := range []string{`"bin\x00key"`, "  expired", "  never", "  1000 B"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keys text lacks %q:\n%s", want, r.stdout)
		}
	}
	// FLAGS, the last column, is right-aligned: every row ends with it.
	for _, l := range lines[1:] {
		if len(l) != len(lines[0]) {
			t.Errorf("row %q not aligned with header %q", l, lines[0])
		}
	}
}
