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
//
// # Trust
//
// A region is shared with exactly the users its opener allowed (trust.go).
// Open never follows a symbolic link at the region's path, creates the file
// only with O_EXCL (and removes an access ACL the directory's default ACL
// gave it before giving it Options.Mode), and adopts an existing file only
// if it is owned by the caller, root or a uid in Options.TrustUIDs, has no
// POSIX access ACL, has one name (or is the caller's, mode 0600, under
// fs.protected_hardlinks, so that only the caller or root could have linked
// it), and gives its group and others read and write or nothing, never more
// than Options.Mode shares (a group with access must be one of the caller's,
// or in Options.TrustGIDs, unless Mode shares with everyone). In a user
// namespace that leaves ids unmapped, the overflow uid and gid
// (/proc/sys/kernel/overflowuid and overflowgid, 65534) stand for every
// unmapped user and group, so they count as the caller's own only when named
// in TrustUIDs or TrustGIDs. Anything else is ErrUntrusted, with the owner
// and mode in the message and how to share on purpose (for an ACL,
// setfacl -b; for extra names, the inode to find them by); a Mode that lets
// anyone read without writing is ErrBadOptions.
//
// Why no one may only read: liveness is a write lock on a slot's byte, which
// only a descriptor open for writing can take, so a reader cannot fake an
// attachment, and Alive ignores read locks. But a read lock on a byte blocks
// anyone's write lock there, and a reader can lock every byte of the file:
// no claim scheme inside the file escapes it. The rule keeps such readers
// out instead. Open also never waits without bound on a lock another
// process holds: the creation lock of a region that is not ready is polled
// for at most CreateWait, then ErrBusy names its holder.
//
// What the rule does not do, by design: it decides who may write the
// region, and whoever may is trusted with the cache. A user the owner lets
// write the file (a member of the group of a 0660 region, anyone with 0666)
// can write every byte of it: it can corrupt or replace values, and stall
// other processes (by holding OFD locks on slot or flight bytes, for one).
// Share write access only with users you trust.
package shm
