package shm

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 9, item 6: slot generations are 15 bits in a lock word, so the
// 2^15th claim of a slot reuses a token. A process that died holding a lock
// under that token must still be taken over while the newcomer lives.
// Before AvoidTokens, Lock below waited forever behind the "live" owner
// (checked by removing the AvoidTokens call).
func TestTokenOfADeadOwnerIsNeverReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	r1, err := Open(path, Options{Size: 1 << 20, Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	w, _ := words(r1)
	other := 1 - r1.slot // the slot the next opener claims
	// A process in slot other died holding w under generation 7 + 2^15; the
	// slot's generation has since moved on to 6, so the next claim, 7, makes
	// the very same token.
	atomic.StoreUint32(&r1.slots[other].gen, 6)
	atomic.StoreUint32(w, makeToken(other, 7+genMask+1))

	r2, err := Open(path, Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.slot != other || atomic.LoadUint32(w) != r2.token {
		t.Fatalf("setup: newcomer in slot %d with token %#x, word %#x", r2.slot, r2.token, atomic.LoadUint32(w))
	}
	if err := r2.AvoidTokens([]*uint32{w}); err != nil {
		t.Fatal(err)
	}
	if r2.token == atomic.LoadUint32(w) {
		t.Fatal("AvoidTokens kept a token that a lock word holds")
	}
	done := make(chan bool)
	go func() { done <- r1.Lock(w) }()
	select {
	case takenOver := <-done:
		if !takenOver {
			t.Fatal("the dead owner's lock was not reported as taken over")
		}
		r1.Unlock(w)
	case <-time.After(5 * time.Second):
		atomic.StoreUint32(w, 0) // let the goroutine finish
		t.Fatal("Lock still waits behind a dead owner whose token a live process was given")
	}
}
