package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
)

// The tests run the built shmctl binary, as an operator would, against
// regions that other processes (this test binary re-executed as a child,
// see childMain) created and keep using.

// shmctlBin is the binary under test, built once by TestMain.
var shmctlBin string

// childRegionEnv names a child's region (testenv.Child runs the child).
const childRegionEnv = "SHMCTL_TEST_REGION"

func TestMain(m *testing.M) {
	if mode := testenv.Role(); mode != "" {
		os.Exit(childMain(mode, os.Getenv(childRegionEnv)))
	}
	dir, err := os.MkdirTemp("", "shmctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by everyone: TestNoPermission runs the binary as nobody.
	os.Chmod(dir, 0o755)
	shmctlBin = filepath.Join(dir, "shmctl")
	args := []string{"build", "-o", shmctlBin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command(goTool(), append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building shmctl:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// childEnv is the environment of the processes the tests start. A race
// detector build sleeps a second at exit unless told otherwise.
func childEnv() []string {
	env := os.Environ()
	return append(env[:len(env):len(env)], "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// result is what one run of shmctl did.
type result struct {
	stdout, stderr string
	code           int
}

// runOpts adjust one run of shmctl.
type runOpts struct {
	stdin string
	env   []string
	cred  *syscall.Credential
}

// ctl runs shmctl with args and returns its output and exit status.
func ctl(t *testing.T, args ...string) result {
	t.Helper()
	return ctlWith(t, runOpts{}, args...)
}

func ctlWith(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	cmd := exec.Command(shmctlBin, args...)
	cmd.Dir = "/"
	cmd.Env = append(childEnv(), regionEnv+"=")
	cmd.Env = append(cmd.Env, o.env...)
	cmd.Stdin = strings.NewReader(o.stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if o.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: o.cred}
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run shmctl %q: %v", args, err)
	}
	return r
}

// ok fails the test unless the run succeeded.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

// failed checks a failed run: the exit status, and one line on stderr,
// "shmctl: ...", that contains want and no trace of a panic.
func (r result) failed(t *testing.T, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "shmctl: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line starting with \"shmctl: \": %q", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not contain %q", r.stderr, want)
	}
	for _, bad := range []string{"panic", "goroutine ", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr looks like a stack trace (%q): %q", bad, r.stderr)
		}
	}
}

var regionSeq atomic.Int64

// newRegionPath returns a fresh path under /dev/shm, removed at the end of
// the test.
func newRegionPath(t *testing.T) string {
	t.Helper()
	path := fmt.Sprintf("/dev/shm/shmctl-test-%d-%d", os.Getpid(), regionSeq.Add(1))
	t.Cleanup(func() { os.Remove(path) })
	return path
}

// child is another process using a region.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	done  bool
}

// startChild re-executes the test binary in mode (see childMain) on path
// and waits until it reports ready. The child stops when its stdin closes,
// at the latest when the test ends.
func startChild(t *testing.T, mode, path string) *child {
	t.Helper()
	cmd := testenv.Child(t, mode)
	cmd.Env = append(cmd.Env, childRegionEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { c.stop(t) })
	line, err := c.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("child %s: got %q, %v instead of ready", mode, line, err)
	}
	return c
}

// stop closes the child's stdin and waits for it to exit cleanly.
func (c *child) stop(t *testing.T) {
	t.Helper()
	if c.done {
		return
	}
	c.done = true
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child exited with %v", err)
	}
}

// kill kills the child with SIGKILL and reaps it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	c.done = true
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// liveRegion creates a region in a child process that populates it with
// the fixture and keeps it open (mode "hold": idle; "busy": writing and
// reading in a loop).
func liveRegion(t *testing.T, mode string) (string, *child) {
	t.Helper()
	path := newRegionPath(t)
	return path, startChild(t, mode, path)
}

