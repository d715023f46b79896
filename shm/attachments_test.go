package shm

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAttachments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	a, err := Open(path, Options{Size: testSize, Slots: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path, Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	list, err := a.Attachments()
	if err != nil || len(list) != 2 {
		t.Fatalf("two handles attached, Attachments = %+v", list)
	}
	for _, at := range list {
		if at.Pid != os.Getpid() || at.Self != (at.Slot == a.slot) || (at.Slot != a.slot && at.Slot != b.slot) {
			t.Fatalf("Attachments = %+v; slots %d (self) and %d, pid %d", list, a.slot, b.slot, os.Getpid())
		}
	}
	b.Close()
	if list, _ := a.Attachments(); len(list) != 1 || !list[0].Self || list[0].Slot != a.slot {
		t.Fatalf("after the other handle closed, Attachments = %+v", list)
	}
}
