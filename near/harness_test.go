package near

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
)

// The test harness: real redis-server processes on loopback
// (internal/testenv), and "hosts" in other processes (this test binary run
// again as a child), each with its own region and agent.

func TestMain(m *testing.M) {
	if role := testenv.Role(); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

// startRedis starts a redis-server on loopback for the test (see
// testenv.StartRedis).
func startRedis(t testing.TB, extra ...string) *testenv.Redis {
	t.Helper()
	return testenv.StartRedis(t, extra...)
}

// direct is a plain Redis client for the tests' own writes and checks.
func direct(t testing.TB, addrs ...string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func do(t testing.TB, c rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	return c.Do(context.Background(), c.B().Arbitrary(args[0]).Args(args[1:]...).Build())
}

// getCalls is how many GETs the server has served (INFO commandstats).
func getCalls(t testing.TB, c rueidis.Client) int {
	t.Helper()
	info, err := do(t, c, "INFO", "commandstats").ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_get:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// options are a test's near options over the servers at addrs, with a
// region of its own.
func options(t testing.TB, cache string, addrs ...string) Options {
	return Options{
		Redis:        rueidis.ClientOption{InitAddress: addrs},
		Cache:        cache,
		CacheOptions: &lru.Options{Size: 8 << 20},
		MaxLag:       200 * time.Millisecond,
		MaxTTL:       time.Minute,
	}
}

func newClient(t testing.TB, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition another process makes true
	}
}

// inStep waits until the region at path is in step under an agent.
func inStep(t testing.TB, c *lru.Cache) lru.TrackState {
	t.Helper()
	var s lru.TrackState
	waitFor(t, 10*time.Second, "the region in step", func() bool {
		s, _ = c.Tracker().State()
		return s.InStep && s.AgentPid != 0
	})
	return s
}

// host is a near Client in another process: a host of its own when it has
// its own region, or another process of the same host.
type host struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	pid   int
	cache string
}

// startHost runs a child with a near Client on the region at cache; role
// "host" competes for the agent role, "reader" does not.
func startHost(t testing.TB, role, cache string, maxLag time.Duration, addrs ...string) *host {
	t.Helper()
	cmd := testenv.Child(t, role)
	cmd.Env = append(cmd.Env, "NEAR_TEST_CACHE="+cache,
		"NEAR_TEST_REDIS="+strings.Join(addrs, ","), "NEAR_TEST_MAXLAG="+maxLag.String())
	cmd.Stderr = os.Stderr
	h := &host{cmd: cmd, cache: cache}
	var err error
	if h.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.out = bufio.NewScanner(out)
	h.out.Buffer(nil, 1<<24)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.kill)
	line := h.line(t)
	if _, err := fmt.Sscanf(line, "ready %d", &h.pid); err != nil {
		t.Fatalf("child said %q", line)
	}
	return h
}

func (h *host) line(t testing.TB) string {
	t.Helper()
	if !h.out.Scan() {
		t.Fatalf("child %d exited: %v", h.pid, h.out.Err())
	}
	return h.out.Text()
}

// call sends one command line and returns the child's answer.
func (h *host) call(t testing.TB, cmd string) string {
	t.Helper()
	if _, err := fmt.Fprintln(h.in, cmd); err != nil {
		t.Fatal(err)
	}
	return h.line(t)
}

func (h *host) kill() {
	if h.cmd.Process != nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	}
}

// runChild is a child's main: a near Client on NEAR_TEST_CACHE, driven by
// lines on stdin.
//
//	get KEY        -> "v VALUE" | "nil" | "err MESSAGE"
//	set KEY VALUE  -> "ok" | "err MESSAGE"
//	agent          -> "yes" | "no"
//	chaos ARGS     -> see chaos_test.go
func runChild(role string) int {
	lag, _ := time.ParseDuration(os.Getenv("NEAR_TEST_MAXLAG"))
	o := Options{
		Redis:        rueidis.ClientOption{InitAddress: strings.Split(os.Getenv("NEAR_TEST_REDIS"), ",")},
		Cache:        os.Getenv("NEAR_TEST_CACHE"),
		CacheOptions: &lru.Options{Size: 8 << 20},
		MaxLag:       lag,
		NoAgent:      role == "reader",
	}
	c, err := New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	defer c.Close()
	fmt.Println("ready", os.Getpid())
	in := bufio.NewScanner(os.Stdin)
	ctx := context.Background()
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case len(f) == 2 && f[0] == "get":
			v, err := c.Get(ctx, f[1])
			switch {
			case err == Nil:
				fmt.Println("nil")
			case err != nil:
				fmt.Println("err", err)
			default:
				fmt.Println("v", string(v))
			}
		case len(f) == 3 && f[0] == "set":
			if err := c.Set(ctx, f[1], []byte(f[2]), 0); err != nil {
				fmt.Println("err", err)
			} else {
				fmt.Println("ok")
			}
		case len(f) == 1 && f[0] == "agent":
			fmt.Println(map[bool]string{true: "yes", false: "no"}[c.IsAgent()])
		case len(f) >= 1 && f[0] == "chaos":
			chaosChild(c, f[1:])
		default:
			fmt.Println("err unknown command", f)
		}
	}
	return 0
}

func regionPath(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}
