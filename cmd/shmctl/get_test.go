package main

import (
	"encoding/json"
	"testing"
)

func TestGetPrintsEachType(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	for key, want := range map[string]string{
		"user:007": "value-007\n",
		"num":      "42.5\n",
		"flag":     "true\n",
		"list":     "a\n3\n",
	} {
		if r := ctl(t, "-r", path, "get", key).ok(t); r.stdout != want {
			t.Errorf("get %s = %q, want %q", key, r.stdout, want)
		}
	}
	if r := ctl(t, "-r", path, "get", "--raw", "--quoted", `"bin\x00key"`).ok(t); r.stdout != "\xff\xfe\x00" {
		t.Errorf("get --raw of binary value = %q", r.stdout)
	}
}

func TestGetJSON(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	get := func(args ...string) getDoc {
		t.Helper()
		r := ctl(t, append([]string{"-r", path, "get", "--json"}, args...)...).ok(t)
		var d getDoc
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		return d
	}
	if d := get("ttl"); d.Value != "temp" || d.Type != "bytes" || d.Flags != 7 || d.TTLMillis <= 0 || d.TTLMillis > 3600_000 || d.Version == 0 || d.Stale {
		t.Errorf("ttl: %+v", d)
	}
	if d := get("num"); d.Value != 42.5 || d.Type != "number" || d.TTLMillis != 0 {
		t.Errorf("num: %+v", d)
	}
	if d := get("flag"); d.Value != true || d.Type != "bool" {
		t.Errorf("flag: %+v", d)
	}
	if d := get("list"); d.Type != "list" || len(d.Value.([]any)) != 2 {
		t.Errorf("list: %+v", d)
	}
	if d := get("--quoted", `"bin\x00key"`); d.Value != nil || d.ValueBase64 != "//4A" {
		t.Errorf("binary value: %+v", d)
	}
	if d := get("--stale", "gone"); !d.Stale || d.TTLMillis >= 0 || d.Value != "soon" {
		t.Errorf("gone --stale: %+v", d)
	}
}

func TestGetNotFound(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	ctl(t, "-r", path, "get", "nope").failed(t, exitFail, "get: nope: not found")
	ctl(t, "-r", path, "get", "gone").failed(t, exitFail, "--stale shows it")
	ctl(t, "-r", path, "get", "--quoted", "bin").failed(t, exitUsage, "not a Go-quoted string")
	ctl(t, "-r", path, "get", "a", "b").failed(t, exitUsage, "wrong number of arguments")
}
