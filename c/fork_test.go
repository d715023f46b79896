package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/shm"
)

// buildC compiles the C program src (relative to this package) against
// build/libshmlru.so and returns the binary's path.
func buildC(t *testing.T, src string) string {
	t.Helper()
	cc := testenv.Need(t, "gcc")
	lib := filepath.Dir(testenv.Lib(t))
	inc, _ := filepath.Abs(".")
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	cmd := exec.Command(cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-I", inc, "-o", bin, src,
		"-L", lib, "-lshmlru", "-Wl,-rpath,"+lib, "-lpthread")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling %s: %v\n%s", src, err, out)
	}
	return bin
}

// A C host that forks without exec and then dies must not stay
// attached through its child. The child inherits the region's file
// descriptor, whose open file description holds the parent's slot lock; if
// the child kept it, a shard lock the parent died holding would look alive
// until the child exits too.
func TestForkedChildDoesNotKeepDeadParentAttached(t *testing.T) {
	bin := buildC(t, "test/fork_child.c")
	path := filepath.Join(t.TempDir(), "region")

	// The child answers on stdout and lives until its stdin ends. Both are
	// pipes given to the process as files, so that nothing here waits on
	// the child once the parent is gone.
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	defer inW.Close() // ends the child, if the test stops early
	out := bufio.NewReader(outR)

	line, err := out.ReadString('\n')
	var parent, child int
	if _, serr := fmt.Sscanf(line, "parent %d child %d", &parent, &child); serr != nil {
		cmd.Wait()
		msg, _ := os.ReadFile(stderr.Name())
		t.Fatalf("fork_child printed %q (%v): %s", line, err, msg)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the parent was to die of SIGKILL: %v", err)
	}

	// The parent is dead and reaped; its child lives (it answers below).
	r, err := shm.Open(path, shm.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	as, err := r.Attachments()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if !a.Self {
			t.Errorf("slot %d of pid %d is still held: the parent %d died, but its forked child %d keeps its attachment alive", a.Slot, a.Pid, parent, child)
		}
	}

	if _, err := inW.Write([]byte{'?'}); err != nil {
		t.Fatal(err)
	}
	line, err = out.ReadString('\n')
	if want := fmt.Sprintf("child %d\n", statusForked); line != want {
		t.Fatalf("the forked child answered %q (%v), want %q: it is not alive, or a call in it was not refused", line, err, want)
	}
	inW.Close()
	if rest, err := io.ReadAll(out); err != nil || len(rest) != 0 {
		t.Fatalf("the child's last words: %q %v", rest, err)
	}
}

// Forks while other threads open and close caches: no child may inherit a
// descriptor or a mapping of the region, whatever the other threads were in
// the middle of (see fork_lock in shim.c).
func TestForkWhileOpeningAndClosing(t *testing.T) {
	bin := buildC(t, "test/fork_race.c")
	// A fork held off for ever by the opens and closes would hang.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, filepath.Join(t.TempDir(), "region")).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("fork_race did not finish in a minute: a fork waits behind opens and closes\n%s", out)
	}
	if err != nil || !strings.HasSuffix(string(out), " leaked 0\n") {
		t.Fatalf("fork_race: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
