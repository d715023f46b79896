package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRmAsksFirst(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	for _, answer := range []string{"n\n", "", "whatever\n"} {
		r := ctlWith(t, runOpts{stdin: answer}, "-r", path, "rm")
		// The prompt (which the typed answer ends on a terminal), then
		// the error on a line of its own.
		prompt := "remove " + path + " (57 entries, 4 MiB, 1 process attached keep their mapping)? [y/N] "
		if answer == "" {
			prompt += "\n"
		}
		after, ok := strings.CutPrefix(r.stderr, prompt)
		if !ok {
			t.Fatalf("answer %q: stderr %q does not start with the prompt %q", answer, r.stderr, prompt)
		}
		r.stderr = after
		r.failed(t, exitFail, path+" not removed")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("removed without a yes: %v", err)
	}
	r := ctlWith(t, runOpts{stdin: "y\n"}, "-r", path, "rm").ok(t)
	if r.stdout != "removed "+path+"\n" {
		t.Errorf("rm: %q", r.stdout)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("still there: %v", err)
	}
}

// The child keeps using its mapping after rm --yes and exits cleanly.
func TestRmYesWhileInUse(t *testing.T) {
	path, busy := liveRegion(t, "busy")
	ctl(t, "-r", path, "rm", "--yes").ok(t)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("still there: %v", err)
	}
	busy.stop(t)
	ctl(t, "-r", path, "rm", "--yes").failed(t, exitFail, "no such region")
}

func TestRmRefusesWhatIsNoRegion(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "notes.txt")
	os.WriteFile(foreign, []byte("not a cache"), 0o600)
	ctl(t, "-r", foreign, "rm", "--yes").failed(t, exitFail, "refusing to remove it (--force removes it anyway)")
	ctl(t, "-r", dir, "rm", "--yes", "--force").failed(t, exitFail, "not a regular file")
	if _, err := os.Stat(foreign); err != nil {
		t.Fatal(err)
	}
	ctl(t, "-r", foreign, "rm", "--yes", "--force").ok(t)
	if _, err := os.Stat(foreign); !os.IsNotExist(err) {
		t.Errorf("--force did not remove it: %v", err)
	}
}
