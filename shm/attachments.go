package shm

import "sync/atomic"

// Attachment is one slot of the region's slot table whose OFD lock is held:
// an open handle on the region, in this process or another.
type Attachment struct {
	Slot int  // index in the slot table
	Pid  int  // pid of the process that claimed the slot, in its own pid namespace (informational)
	Self bool // the slot is this Region's own
}

// Attachments lists the slots whose OFD lock is held now, this handle's own
// included (marked Self), in slot order: the handles attached to the region.
// Like Attached it makes one system call per slot that was ever claimed. A
// process that has just taken a slot's lock may not have written its pid
// yet: it shows the slot's previous pid, or 0. It fails with ErrClosed after
// Close and with ErrCorrupt if the slot table's page is gone from the file.
func (r *Region) Attachments() ([]Attachment, error) {
	var list []Attachment
	err := r.guard(func() {
		for s := range r.slots {
			if atomic.LoadUint32(&r.slots[s].gen) != 0 && r.slotHeld(s) {
				list = append(list, Attachment{
					Slot: s,
					Pid:  int(atomic.LoadUint32(&r.slots[s].pid)),
					Self: s == r.slot && !r.retired.Load(),
				})
			}
		}
	})
	return list, err
}

// Slot is the index of this handle's own slot in the slot table: a number
// no other live attachment has, for code that keeps per-attachment state
// in the data area (package lru's read counters).
func (r *Region) Slot() int { return r.slot }

// Slots is how many slots the region's slot table has.
func (r *Region) Slots() int { return len(r.slots) }
