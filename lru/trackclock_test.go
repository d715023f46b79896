package lru

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeProc makes a /proc/PID directory: ns links (empty: none) and a
// timens_offsets file (nil: none).
func fakeProc(t *testing.T, own, kids string, offsets []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"time": own, "time_for_children": kids} {
		if target != "" {
			if err := os.Symlink(target, filepath.Join(dir, "ns", name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if offsets != nil {
		if err := os.WriteFile(filepath.Join(dir, "timens_offsets"), offsets, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadMonoOffset(t *testing.T) {
	const ns = "time:[4026531834]"
	for _, tc := range []struct {
		name      string
		own, kids string
		offsets   string
		none      bool // no timens_offsets
		want      int64
		err       string
	}{
		{name: "initial", own: ns, kids: ns, offsets: "monotonic           0         0\nboottime            0         0\n"},
		{name: "behind", own: ns, kids: ns, offsets: "monotonic       -1800         0\nboottime            0         0\n", want: -1800e9},
		{name: "ahead, boottime first", own: ns, kids: ns, offsets: "boottime 7 0\nmonotonic 3 250000000\n", want: 3.25e9},
		{name: "a fraction behind", own: ns, kids: ns, offsets: "monotonic -1 500000000\n", want: -0.5e9},
		{name: "clock id", own: ns, kids: ns, offsets: "1 42 0\n7 0 0\n", want: 42e9},
		{name: "no time namespaces", none: true},
		{name: "children's namespace", own: ns, kids: "time:[4026532175]", offsets: "monotonic 60 0\n", err: "time namespace for its children"},
		{name: "no monotonic line", own: ns, kids: ns, offsets: "boottime 0 0\n", err: "no monotonic offset"},
		{name: "garbage", own: ns, kids: ns, offsets: "monotonic x 0\n", err: "no monotonic offset"},
		{name: "nanoseconds out of range", own: ns, kids: ns, offsets: "monotonic 1 1000000000\n", err: "no monotonic offset"},
		{name: "time namespaces, no offsets", own: ns, kids: ns, none: true, err: "mount /proc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var offsets []byte
			if !tc.none {
				offsets = []byte(tc.offsets)
			}
			got, err := readMonoOffset(fakeProc(t, tc.own, tc.kids, offsets))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %d, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	// No /proc at all.
	if _, err := readMonoOffset(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "mount /proc") {
		t.Fatalf("without /proc: %v", err)
	}
	// This process's own, which is what the test runs in.
	if _, err := monoOffset(); err != nil {
		t.Fatalf("this process: %v", err)
	}
}

// A process that cannot tell its offset from the host's clock never takes
// the cache for in step, and publishes nothing.
func TestTrackedClockUnknownIsNotInStep(t *testing.T) {
	c := newCache(t, nil)
	inStep(t, c)
	trackFill(t, c, "k", "v")
	saved := monoOffset
	t.Cleanup(func() { monoOffset = saved })
	monoOffset = func() (int64, error) { return 0, errors.New("no /proc") }
	if _, _, err := c.Tracker().Get(nil, []byte("k")); !errors.Is(err, ErrNotInStep) {
		t.Fatalf("Tracker.Get: %v, want ErrNotInStep", err)
	}
	if _, err := c.Tracker().BeginFill([]byte("k")); !errors.Is(err, ErrNotInStep) {
		t.Fatalf("BeginFill: %v, want ErrNotInStep", err)
	}
	if s, _ := c.Tracker().State(); s.InStep {
		t.Fatalf("TrackState: %+v", s)
	}
	if err := c.Tracker().SetInStep(TrackClock() + 1e9); err == nil {
		t.Fatal("SetInStep published an instant")
	}
	if err := c.Tracker().SetInStep(0); err != nil {
		t.Fatalf("SetInStep(0): %v", err)
	}
	monoOffset = saved
	if _, _, err := c.Tracker().Get(nil, []byte("k")); !errors.Is(err, ErrNotInStep) {
		t.Fatalf("after SetInStep(0): %v", err)
	}
}
