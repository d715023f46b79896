package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// driver is a C test driver (a program in test/ on libshmlru.so) spoken to
// one line at a time over its stdin and stdout. Its stderr is kept for the
// failure messages: a driver that dies says why there.
type driver struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *strings.Builder
	closed bool
}

// startDriver starts argv (a driver and its arguments, after a command
// prefix such as unshare if one is wanted). The driver is killed when the
// test ends unless Close has waited for it, so that a test that fails
// midway leaves none behind.
func startDriver(t *testing.T, argv ...string) *driver {
	t.Helper()
	d := &driver{t: t, cmd: exec.Command(argv[0], argv[1:]...), stderr: new(strings.Builder)}
	d.cmd.Stderr = d.stderr
	var err error
	if d.in, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.out = bufio.NewReader(out)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !d.closed {
			d.Kill()
		}
	})
	return d
}

// Await reads the driver's next line and fails the test unless it is want
// (the driver's "ready", or the point it stopped at).
func (d *driver) Await(want string) {
	d.t.Helper()
	if l := d.Line(); l != want {
		d.t.Fatalf("driver said %q, not %q\n%s", l, want, d.stderr)
	}
}

// Line returns the driver's next line of output, without its newline.
func (d *driver) Line() string {
	d.t.Helper()
	l, err := d.out.ReadString('\n')
	if err != nil {
		d.t.Fatalf("driver died after %q: %v\n%s", l, err, d.stderr)
	}
	return strings.TrimSuffix(l, "\n")
}

// Ask sends one line and returns the driver's answer.
func (d *driver) Ask(line string) string {
	d.t.Helper()
	if _, err := fmt.Fprintln(d.in, line); err != nil {
		d.t.Fatalf("driver gone at %q: %v\n%s", line, err, d.stderr)
	}
	return d.Line()
}

// Expect sends one command and reports an error unless its answer is want.
func (d *driver) Expect(want, format string, args ...any) {
	d.t.Helper()
	if got := d.Ask(fmt.Sprintf(format, args...)); got != want {
		d.t.Errorf("%s: got %q, want %q", fmt.Sprintf(format, args...), got, want)
	}
}

// Kill kills the driver and waits for it to be gone.
func (d *driver) Kill() {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.closed = true
}

// Close ends the driver's input and fails the test unless it then exits
// cleanly.
func (d *driver) Close() {
	d.t.Helper()
	d.in.Close()
	err := d.cmd.Wait()
	d.closed = true
	if err != nil {
		d.t.Fatalf("driver: %v\n%s", err, d.stderr)
	}
}
