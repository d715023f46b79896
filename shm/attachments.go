package shm

import "sync/atomic"

// Attachment is one open handle attached to a region: a process holding
// the OFD lock of a slot.
type Attachment struct {
	Slot int
	Pid  int  // pid that claimed the slot, in its own pid namespace (informational)
	Self bool // this handle's own slot
}

// Attachments lists the slots whose OFD lock is held now, this handle's
// own included (marked Self), in slot order. Like Attached it asks the
// kernel about every slot that was ever claimed. A process that has just
// taken a slot's lock may not have written its pid yet: it shows the slot's
// previous pid, or 0. It returns nil after Close or if the mapping faulted.
func (r *Region) Attachments() []Attachment {
	var as []Attachment
	err := r.Guard(func() {
		for s := range r.slots {
			if atomic.LoadUint32(&r.slots[s].gen) != 0 && r.slotHeld(s) {
				as = append(as, Attachment{
					Slot: s,
					Pid:  int(atomic.LoadUint32(&r.slots[s].pid)),
					Self: s == r.slot && !r.retired.Load(),
				})
			}
		}
	})
	if err != nil {
		return nil
	}
	return as
}
