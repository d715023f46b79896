package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var ratesLine = regexp.MustCompile(`(?m)^rates\s+\d+ hits/s, \d+ misses/s, \d+ sets/s, \d+ deletes/s, \d+ evictions/s, \d+ expirations/s$`)

func TestWatchFrames(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	r := ctl(t, "-r", path, "watch", "--count", "3", "--interval", "20ms").ok(t)
	if n := strings.Count(r.stdout, "shmctl watch  "); n != 3 {
		t.Errorf("%d frames, want 3:\n%s", n, r.stdout)
	}
	if n := len(ratesLine.FindAllString(r.stdout, -1)); n != 2 {
		t.Errorf("%d rate lines, want 2 (frames 2 and 3):\n%s", n, r.stdout)
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("frames to a pipe clear the screen")
	}
	r = ctl(t, "-r", path, "watch", "--count", "2", "--interval", "1ms", "--json").ok(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("--json: %d lines, want 2 frames", len(lines))
	}
	var first, second report
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first.Geometry.Shards != fixtureShards || second.Counters.Sets < first.Counters.Sets || !second.Time.After(first.Time) {
		t.Errorf("frames %+v then %+v", first, second)
	}
	ctl(t, "-r", path, "watch", "--interval", "0s").failed(t, exitUsage, "must be positive")
	ctl(t, "-r", path, "watch", "--interval", "soon").failed(t, exitUsage, "invalid value")
}

// Without --count, watch runs until SIGINT and then exits 0.
func TestWatchUntilInterrupted(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	cmd := exec.Command(shmctlBin, "-r", path, "watch", "--interval", "10ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	rates := 0
	for rates < 2 && sc.Scan() {
		if ratesLine.MatchString(sc.Text()) {
			rates++
		}
	}
	if rates < 2 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("watch stopped drawing: %v", sc.Err())
	}
	cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("watch after SIGINT: %v, want exit status 0", err)
	}
}
