package lru

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Read-through across real processes: one loader per key on the host, and
// a loader killed mid-load replaced by a waiter.

func init() { childRoles["loader"] = loaderChild }

// loaderChild runs callers goroutines that GetOrLoad the key "cold" once
// the parent writes "go". Its loader appends a line to the count file
// (counting loads outside the cache), prints "loading", and then, by mode:
// "block" waits for the parent's "release"; "hang" waits to be killed;
// "quick" returns at once. The value names the loading process. Each
// caller prints "got VALUE" or "err ERROR". lease, if given, is the
// loads' LoadOptions.Lease.
//
// arg: countFile,mode,callers[,lease]
func loaderChild(c *Cache, arg string) error {
	parts := strings.Split(arg, ",")
	if len(parts) != 3 && len(parts) != 4 {
		return fmt.Errorf("loader child: bad arg %q", arg)
	}
	countFile, mode := parts[0], parts[1]
	callers, err := strconv.Atoi(parts[2])
	if err != nil {
		return err
	}
	var o LoadOptions
	if len(parts) == 4 {
		if o.Lease, err = time.ParseDuration(parts[3]); err != nil {
			return err
		}
	}
	in := bufio.NewScanner(os.Stdin)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	say("ready")
	if !in.Scan() || in.Text() != "go" {
		return fmt.Errorf("loader child: expected go, got %q", in.Text())
	}
	load := func(ctx context.Context, key []byte) ([]byte, error) {
		f, err := os.OpenFile(countFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(f, "%d\n", os.Getpid())
		f.Close()
		say("loading")
		switch mode {
		case "block":
			if !in.Scan() || in.Text() != "release" {
				return nil, fmt.Errorf("expected release, got %q", in.Text())
			}
		case "hang":
			holdUntilKilled()
		}
		return []byte(fmt.Sprint("from ", os.Getpid())), nil
	}
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.GetOrLoad(context.Background(), []byte("cold"), load, o)
			if err != nil {
				say("err %v", err)
				return
			}
			say("got %s", v)
		}()
	}
	wg.Wait()
	return nil
}

// loaderProc is a loader child and what it printed.
type loaderProc struct {
	*child
	lines chan string
}

func startLoader(t *testing.T, path, countFile, mode string, callers int, lease ...time.Duration) *loaderProc {
	t.Helper()
	arg := fmt.Sprintf("%s,%s,%d", countFile, mode, callers)
	for _, l := range lease {
		arg += "," + l.String()
	}
	ch := startChild(t, "loader", path, arg)
	p := &loaderProc{child: ch, lines: make(chan string, 4*callers+4)}
	go func() {
		for {
			l := ch.line()
			if l == "" {
				close(p.lines)
				return
			}
			p.lines <- l
		}
	}()
	if l := <-p.lines; l != "ready" {
		t.Fatalf("child said %q, want ready\n%s", l, ch.stderr)
	}
	return p
}

func (p *loaderProc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(p.stdin, line); err != nil {
		t.Fatal(err)
	}
}

// results reads the child's remaining lines until it exits: the values its
// callers got, and whether it printed "loading".
func (p *loaderProc) results() (got []string, loading bool) {
	for l := range p.lines {
		switch {
		case l == "loading":
			loading = true
		default:
			got = append(got, l)
		}
	}
	return got, loading
}

func countLines(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// Processes that miss one key together: the loader runs once on the whole
// host, and every caller in every process gets its value.
func TestLoadStampedeAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	path, countFile := filepath.Join(dir, "c"), filepath.Join(dir, "loads")
	c := openAt(t, path, &Options{Size: 1 << 20})
	const procs, callers = 4, 8
	var kids []*loaderProc
	for range procs {
		kids = append(kids, startLoader(t, path, countFile, "block", callers))
	}
	for _, k := range kids {
		k.send(t, "go")
	}
	// The one loader announces itself; the other processes wait on it.
	eventually(t, "one process to load", func() bool { return countLines(t, countFile) == 1 })
	eventually(t, "the others to wait", func() bool { return loadStats(t, c).Waits == procs-1 })
	b, _ := os.ReadFile(countFile)
	loaderPid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for _, k := range kids {
		if k.cmd.Process.Pid == loaderPid {
			k.send(t, "release")
		}
	}
	want := fmt.Sprint("got from ", loaderPid)
	for _, k := range kids {
		got, _ := k.results()
		k.wait(t)
		if len(got) != callers {
			t.Fatalf("a child reported %d callers, want %d: %q", len(got), callers, got)
		}
		for _, g := range got {
			if g != want {
				t.Fatalf("a caller %s, want %q", g, want)
			}
		}
	}
	if n := countLines(t, countFile); n != 1 {
		t.Fatalf("the loader ran %d times across %d processes, want 1", n, procs)
	}
	// Loads counts claims, not loader runs: a process whose caller reached
	// the load table only after the load had ended (a loaded machine can
	// start a child late; the Waits the test waits for may all be another
	// process's) claims a load of its own, reads the key once more, finds
	// the value and ends without running its loader. The loader's one run
	// is proved by the count file above.
	if s := loadStats(t, c); s.Loads < 1 || s.Takeovers != 0 || s.Failures != 0 || s.Abandoned != 0 {
		t.Fatalf("load stats %+v, want loads without takeovers, failures or abandons", s)
	}
}

