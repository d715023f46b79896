// Package shm owns a shared-memory region: one file (under /dev/shm by default)
// mapped by every process that uses it.
//
// A region is a fixed-size file laid out as
//
//	[ header page | process slot table | data area ... ]
//
// The header (see header.go) identifies the file as a region, records its
// layout version, byte order and geometry, and carries a ready state that the
// creator writes last. The data area is opaque to this package: the caller
// (package lru) lays out its own structures there, addressed by offsets from
// the start of the data area, so every process sees the same bytes wherever
// the mapping lands in its address space.
//
// Besides the mapping, the package provides the cross-process lock that the
// data area's users need: a 32-bit futex word in shared memory (see mutex.go).
// A process that attaches to a region claims a slot in the slot table and
// holds an OFD lock on it for as long as it stays attached; the kernel drops
// that lock when the process dies, however it dies. A lock word names its
// owner by slot and slot generation, so a waiter can tell a dead owner from a
// live one even when pids are reused or the processes live in different pid
// namespaces (see slots.go for why this beats kill(pid, 0)).
package shm
