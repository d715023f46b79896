package main

import (
	"os"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/lru"
)

func TestCreate(t *testing.T) {
	path := newRegionPath(t)
	r := ctl(t, "-r", path, "create", "--size", "2M", "--shards", "2", "--max-value", "64K", "--mode", "0660").ok(t)
	if !strings.HasPrefix(r.stdout, "created "+path+": 2 MiB, 2 shards x ") {
		t.Errorf("create: %q", r.stdout)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o660 || st.Size() != 2<<20 {
		t.Fatalf("region file: %v %v", st, err)
	}
	c, err := lru.Open(path, &lru.Options{NoCreate: true, Mode: 0o660})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := c.Geometry()
	if g.Shards != 2 || g.MaxValue != 64<<10 || g.Size != 2<<20 {
		t.Errorf("geometry %+v", g)
	}
	ctl(t, "-r", path, "create").failed(t, exitFail, "already exists")
}

func TestCreateBadInput(t *testing.T) {
	path := newRegionPath(t)
	ctl(t, "-r", path, "create", "--size", "12Q").failed(t, exitUsage, `unknown unit "q"`)
	ctl(t, "-r", path, "create", "--shards", "3").failed(t, exitUsage, "Shards 3")
	ctl(t, "-r", path, "create", "--mode", "rw").failed(t, exitUsage, "--mode")
	ctl(t, "-r", path, "create", "--mode", "0640").failed(t, exitUsage, "read-only access")
	ctl(t, "-r", path, "create", "--size", "4096").failed(t, exitUsage, "too small")
	ctl(t, "create").failed(t, exitUsage, "no region given")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a rejected create left a file: %v", err)
	}
}