// The loading process is killed mid-load: one waiter takes the load over
// (its liveness check notices the dead slot), loads once more, and every
// waiting caller gets that value; nobody hangs.
func TestLoadTakeoverAfterLoaderKilled(t *testing.T) {
	dir := t.TempDir()
	path, countFile := filepath.Join(dir, "c"), filepath.Join(dir, "loads")
	c := openAt(t, path, &Options{Size: 1 << 20})
	doomed := startLoader(t, path, countFile, "hang", 1)
	doomed.send(t, "go")
	if l := <-doomed.lines; l != "loading" {
		t.Fatalf("doomed child said %q", l)
	}
	const waiters, callers = 3, 4
	var kids []*loaderProc
	for range waiters {
		k := startLoader(t, path, countFile, "quick", callers)
		k.send(t, "go")
		kids = append(kids, k)
	}
	eventually(t, "the waiters to wait", func() bool { return loadStats(t, c).Waits == waiters })
	if err := doomed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	doomed.cmd.Wait()
	var loaders []int
	values := map[string]int{}
	for _, k := range kids {
		got, loading := k.results()
		k.wait(t)
		if loading {
			loaders = append(loaders, k.cmd.Process.Pid)
		}
		for _, g := range got {
			values[g]++
		}
	}
	if len(loaders) != 1 {
		t.Fatalf("%d waiters took the load over, want 1", len(loaders))
	}
	want := fmt.Sprint("got from ", loaders[0])
	if len(values) != 1 || values[want] != waiters*callers {
		t.Fatalf("callers got %v, want %d × %q", values, waiters*callers, want)
	}
	if n := countLines(t, countFile); n != 2 {
		t.Fatalf("%d loads, want 2 (the killed one and the takeover)", n)
	}
	if s := loadStats(t, c); s.Takeovers != 1 {
		t.Fatalf("load stats %+v, want one takeover", s)
	}
}

func init() { childRoles["loadhook"] = loadHookChild }

// loadHookChild stops inside the load table's lock at the point named by
// arg (see testHook in flight.go), prints "at POINT" and waits there to be
// killed. For "load-finish" it first claims the load, prints "claimed" and
// waits for the parent's "end" before it ends the load (as failed, with the
// message "last words").
func loadHookChild(c *Cache, point string) error {
	testHook = func(p string) {
		if p == point {
			fmt.Printf("at %s\n", p)
			holdUntilKilled()
		}
	}
	t, err := c.Loads().Begin([]byte("k"), 0)
	if err != nil {
		return err
	}
	fmt.Println("claimed")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "end" {
		return fmt.Errorf("expected end, got %q", in.Text())
	}
	return c.Loads().End(&t, LoadFailed, "last words")
}

