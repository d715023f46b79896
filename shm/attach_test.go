package shm

// Tests of Region.Attach: a second attachment to the file a region has
// open, with its own open file description, slot, token and mapping.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	// attached: print the slots that other handles hold, as this process
	// sees them.
	childRoles["attached"] = func(path string) error {
		r, err := Open(path, Options{NoCreate: true})
		if err != nil {
			return err
		}
		defer r.Close()
		as, err := r.Attachments()
		if err != nil {
			return err
		}
		var slots []string
		for _, a := range as {
			if !a.Self {
				slots = append(slots, fmt.Sprint(a.Slot))
			}
		}
		fmt.Println(strings.Join(slots, " "))
		return nil
	}
}

func inode(t *testing.T, fd int) [2]uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return [2]uint64{st.Dev, st.Ino}
}

// Attach maps the file the region has open, not whatever its path names
// by then.
func TestAttachMapsTheOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r")
	r, err := Open(path, Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	other := filepath.Join(dir, "other")
	o, err := Open(other, Options{Size: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}

	a, err := r.Attach()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if inode(t, a.Fd()) != inode(t, r.Fd()) {
		t.Fatal("Attach opened another file than the region's")
	}
	if a.Size() != r.Size() || len(a.Data()) != len(r.Data()) || a.Path() != r.Path() || a.Created() {
		t.Fatalf("Attach: size %d, data %d, path %q, created %v; the region has %d, %d, %q", a.Size(), len(a.Data()), a.Path(), a.Created(), r.Size(), len(r.Data()), r.Path())
	}
	if a.Slot() == r.Slot() || a.Token() == r.Token() {
		t.Fatalf("Attach shares the region's slot %d or token %#x", r.Slot(), r.Token())
	}
	r.Data()[0] = 42
	if a.Data()[0] != 42 {
		t.Fatal("a write through the region is not seen through the attachment")
	}
}

// The attachment's slot lock is held through an open file description of
// its own, so each of the two attachments lives and dies on its own as
// another process sees them (a duplicated descriptor would keep the
// region's slot held until both were closed).
func TestAttachHoldsASlotOfItsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r, err := Open(path, Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, err := r.Attach()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	both := fmt.Sprint(min(r.Slot(), a.Slot()), " ", max(r.Slot(), a.Slot()))
	if got := runChild(t, "attached", path); got != both {
		t.Fatalf("another process sees slots %q attached, want %q", got, both)
	}
	r.Close()
	if got := runChild(t, "attached", path); got != fmt.Sprint(a.Slot()) {
		t.Fatalf("after the region's Close, another process sees slots %q attached, want the attachment's only (%d)", got, a.Slot())
	}
	a.Close()
	if got := runChild(t, "attached", path); got != "" {
		t.Fatalf("after both Closes, another process sees slots %q attached", got)
	}
}

// Attach refuses a closed region, and a file whose header no longer is
// the one the region read.
func TestAttachRefusals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r, err := Open(path, Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.Truncate(path, 2<<20); err != nil {
		t.Fatal(err)
	}
	if a, err := r.Attach(); !errors.Is(err, ErrNotRegion) {
		if a != nil {
			a.Close()
		}
		t.Fatalf("Attach to a region whose file grew: %v, want ErrNotRegion", err)
	}
	r.Close()
	if _, err := r.Attach(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Attach to a closed region: %v, want ErrClosed", err)
	}
}
