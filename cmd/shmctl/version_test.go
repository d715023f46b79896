package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
	"github.com/shmlru/shmlru/version"
)

func TestVersion(t *testing.T) {
	r := ctl(t, "version").ok(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "shmctl "+version.Version || !strings.HasPrefix(lines[2], runtime.Version()+" ") {
		t.Errorf("shmctl version:\n%s", r.stdout)
	}
	var doc versionDoc
	if err := json.Unmarshal([]byte(ctl(t, "version", "--json").ok(t).stdout), &doc); err != nil {
		t.Fatal(err)
	}
	want := versionDoc{version.Version, shm.Version, lru.LayoutVersion, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
	if doc != want {
		t.Errorf("shmctl version --json: %+v, want %+v", doc, want)
	}
	// It needs no region, and refuses arguments.
	ctl(t, "version", "extra").failed(t, exitUsage, "wrong number of arguments")
}
