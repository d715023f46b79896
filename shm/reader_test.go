package shm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of what a process that can only read the region's file can do to
// those that use it: forge nothing, and stall no one for ever.

func init() {
	// read-lock opens the region read-only, takes a read lock on every
	// slot byte it can and on the first byte of the data area, says how
	// many it took, and holds them until its stdin closes.
	childRoles["read-lock"] = func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h, _, _, err := readHeader(f, path)
		if err != nil {
			return err
		}
		n := 0
		lock := func(off int64) {
			lk := unix.Flock_t{Type: unix.F_RDLCK, Start: off, Len: 1}
			if unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk) == nil {
				n++
			}
		}
		for s := 0; s < int(h.slots); s++ {
			lock(HeaderSize + int64(s)*slotSize)
		}
		lock(int64(h.dataOff))
		fmt.Println("locked", n)
		io.Copy(io.Discard, os.Stdin)
		return nil
	}
}

// startAsUser starts this test binary as a child in role under uid and gid
// (see asUser), and returns it with its stdout as lines; closing stdin
// tells it to finish.
func startAsUser(t *testing.T, role, path string, uid, gid uint32) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := userCmd(t, role, path, uid, gid)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	return cmd, bufio.NewScanner(stdout), stdin
}

// A member of the file's group who can only read it (the owner made it
// 0640 while processes were attached) takes read locks on every free slot
// byte after an attached process died holding a lock: the dead process
// must not look alive (its lock is taken over at once), the read locks are
// no attachment, and a new Open is refused by the trust rule, not stalled.
func TestReaderCannotForgeLiveness(t *testing.T) {
	needRoot(t)
	path := filepath.Join(sharedDir(t), "r")
	r, err := Open(path, Options{Size: testSize, Slots: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, _ := words(r)

	// An attached process dies holding the lock word.
	holder := childCmd(t, "lock-hold", path)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "holding" {
		t.Fatalf("the holder said %q", line)
	}
	holder.Process.Kill()
	holder.Wait()
	dead := atomic.LoadUint32(w)

	// The owner lets the group read the file; a member locks what it can.
	if err := os.Chown(path, 0, squatter); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, lines, _ := startAsUser(t, "read-lock", path, squatter, squatter)
	if !lines.Scan() || lines.Text() != "locked 8" { // 7 free slots and the data byte
		t.Fatalf("the reader said %q", lines.Text())
	}

	if r.Alive(dead) {
		t.Fatal("a reader's read lock on a dead process's slot made it look alive: its locks would never be taken over")
	}
	if as, err := r.Attachments(); err != nil || len(as) != 1 || !as[0].Self {
		t.Fatalf("attachments %+v (%v), want only this one: read locks are not attachments", as, err)
	}
	if held, err := r.RoleHeld(0); err != nil || held {
		t.Fatalf("a read lock on a role's byte reads as the role held (%v, %v)", held, err)
	}
	if !r.Lock(w) {
		t.Fatal("the dead owner's lock was not taken over")
	}
	r.Unlock(w)

	r2, err := Open(path, Options{NoCreate: true, Mode: 0o660})
	if err == nil {
		r2.Close()
		t.Fatal("a region its group can only read was opened")
	}
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "read-only access") {
		t.Fatalf("Open of a region a reader locks: %v, want ErrUntrusted for the read-only group", err)
	}
}

// When every free slot is blocked by read locks, ErrNoSlot says so, and
// what to look for.
func TestSlotsBlockedByReadLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r, err := Open(path, Options{Size: testSize, Slots: 4})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_RDLCK, Start: HeaderSize, Len: 4 * slotSize}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{NoCreate: true})
	if !errors.Is(err, ErrNoSlot) || !strings.Contains(err.Error(), "4 of them are not held by attached processes but blocked by read locks") {
		t.Fatalf("Open with every slot read-locked: %v", err)
	}
}

// A shared flock on a file that is not a ready region yet keeps Open from
// creating it; Open gives up after createWait with ErrBusy naming the
// holder instead of waiting for ever, and creates it once the lock is gone.
func TestCreationLockWaitIsBounded(t *testing.T) {
	defer func(d time.Duration) { createWait = d }(createWait)
	createWait = 100 * time.Millisecond
	path := writeFile(t, nil) // empty: a creation that has not started
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := Open(path, Options{Size: testSize})
		if err == nil {
			r.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		want := fmt.Sprintf("pid %d (shared)", os.Getpid())
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Open behind a held creation lock: %v, want ErrBusy naming %s", err, want)
		}
	case <-time.After(time.Minute):
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		<-done
		t.Fatal("Open waited more than a minute for a creation lock held by a reader")
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	r, err := Open(path, Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Created() {
		t.Fatal("the region was not created once the lock was released")
	}
}
