package main

import (
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

func TestSetEachType(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	c := openTest(t, path)
	peek := func(key string) ([]byte, lru.Meta) {
		t.Helper()
		v, m, stale, err := c.Peek(nil, []byte(key))
		if err != nil || stale {
			t.Fatalf("peek %s: %v (stale %v)", key, err, stale)
		}
		return v, m
	}
	ctl(t, "-r", path, "set", "greeting", "hello world", "--ttl", "1h", "--flags", "9").ok(t)
	if v, m := peek("greeting"); string(v) != "hello world" || m.Type != lru.TypeBytes || m.Flags != 9 ||
		m.TTL(time.Now()) <= 59*time.Minute || m.TTL(time.Now()) > time.Hour {
		t.Errorf("greeting = %q %+v", v, m)
	}
	ctl(t, "-r", path, "set", "--type", "number", "pi", "3.25").ok(t)
	if v, m := peek("pi"); m.Type != lru.TypeNumber || m.Expires != 0 {
		t.Errorf("pi: %+v", m)
	} else if f, _ := lru.DecodeNumber(v); f != 3.25 {
		t.Errorf("pi = %v", f)
	}
	ctl(t, "-r", path, "set", "--type", "number", "--", "neg", "-5").ok(t)
	if v, _ := peek("neg"); string(v) != string(lru.EncodeNumber(-5)) {
		t.Errorf("neg = %v", v)
	}
	ctl(t, "-r", path, "set", "on", "false", "--type", "bool").ok(t)
	if v, m := peek("on"); m.Type != lru.TypeBool || v[0] != 0 {
		t.Errorf("on = %v %+v", v, m)
	}
	ctl(t, "-r", path, "set", "--quoted", `"nul\x00key"`, "v").ok(t)
	peek("nul\x00key")
	// Read back through shmctl too.
	if r := ctl(t, "-r", path, "get", "pi").ok(t); r.stdout != "3.25\n" {
		t.Errorf("get pi = %q", r.stdout)
	}
}

func TestSetBadInput(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	set := func(args ...string) result { return ctl(t, append([]string{"-r", path, "set"}, args...)...) }
	set("k", "v", "--ttl", "5x").failed(t, exitUsage, `malformed duration "5x"`)
	set("k", "v", "--ttl", "-1s").failed(t, exitUsage, "set: --ttl -1s: "+lru.ErrBadTTL.Error()+"; use 0 for an entry that never expires")
	set("k", "v", "--ttl=-5m").failed(t, exitUsage, lru.ErrBadTTL.Error())
	set("k", "v", "--type", "blob").failed(t, exitUsage, `--type "blob"`)
	set("--type", "number", "k", "ten").failed(t, exitUsage, `"ten" is not a number`)
	set("--type", "bool", "k", "yes").failed(t, exitUsage, "use true or false")
	set("k", "v", "--flags", "4294967296").failed(t, exitUsage, "32 bits")
	set("k").failed(t, exitUsage, "want KEY VALUE")
	set("", "v").failed(t, exitFail, "empty key")
	// Nothing was written by the rejected calls.
	if _, _, _, err := openTest(t, path).Peek(nil, []byte("k")); err != lru.ErrNotFound {
		t.Errorf("a rejected set wrote k: %v", err)
	}
}