// openTest opens a region from the test process.
func openTest(t *testing.T, path string) *lru.Cache {
	t.Helper()
	c, err := lru.Open(path, &lru.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Fixture entries written by every creating child.
const (
	fixtureUsers  = 50 // user:000 .. user:049, values value-000 ...
	fixtureLive   = 56 // users + num, flag, ttl, bin, list, big
	fixtureSets   = 58 // list written twice (two pushes), gone once
	fixtureShards = 4  // shards of the fixture's region
	fixtureSize   = 4 << 20
	binKey        = "bin\x00key"
	bigSize       = 1000 // bytes of the "big" value
)

// populate writes the fixture.
func populate(c *lru.Cache) error {
	for i := 0; i < fixtureUsers; i++ {
		if err := c.Set(fmt.Appendf(nil, "user:%03d", i), fmt.Appendf(nil, "value-%03d", i), 0); err != nil {
			return err
		}
	}
	writes := []struct {
		key   string
		value []byte
		o     lru.WriteOptions
	}{
		{"num", lru.EncodeNumber(42.5), lru.WriteOptions{Type: lru.TypeNumber}},
		{"flag", lru.EncodeBool(true), lru.WriteOptions{Type: lru.TypeBool}},
		{"ttl", []byte("temp"), lru.WriteOptions{TTL: time.Hour, Flags: 7}},
		{binKey, []byte{0xff, 0xfe, 0}, lru.WriteOptions{}},
		{"big", bytes.Repeat([]byte("x"), bigSize), lru.WriteOptions{}},
		{"gone", []byte("soon"), lru.WriteOptions{TTL: time.Millisecond}},
	}
	for _, w := range writes {
		if _, err := c.Write([]byte(w.key), w.value, w.o); err != nil {
			return err
		}
	}
	if _, err := c.RPush([]byte("list"), []byte("a"), lru.TypeBytes); err != nil {
		return err
	}
	if _, err := c.RPush([]byte("list"), lru.EncodeNumber(3), lru.TypeNumber); err != nil {
		return err
	}
	// "gone" must have expired before the tests look: let its millisecond
	// pass (this waits for time to pass, it synchronises nothing).
	time.Sleep(5 * time.Millisecond)
	return nil
}

// childMain is the child process: see startChild and liveRegion.
func childMain(mode, path string) int {
	fail := func(err error) int { fmt.Fprintf(os.Stderr, "child %s: %v\n", mode, err); return 1 }
	stdinClosed := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	switch mode {
	case "hold", "busy":
		c, err := lru.Open(path, &lru.Options{Size: fixtureSize, Shards: fixtureShards})
		if err != nil {
			return fail(err)
		}
		defer c.Close()
		if err := populate(c); err != nil {
			return fail(err)
		}
		if mode == "hold" {
			fmt.Println("ready")
			<-stdinClosed
			return 0
		}
		buf := make([]byte, 0, 64)
		for i := 0; ; i++ {
			key := fmt.Appendf(nil, "busy:%d", i%500)
			if err := c.Set(key, key, time.Minute); err != nil {
				return fail(err)
			}
			if _, _, err := c.GetInto(buf[:0], fmt.Appendf(nil, "busy:%d", (i*7)%600)); err != nil && err != lru.ErrNotFound {
				return fail(err)
			}
			if i == 100 {
				fmt.Println("ready")
			}
			select {
			case <-stdinClosed:
				return 0
			default:
			}
		}
	case "attach":
		// Attached, idle.
		c, err := lru.Open(path, &lru.Options{NoCreate: true})
		if err != nil {
			return fail(err)
		}
		defer c.Close()
		fmt.Println("ready")
		<-stdinClosed
		return 0
	case "lock", "lock-dirty", "lock-queue":
		// Hold shard 0's lock (Range calls back with it held) until
		// killed, leaving the shard as a process killed at that moment
		// leaves it (see leaveShard).
		c, err := lru.Open(path, &lru.Options{NoCreate: true})
		if err != nil {
			return fail(err)
		}
		var leaveErr error
		err = c.Range(func([]byte, lru.Meta, int) bool {
			if leaveErr = leaveShard(path, mode); leaveErr != nil {
				return false
			}
			fmt.Println("ready: holding shard 0's lock")
			<-stdinClosed
			return false
		}, true)
		if err == nil {
			err = leaveErr
		}
		if err != nil {
			return fail(err)
		}
		return 0
	}
	return fail(fmt.Errorf("unknown mode"))
}

// The region's layout, as far as the tests reach into the file: where the
// data area starts comes from shm/header.go's file header; everything in
// the data area from format.Facts, the definition C is generated from.
// Every test that writes through them checks the effect through shmctl, so
// a wrong offset fails it.
const fileDataOff = 48 // file header: dataOff, where the data area starts (uint64)

var (
	cacheHeapOff      = layoutFact("CacheHeader.HeapOff") // from the start of a shard (uint32)
	unitSize          = layoutFact("UnitSize")            // entry indexes count units of the heap
	cacheHeaderSize   = layoutFact("CacheHeaderSize")     // shard 0 follows it
	shardLockWord     = layoutFact("ShardHeader.Lock")    // the lock word (uint32)
	shardSeq          = layoutFact("ShardHeader.Seq")     // the change sequence: odd is the dirty mark (uint64)
	shardTail         = layoutFact("ShardHeader.Tail")    // the LRU queue's tail (a unit index)
	shardEntries      = layoutFact("ShardHeader.Entries") // the entry count
	shardDeadPid      = layoutFact("ShardHeader.DeadPid") // the pid of a dead owner an observer found (uint32)
	entryPrevInHeader = layoutFact("Entry.Prev")          // LRU link towards the head
	entryNextInHeader = layoutFact("Entry.Next")          // LRU link towards the tail
)

// layoutFact is the value (an offset, for a field) of the named fact.
func layoutFact(name string) int64 {
	for _, f := range format.Facts() {
		if f.Name == name {
			return int64(f.Value)
		}
	}
	panic("no layout fact " + name)
}

// regionFile reads and writes a region's bytes through its file, which
// shares its pages with every mapping of it.
type regionFile struct{ f *os.File }

func openRegionFile(path string) (regionFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	return regionFile{f}, err
}

func (r regionFile) u32(off int64) (uint32, error) {
	var b [4]byte
	_, err := r.f.ReadAt(b[:], off)
	return binary.NativeEndian.Uint32(b[:]), err
}

func (r regionFile) u64(off int64) (uint64, error) {
	var b [8]byte
	_, err := r.f.ReadAt(b[:], off)
	return binary.NativeEndian.Uint64(b[:]), err
}

func (r regionFile) put64(off int64, v uint64) error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], v)
	_, err := r.f.WriteAt(b[:], off)
	return err
}

