package shm

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// word returns the lock word at the start of the region's data area, and a
// counter beside it.
func words(r *Region) (lock, counter *uint32) {
	d := r.Data()
	return (*uint32)(unsafe.Pointer(&d[0])), (*uint32)(unsafe.Pointer(&d[64]))
}

const lockOps = 20000

func init() {
	childRoles["lock-count"] = func(path string) error {
		r, err := Open(path, Options{NoCreate: true})
		if err != nil {
			return err
		}
		defer r.Close()
		w, n := words(r)
		for i := 0; i < lockOps; i++ {
			r.Lock(w)
			*n++ // a plain read-modify-write: only the lock makes it exact
			r.Unlock(w)
		}
		return nil
	}
	childRoles["lock-hold"] = func(path string) error {
		r, err := Open(path, Options{NoCreate: true})
		if err != nil {
			return err
		}
		w, _ := words(r)
		r.Lock(w)
		fmt.Println("holding")
		// Not select{}: with every goroutine blocked and no timer
		// pending, the runtime declares a deadlock and exits, dropping
		// the lock this child is meant to hold until it is killed.
		for {
			time.Sleep(time.Hour)
		}
	}
}

func TestMutexAcrossProcesses(t *testing.T) {
	r, path := newRegion(t)
	const kids = 4
	var wg sync.WaitGroup
	errs := make(chan error, kids)
	for i := 0; i < kids; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := childCmd(t, "lock-count", path).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("%v: %s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	w, n := words(r)
	if *n != kids*lockOps {
		t.Fatalf("counter %d, want %d: the lock let two processes in", *n, kids*lockOps)
	}
	if atomic.LoadUint32(w) != 0 {
		t.Fatalf("lock word left %#x", *w)
	}
}

// A lock held by a process that dies is taken over by the next waiter.
func TestMutexDeadOwner(t *testing.T) {
	r, path := newRegion(t)
	w, _ := words(r)
	cmd := childCmd(t, "lock-hold", path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "holding\n" {
		t.Fatalf("child: %q", line)
	}
	o, _ := r.LockOwner(w)
	if !o.Held || !o.Alive || o.Pid != cmd.Process.Pid {
		t.Fatalf("owner while held: %+v (child pid %d)", o, cmd.Process.Pid)
	}
	done := make(chan bool)
	go func() { done <- r.Lock(w) }() // waits behind the live owner
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if !<-done {
		t.Fatal("Lock after the owner died did not report a takeover")
	}
	if o, _ := r.LockOwner(w); !o.Held || !o.Alive || o.Pid != os.Getpid() {
		t.Fatalf("owner after takeover: %+v", o)
	}
	r.Unlock(w)
	if r.Lock(w) {
		t.Fatal("an ordinary Lock reported a takeover")
	}
	r.Unlock(w)
}

// A lock word holding garbage (a corrupt or hostile file) is taken over, not
// waited on forever; so is a word naming our own token while we do not hold
// it, and one naming a slot whose generation moved on.
func TestMutexGarbageWord(t *testing.T) {
	r, _ := newRegion(t)
	w, _ := words(r)
	for _, v := range []uint32{0xffffffff, 0x7fff0000 | MaxSlots, r.token, r.token ^ 1<<16} {
		atomic.StoreUint32(w, v)
		if !r.Lock(w) {
			t.Fatalf("lock word %#x was not taken over", v)
		}
		r.Unlock(w)
	}
}

// newRegion creates a region in a temporary directory, closed at cleanup.
func newRegion(t *testing.T) (*Region, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r")
	r, err := Open(path, Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, path
}
