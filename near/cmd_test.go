package near

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
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
	cmd := exec.Command(bin, "-cache", path, "-redis", r.Addr(), "-max-lag", "200ms", "-size", "8388608")
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
	o := options(t, path, r.Addr())
	o.NoAgent = true
	c := newClient(t, o)
	if s := inStep(t, c.Cache()); s.AgentPid != cmd.Process.Pid {
		t.Fatalf("agent pid %d, want the command's %d", s.AgentPid, cmd.Process.Pid)
	}
	rc := direct(t, r.Addr())
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
	if s, _ := c.Cache().Tracker().State(); s.InStep || s.AgentPid != 0 {
		t.Fatalf("after the agent stopped: %+v; want out of step, no agent", s)
	}
}

// cmd/shmlru-near joins a region shared between users: -mode 0660 for a
// region its group may write, -trust-gid for a group that is not the
// agent's own, -trust-uid for an owner other than the agent's user and
// root. Without them it refuses the region at once, before any Redis. It
// runs here as a real second user.
func TestAgentCommandSharesAcrossUsers(t *testing.T) {
	testenv.NeedRoot(t, "run the agent as another user")
	const group, owner, member = 4243, 4244, 4245
	r := startRedis(t)
	dir, err := os.MkdirTemp("", "shmlru-near-users")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // for the member to run bin
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "shmlru-near")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/shmlru-near").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "region")
	c, err := lru.Open(path, &lru.Options{Size: 4 << 20, Mode: 0o660})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The test's own view of the region, as root, whatever its owner.
	watch := &lru.Options{NoCreate: true, Mode: 0o660, TrustUIDs: []int{owner}, TrustGIDs: []int{group}}

	agent := func(asMember bool, flags ...string) *exec.Cmd {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, bin, append([]string{"-cache", path, "-redis", r.Addr(), "-max-lag", "200ms"}, flags...)...)
		if asMember {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: member, Gid: group}}
		}
		return cmd
	}
	refused := func(what string, asMember bool, want string, flags ...string) {
		t.Helper()
		out, err := agent(asMember, flags...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "not trusted") || !strings.Contains(string(out), want) {
			t.Fatalf("%s: %v %s; want the region refused, saying %q", what, err, out, want)
		}
	}
	runs := func(what string, asMember bool, flags ...string) {
		t.Helper()
		cmd := agent(asMember, flags...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		c, err := lru.Open(path, watch)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		waitFor(t, 10*time.Second, what+": the command in step as the agent", func() bool {
			select {
			case err := <-exited:
				t.Fatalf("%s: exited (%v): %s", what, err, out.String())
			default:
			}
			s, _ := c.Tracker().State()
			return s.InStep && s.AgentPid == cmd.Process.Pid
		})
		cmd.Process.Signal(syscall.SIGTERM)
		if err := <-exited; err != nil {
			t.Fatalf("%s: %v %s", what, err, out.String())
		}
	}

	// Root's region, shared with the group.
	if err := os.Chown(path, 0, group); err != nil {
		t.Fatal(err)
	}
	refused("a member, without -mode", true, "your Mode 0600")
	runs("a member, -mode 0660", true, "-mode", "0660")
	refused("root, not in the group, without -trust-gid", false, "gid 4243, which is not one of yours", "-mode", "0660")
	runs("root, -trust-gid", false, "-mode", "0660", "-trust-gid", "7,4243")

	// Another user's region, shared with the group.
	if err := os.Chown(path, owner, group); err != nil {
		t.Fatal(err)
	}
	refused("a member, without -trust-uid", true, "owned by uid 4244", "-mode", "0660")
	runs("a member, -trust-uid", true, "-mode", "0660", "-trust-uid", "4244")
}