func (r regionFile) put32(off int64, v uint32) error {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	_, err := r.f.WriteAt(b[:], off)
	return err
}

// dataOff returns where the data area starts in the file.
func (r regionFile) dataOff() (int64, error) {
	var b [8]byte
	_, err := r.f.ReadAt(b[:], fileDataOff)
	return int64(binary.NativeEndian.Uint64(b[:])), err
}

// shard0 returns the file offset of shard 0's header.
func (r regionFile) shard0() (int64, error) {
	d, err := r.dataOff()
	return d + cacheHeaderSize, err
}

// leaveShard runs in a child that holds shard 0's lock, and leaves the shard
// as a process killed there would (lru's own tests stop a real mutation at
// a named point with a hook that this package cannot reach, see
// lru/crash_test.go):
//
//   - "lock": between changes; the shard is whole.
//   - "lock-dirty": in the middle of a change: the dirty mark set (the
//     change sequence odd) and the change half made (the entry count raised for an entry not linked in
//     yet, as an insert does).
//   - "lock-queue": in the middle of moving an entry to the head of the LRU
//     queue (a touch, made without the dirty mark): the tail entry
//     unlinked from the queue and not pushed at the head yet.
func leaveShard(path, mode string) error {
	if mode == "lock" {
		return nil
	}
	r, err := openRegionFile(path)
	if err != nil {
		return err
	}
	defer r.f.Close()
	sh, err := r.shard0()
	if err != nil {
		return err
	}
	switch mode {
	case "lock-dirty":
		seq, err := r.u64(sh + shardSeq)
		if err != nil {
			return err
		}
		if err := r.put64(sh+shardSeq, seq|1); err != nil {
			return err
		}
		n, err := r.u32(sh + shardEntries)
		if err != nil {
			return err
		}
		return r.put32(sh+shardEntries, n+1)
	case "lock-queue":
		d, _ := r.dataOff()
		heap, err := r.u32(d + cacheHeapOff)
		if err != nil {
			return err
		}
		ent := func(i uint32) int64 { return sh + int64(heap) + int64(i)*unitSize }
		tail, err := r.u32(sh + shardTail)
		if err != nil {
			return err
		}
		prev, err := r.u32(ent(tail) + entryPrevInHeader)
		if err != nil {
			return err
		}
		if tail == 0 || prev == 0 {
			return fmt.Errorf("shard 0 has fewer than two entries")
		}
		// unlinkLRU of the tail: its predecessor becomes the tail.
		if err := r.put32(ent(prev)+entryNextInHeader, 0); err != nil {
			return err
		}
		return r.put32(sh+shardTail, prev)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func TestHelpEverySubcommand(t *testing.T) {
	for _, c := range commands {
		for _, name := range []string{c.name, c.alias} {
			if name == "" {
				continue
			}
			r := ctl(t, name, "--help").ok(t)
			for _, want := range []string{"Usage: shmctl", " " + c.name + " ", "Example:\n  shmctl ", "--region"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s --help lacks %q:\n%s", name, want, r.stdout)
				}
			}
			if h := ctl(t, "help", name).ok(t); h.stdout != r.stdout {
				t.Errorf("shmctl help %s differs from %s --help", name, name)
			}
		}
	}
	r := ctl(t, "--help").ok(t)
	for _, c := range commands {
		if !strings.Contains(r.stdout, "  "+c.name) {
			t.Errorf("shmctl --help does not list %s", c.name)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	ctl(t).failed(t, exitUsage, "no subcommand")
	ctl(t, "frobnicate").failed(t, exitUsage, `unknown subcommand "frobnicate"`)
	ctl(t, "--bogus", "inspect").failed(t, exitUsage, "flag provided but not defined")
	ctl(t, "-r", path, "inspect", "--bogus").failed(t, exitUsage, "inspect: flag provided but not defined: -bogus")
	ctl(t, "-r", path, "inspect", "extra").failed(t, exitUsage, "wrong number of arguments")
	ctl(t, "inspect").failed(t, exitUsage, "no region given")
	ctl(t, "-r", path, "get").failed(t, exitUsage, "want KEY")
}

func TestRegionFromEnvAndSubcommandFlag(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	name := filepath.Base(path) // a name without a slash is under /dev/shm
	for _, args := range [][]string{
		{"-r", name, "get", "num"},
		{"--region", path, "get", "num"},
		{"get", "num", "-r", path},
		{"-r", "/nonexistent", "get", "--region", path, "num"},
	} {
		if r := ctl(t, args...).ok(t); r.stdout != "42.5\n" {
			t.Errorf("%q: got %q", args, r.stdout)
		}
	}
	r := ctlWith(t, runOpts{env: []string{regionEnv + "=" + name}}, "get", "num").ok(t)
	if r.stdout != "42.5\n" {
		t.Errorf("with $%s: got %q", regionEnv, r.stdout)
	}
}
