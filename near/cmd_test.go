package near

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// cmd/shmlru-near runs the agent alone: a reader-only process of the host
// (as nginx workers are) gets coherent reads from it.
func TestAgentCommand(t *testing.T) {
	r := startRedis(t)
	bin := filepath.Join(t.TempDir(), "shmlru-near")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/shmlru-near").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	path := regionPath(t, "host")
	cmd := exec.Command(bin, "-cache", path, "-redis", r.addr(), "-max-lag", "200ms", "-size", "8388608")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, 10*time.Second, "the region file", func() bool {
		c, err := lru.Open(path, &lru.Options{NoCreate: true})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	o := options(t, path, r.addr())
	o.NoAgent = true
	c := newClient(t, o)
	if s := inStep(t, c.Cache()); s.AgentPid != cmd.Process.Pid {
		t.Fatalf("agent pid %d, want the command's %d", s.AgentPid, cmd.Process.Pid)
	}
	rc := direct(t, r.addr())
	do(t, rc, "SET", "k", "v1")
	ctx := context.Background()
	if v, _ := c.Get(ctx, "k"); string(v) != "v1" {
		t.Fatalf("Get: %q", v)
	}
	do(t, rc, "SET", "k", "v2") // by another host: only the agent hears it
	readsWithinBound(t, c, "k", "v2", time.Now())
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the command did not exit cleanly on SIGTERM: %v", err)
	}
	if s, _ := c.Cache().TrackState(); s.InStep || s.AgentPid != 0 {
		t.Fatalf("after the agent stopped: %+v; want out of step, no agent", s)
	}
}
