package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// Tracked reads and fills through the C ABI (test/track_driver.c, a C
// program on libshmlru.so) while this test plays the host's agent with
// lru on the same region, and reads and fills from Go too: the C calls and
// Go's GetTracked, BeginFill and StoreFill must be one protocol.

// trackDriver is a running track_driver: one command, one answer line.
type trackDriver struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Reader
}

func startTrackDriver(t *testing.T, region string) *trackDriver {
	t.Helper()
	bin := buildC(t, "test/track_driver.c")
	cmd := exec.Command(bin, region)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &trackDriver{t: t, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("track_driver: %v\n%s", err, stderr.String())
		}
	})
	if l := d.line(); l != "ready" {
		t.Fatalf("track_driver said %q, not ready\n%s", l, stderr.String())
	}
	return d
}

func (d *trackDriver) line() string {
	d.t.Helper()
	l, err := d.out.ReadString('\n')
	if err != nil {
		d.t.Fatalf("track_driver: %v", err)
	}
	return strings.TrimSuffix(l, "\n")
}

// do sends one command and returns its answer.
func (d *trackDriver) do(format string, args ...any) string {
	d.t.Helper()
	if _, err := fmt.Fprintf(d.in, format+"\n", args...); err != nil {
		d.t.Fatal(err)
	}
	return d.line()
}

// expect sends one command and checks its answer.
func (d *trackDriver) expect(want, format string, args ...any) {
	d.t.Helper()
	if got := d.do(format, args...); got != want {
		d.t.Errorf("%s: got %q, want %q", fmt.Sprintf(format, args...), got, want)
	}
}

func hexVal(s string) string {
	if s == "" {
		return "-"
	}
	return hex.EncodeToString([]byte(s))
}

