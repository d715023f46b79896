package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idleRegion returns a region with the fixture in it and no process
// attached: its creator has closed it and exited.
func idleRegion(t *testing.T) string {
	t.Helper()
	path, creator := liveRegion(t, "hold")
	creator.stop(t)
	return path
}

func TestRmAsksFirst(t *testing.T) {
	path := idleRegion(t)
	for _, answer := range []string{"n\n", "", "whatever\n"} {
		r := ctlWith(t, runOpts{stdin: answer}, "-r", path, "rm")
		// The prompt (which the typed answer ends on a terminal), then
		// the error on a line of its own.
		prompt := "remove " + path + " (57 entries, 4 MiB)? [y/N] "
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

// who is "pid 12" or "pids 12, 34", in ascending order, as rm names them.
func who(pids ...int) string {
	pids = slices.Sorted(slices.Values(pids))
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = fmt.Sprint(p)
	}
	if len(s) == 1 {
		return "pid " + s[0]
	}
	return "pids " + strings.Join(s, ", ")
}

// inUseBy is rm's refusal for the given pids.
func inUseBy(path string, pids ...int) string {
	return path + " is in use by " + who(pids...) + "; stop them first, or --force to remove it anyway (they keep the old file mapped while new openers create a new one)"
}

// rm refuses a region that processes use, naming each live one (a dead
// one holds nothing), until --force; the processes are not disturbed.
func TestRmRefusesWhileInUse(t *testing.T) {
	path, busy := liveRegion(t, "busy")
	idle := startChild(t, "attach", path)
	dead := startChild(t, "attach", path)
	dead.kill(t)
	busyPid, idlePid := busy.cmd.Process.Pid, idle.cmd.Process.Pid

	for _, args := range [][]string{{"--yes"}, {}} {
		// Without --yes too, before asking: one line on stderr, no prompt.
		r := ctl(t, append([]string{"-r", path, "rm"}, args...)...)
		r.failed(t, exitFail, "rm: "+inUseBy(path, busyPid, idlePid)+"\n")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("removed while in use: %v", err)
	}
	// --force asks, and says who keeps the old file.
	r := ctlWith(t, runOpts{stdin: "n\n"}, "-r", path, "rm", "--force")
	if !strings.HasPrefix(r.stderr, "remove "+path+" (") ||
		!strings.Contains(r.stderr, ", in use by "+who(busyPid, idlePid)+", which keep the old file mapped)? [y/N] ") {
		t.Errorf("rm --force prompt: %q", r.stderr)
	}
	r.stderr = r.stderr[strings.Index(r.stderr, "[y/N] ")+len("[y/N] "):]
	r.failed(t, exitFail, path+" not removed")

	idle.stop(t)
	ctl(t, "-r", path, "rm", "--yes").failed(t, exitFail, inUseBy(path, busyPid))
	ctl(t, "-r", path, "rm", "--yes", "--force").ok(t)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("still there after --force: %v", err)
	}
	busy.stop(t) // it kept working on its mapping and exits cleanly
	ctl(t, "-r", path, "rm", "--yes").failed(t, exitFail, "no such region")
}

// A process that attaches while rm waits for its answer is seen: rm looks
// again after the answer.
func TestRmLooksAgainAfterTheQuestion(t *testing.T) {
	path := idleRegion(t)
	cmd := exec.Command(shmctlBin, "-r", path, "rm")
	cmd.Env = append(childEnv(), regionEnv+"=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errs := bufio.NewReader(stderr)
	var prompt []byte
	for !bytes.HasSuffix(prompt, []byte("? [y/N] ")) {
		b, err := errs.ReadByte()
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no prompt from rm: %q, %v", prompt, err)
		}
		prompt = append(prompt, b)
	}
	if want := "remove " + path + " (57 entries, 4 MiB)? [y/N] "; string(prompt) != want {
		t.Errorf("prompt %q, want %q", prompt, want)
	}
	late := startChild(t, "attach", path)
	io.WriteString(stdin, "y\n")
	stdin.Close()
	rest, _ := io.ReadAll(errs)
	err = cmd.Wait()
	r := result{stderr: string(rest)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	r.failed(t, exitFail, inUseBy(path, late.cmd.Process.Pid))
	if _, err := os.Stat(path); err != nil {
		t.Errorf("removed although a process attached before the answer: %v", err)
	}
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
