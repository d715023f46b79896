package shm

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Slot generations are 15 bits in a lock word, so the
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

// TokenLayout is what code outside Go (the C library) decodes lock words
// with: it must decode every token makeToken makes, and its fields must
// not overlap.
func TestTokenLayoutDecodesTokens(t *testing.T) {
	tl := TokenLayout()
	genField := tl.GenMask << tl.GenShift
	if tl.WaitersBit&(tl.SlotMask|genField) != 0 || tl.SlotMask&genField != 0 || tl.WaitersBit|tl.SlotMask|genField != 0xffffffff {
		t.Errorf("fields overlap or leave bits unused: waiters %#x, slot %#x, gen %#x", tl.WaitersBit, tl.SlotMask, genField)
	}
	for _, slot := range []int{0, 1, 77, MaxSlots - 1} {
		for _, gen := range []uint32{0, 1, 0x1234, genMask, genMask + 1, 0xffffffff} {
			tok := makeToken(slot, gen)
			if s := int(tok&tl.SlotMask) - 1; s != slot {
				t.Errorf("makeToken(%d, %#x) = %#x: TokenLayout decodes slot %d", slot, gen, tok, s)
			}
			if g := tok >> tl.GenShift & tl.GenMask; g != gen&genMask {
				t.Errorf("makeToken(%d, %#x) = %#x: TokenLayout decodes generation %#x", slot, gen, tok, g)
			}
			if tok&tl.WaitersBit != 0 || tok&tl.SlotMask == tl.OrphanToken {
				t.Errorf("makeToken(%d, %#x) = %#x has the waiters bit or the orphan slot", slot, gen, tok)
			}
		}
	}
	if tl.OrphanToken&^tl.SlotMask != 0 {
		t.Errorf("orphan token %#x has bits outside the slot field", tl.OrphanToken)
	}
}