func TestTrackedFillsThroughC(t *testing.T) {
	region := filepath.Join(t.TempDir(), "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := startTrackDriver(t, region)

	// No agent yet: not in step. The generation reads 0, and a fill is
	// refused before it begins, its guard zeroed.
	d.expect("0 0", "gen")
	d.expect(fmt.Sprintf("%d 0 0 0", statusNotInStep), "begin k")
	d.expect(fmt.Sprintf("%d -1", statusBadArgument), "store k %s 0 0", hexVal("v"))
	d.expect("notinstep", "read k")

	// The agent takes the role, drops whatever was tracked, and publishes
	// an hour in step.
	must(t, claim(c))
	gen, err := c.InvalidateAll()
	must(t, err)
	d.expect("0 0", "gen") // InvalidateAll leaves the cache not in step
	must(t, c.SetInStep(lru.TrackClock()+int64(time.Hour)))
	d.expect(fmt.Sprintf("0 %d", gen), "gen")

	// A fill from C: stored with the generation as its flags, read by C
	// and by Go.
	if got := d.do("begin k"); !strings.HasPrefix(got, fmt.Sprintf("0 %d ", gen)) {
		t.Fatalf("begin k: %q", got)
	}
	d.expect("0 1", "store k %s 0 60000", hexVal("from C"))
	d.expect(fmt.Sprintf("0 %s %d 0", hexVal("from C"), gen), "get k")
	d.expect("hit "+hexVal("from C"), "read k")
	v, m, err := c.GetTracked(nil, []byte("k"))
	if err != nil || string(v) != "from C" || m.Flags != gen || m.Type != lru.TypeBytes {
		t.Errorf("Go's GetTracked of C's fill: %q %+v %v", v, m, err)
	}

	// A fill from Go, read by C.
	g, err := c.BeginFill([]byte("gk"))
	must(t, err)
	if ok, err := c.StoreFill([]byte("gk"), []byte("from Go"), false, lru.WriteOptions{TTL: time.Minute}, g); !ok || err != nil {
		t.Fatalf("StoreFill: %v %v", ok, err)
	}
	d.expect("hit "+hexVal("from Go"), "read gk")

	// A cached absence, both ways.
	d.expect(fmt.Sprintf("0 %d", gen), "gen")
	if got := d.do("begin none"); !strings.HasPrefix(got, "0 ") {
		t.Fatalf("begin none: %q", got)
	}
	d.expect(fmt.Sprintf("%d -1", statusBadValue), "store none %s 1 0", hexVal("x")) // an absence has no value
	d.expect("0 1", "store none - 1 0")
	d.expect(fmt.Sprintf("0 - %d %d", gen, lru.TypeNone), "get none")
	d.expect("absent", "read none")
	if _, m, err := c.GetTracked(nil, []byte("none")); err != nil || m.Type != lru.TypeNone {
		t.Errorf("Go's GetTracked of C's absence: %+v %v", m, err)
	}
	g, err = c.BeginFill([]byte("gnone"))
	must(t, err)
	if ok, err := c.StoreFill([]byte("gnone"), nil, true, lru.WriteOptions{}, g); !ok || err != nil {
		t.Fatalf("StoreFill absent: %v %v", ok, err)
	}
	d.expect("absent", "read gnone")

	// The key changes in the store between C's begin and store: the agent
	// invalidates it, and the fill keeps nothing (the race Redis calls
	// "caching in progress").
	if got := d.do("begin race"); !strings.HasPrefix(got, "0 ") {
		t.Fatalf("begin race: %q", got)
	}
	must(t, c.Invalidate([]byte("race")))
	d.expect("0 0", "store race %s 0 0", hexVal("old"))
	d.expect(fmt.Sprint(statusNotFound), "get race")
	d.expect("miss", "read race")
	if _, _, err := c.GetTracked(nil, []byte("race")); err != lru.ErrNotFound {
		t.Errorf("Go's GetTracked of a refused fill: %v", err)
	}
	// Go's fill is refused the same way, and C finds nothing either.
	g, err = c.BeginFill([]byte("race"))
	must(t, err)
	must(t, c.Invalidate([]byte("race")))
	if ok, err := c.StoreFill([]byte("race"), []byte("old"), false, lru.WriteOptions{}, g); ok || err != nil {
		t.Errorf("Go's StoreFill after Invalidate: %v %v", ok, err)
	}
	d.expect("miss", "read race")

	// The agent drops everything (its stream lost messages): every tracked
	// copy is from an older generation, a fill begun before is refused,
	// and once in step again the generation reads differently.
	if got := d.do("begin late"); !strings.HasPrefix(got, "0 ") {
		t.Fatalf("begin late: %q", got)
	}
	gen2, err := c.InvalidateAll()
	must(t, err)
	if gen2 == gen {
		t.Fatalf("InvalidateAll kept generation %d", gen)
	}
	d.expect("0 0", "gen")
	d.expect("notinstep", "read k")
	d.expect(fmt.Sprintf("%d 0 0 0", statusNotInStep), "begin k")
	must(t, c.SetInStep(lru.TrackClock()+int64(time.Hour)))
	d.expect(fmt.Sprintf("0 %d", gen2), "gen")
	d.expect("0 0", "store late %s 0 0", hexVal("from before"))
	d.expect("miss", "read late")
	d.expect("miss", "read k")  // flags gen, not gen2
	d.expect("miss", "read gk") // Go's fill too
	if _, _, err := c.GetTracked(nil, []byte("k")); err != lru.ErrNotFound {
		t.Errorf("Go's GetTracked of an old generation's copy: %v", err)
	}

	// C and Go read one clock (CLOCK_MONOTONIC): an instant a moment past
	// is out of step for C at once, one a little ahead is in step until it
	// passes. A clock of another origin would be decades off either way.
	must(t, c.SetInStep(0))
	d.expect("0 0", "gen")
	must(t, c.SetInStep(lru.TrackClock()-int64(time.Millisecond)))
	d.expect("0 0", "gen")
	must(t, c.SetInStep(0))
	until := lru.TrackClock() + int64(time.Second)
	must(t, c.SetInStep(until))
	d.expect(fmt.Sprintf("0 %d", gen2), "gen")
	time.Sleep(time.Duration(until - lru.TrackClock() + int64(time.Millisecond)))
	d.expect("0 0", "gen")

	s, err := c.TrackState()
	must(t, err)
	if s.Counters.Refused != 3 {
		t.Errorf("refused fills: %d, want 3 (two from C, one from Go)", s.Counters.Refused)
	}
}

// claim takes the agent role, as the host's agent does first.
func claim(c *lru.Cache) error {
	ok, err := c.ClaimAgent()
	if err == nil && !ok {
		err = fmt.Errorf("ClaimAgent: another attachment holds the role")
	}
	return err
}