// A process killed holding the load table's lock, halfway through claiming
// a load or halfway through ending one: the next caller takes the lock
// over and gets the load, and a waiter of the load that was ending learns
// that it is over, and how it ended, though its seq word never moved.
func TestLoadTableLockHolderKilled(t *testing.T) {
	for _, point := range []string{"load-claim", "load-finish"} {
		t.Run(point, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c")
			c := openAt(t, path, &Options{Size: 1 << 20})
			k := startChild(t, "loadhook", path, point)
			var w LoadTicket
			if point == "load-finish" {
				if got := k.line(); got != "claimed" {
					t.Fatalf("child said %q\n%s", got, k.stderr)
				}
				var err error
				if w, err = c.Loads().Begin([]byte("k"), 0); err != nil || w.State != LoadWaiting {
					t.Fatalf("waiter's Loads.Begin: %+v, %v", w, err)
				}
				fmt.Fprintln(k.stdin, "end")
			}
			if got := k.line(); got != "at "+point {
				k.cmd.Process.Kill()
				k.cmd.Wait()
				t.Fatalf("child did not stop at %s: %q\n%s", point, got, k.stderr)
			}
			if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			k.cmd.Wait()
			if w.State == LoadWaiting {
				if msg, err := c.Loads().Wait(&w, time.Minute, 0); err != nil || w.State != LoadFailed || msg != "last words" {
					t.Fatalf("the waiter: %v %q, %v; want LoadFailed, last words", w.State, msg, err)
				}
			}
			tk, err := c.Loads().Begin([]byte("k"), 0)
			if err != nil || tk.State != LoadMine {
				t.Fatalf("Loads.Begin after the kill: %+v, %v; want the load", tk, err)
			}
			if err := c.Loads().End(&tk, LoadDone, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Waiters in other processes get the loader's error however busy the
// table is by the time they read it: the flight is kept for them while
// other keys' loads go through the window. The waiting processes are
// stopped (SIGSTOP) across the load's end and the other loads, so that
// they can only read the outcome after the table has moved on.
func TestLoadErrorReachesWaitersAfterTableMovedOn(t *testing.T) {
	dir := t.TempDir()
	path, countFile := filepath.Join(dir, "c"), filepath.Join(dir, "loads")
	c := openAt(t, path, &Options{Size: 1 << 20})
	mine, err := c.Loads().Begin([]byte("cold"), 0)
	if err != nil || mine.State != LoadMine {
		t.Fatalf("Loads.Begin: %+v, %v", mine, err)
	}
	// One caller per child: the table's count of waiters then says when
	// every caller waits (a second goroutine of a child could still be
	// on its way to the key when the child is stopped).
	const procs, callers = 4, 1
	var kids []*loaderProc
	for range procs {
		k := startLoader(t, path, countFile, "quick", callers)
		k.send(t, "go")
		kids = append(kids, k)
	}
	eventually(t, "every child to wait", func() bool { return loadStats(t, c).Waits == procs })
	cont := func() {
		for _, k := range kids {
			k.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(cont) // a failing test must not leave them stopped
	for _, k := range kids {
		if err := k.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Loads().End(&mine, LoadFailed, "db down"); err != nil {
		t.Fatal(err)
	}
	took := churn(t, c, mine.Flight, LoadDone)
	cont()
	want := "err " + (&LoadError{Msg: "db down"}).Error()
	for _, k := range kids {
		got, loading := k.results()
		k.wait(t)
		if loading || len(got) != callers {
			t.Errorf("a child loaded (%v) or reported %d callers: %q", loading, len(got), got)
		}
		for _, g := range got {
			if g != want {
				t.Errorf("a caller %s, want %q", g, want)
			}
		}
	}
	if n := countLines(t, countFile); n != 0 || took[mine.Flight] {
		t.Errorf("%d loads in the children, flight taken by another key: %v; want neither", n, took[mine.Flight])
	}
}

func init() { childRoles["loadwaiter"] = loadWaiterChild }

// loadWaiterChild begins a load of arg, prints "waiting FLIGHT" if another
// caller holds it, and waits to be killed.
func loadWaiterChild(c *Cache, arg string) error {
	t, err := c.Loads().Begin([]byte(arg), 0)
	if err != nil {
		return err
	}
	if t.State != LoadWaiting {
		return fmt.Errorf("Loads.Begin: %v, want waiting", t.State)
	}
	fmt.Println("waiting", t.Flight)
	holdUntilKilled()
	return nil
}

// A waiter that dies keeps nothing: the kernel drops its share of the
// flight with its process, and the flight is free for other loads.
func TestLoadKeepOfDeadWaiter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20})
	mine, err := c.Loads().Begin([]byte("k"), 0)
	if err != nil || mine.State != LoadMine {
		t.Fatalf("Loads.Begin: %+v, %v", mine, err)
	}
	k := startChild(t, "loadwaiter", path, "k")
	if got := k.line(); got != fmt.Sprint("waiting ", mine.Flight) {
		k.cmd.Process.Kill()
		k.cmd.Wait()
		t.Fatalf("child said %q\n%s", got, k.stderr)
	}
	if !c.kept(mine.Flight) {
		t.Fatal("the waiting child does not keep the flight")
	}
	if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	k.cmd.Wait()
	if err := c.Loads().End(&mine, LoadFailed, "db down"); err != nil {
		t.Fatal(err)
	}
	if !churn(t, c, mine.Flight, LoadDone)[mine.Flight] {
		t.Fatal("the dead waiter's flight is still kept")
	}
}

// A loader in another process whose lease runs out mid-load is taken over;
// when it finishes, its value does not replace the one the new loader
// wrote, and its own caller gets what it loaded.
func TestLoadLateLoaderAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	path, countFile := filepath.Join(dir, "c"), filepath.Join(dir, "loads")
	c := openAt(t, path, &Options{Size: 1 << 20})
	slow := startLoader(t, path, countFile, "block", 1, 50*time.Millisecond)
	slow.send(t, "go")
	if l := <-slow.lines; l != "loading" {
		t.Fatalf("child said %q", l)
	}
	// The lease runs out while the child's loader waits for "release":
	// this process takes the load over.
	v, src, err := c.Load(context.Background(), nil, []byte("cold"), func(context.Context, []byte) ([]byte, error) {
		return []byte("from parent"), nil
	}, LoadOptions{})
	if err != nil || string(v) != "from parent" || src != SourceLoaded {
		t.Fatalf("the load that took over: %q, %v, %v", v, src, err)
	}
	slow.send(t, "release")
	got, _ := slow.results()
	slow.wait(t)
	if want := fmt.Sprint("got from ", slow.cmd.Process.Pid); len(got) != 1 || got[0] != want {
		t.Errorf("the late loader's caller: %q, want %q", got, want)
	}
	if v, err := c.Get([]byte("cold")); err != nil || string(v) != "from parent" {
		t.Errorf("after the late loader: %q, %v; want the value of the load that took over", v, err)
	}
	if s := loadStats(t, c); s.Takeovers != 1 {
		t.Errorf("load stats %+v, want one takeover", s)
	}
}
