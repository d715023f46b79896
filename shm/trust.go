package shm

// trust.go holds the trust rule: how Open gets the region's file without
// following a link, and which existing files it adopts.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Why a rule at all: /dev/shm is writable by every user. Whoever creates
// NAME there first owns it, so a user who could make Open adopt a file of
// theirs would read every value of its victim and could replace them; one
// who plants a symbolic link at NAME would make the victim create its
// region wherever the link points. So Open never follows a link at the
// region's path (O_NOFOLLOW), creates only a file that did not exist
// (O_EXCL), and adopts an existing file only if everyone who can write it
// is someone the caller trusts:
//
//   - it is a regular file;
//   - its owner is the caller's effective uid, root (who can read and write
//     every process's memory anyway), or a uid in Options.TrustUIDs;
//   - it has no POSIX access ACL. The kernel stores none that the mode bits
//     describe in full, so any ACL found is an extended one: its entries
//     can give named users and groups access that the mode does not show,
//     and the mode's group bits are then only the ACL's mask (a 0660 file
//     whose owning group may only read). Rather than weigh each entry, the
//     rule asks for the mode bits to say everything;
//   - its group and others each have either no access, or read and write:
//     never read alone. A process that can only read the file can still
//     lock bytes of it, and a read lock blocks the write locks that
//     attachments claim slots with: it would stall everyone, and could not
//     even use the region (Open needs read and write);
//   - the group or others have access only if the caller's Mode gives them
//     the same: with the default 0600, a group- or world-writable file is
//     refused; with 0660 a file its group can write is adopted when that
//     group is the caller's effective group, one of its supplementary
//     groups, or in Options.TrustGIDs; with 0666, any file the rest allows;
//   - it has one name, unless it is the caller's and no one else may read
//     or write it (mode 0600) and fs.protected_hardlinks is on: then only
//     the caller (or root) could have linked it. Otherwise a second name
//     could be anyone's doing, and could make a file of the caller's that
//     is not this region (another region, another program's file) open
//     under this name. The refusal names the inode, so that an operator
//     can find the other names.
//
// In a user namespace that does not map every id (a rootless container,
// unshare --user), every unmapped uid reads as the overflow uid
// (/proc/sys/kernel/overflowuid, 65534) and every unmapped gid as the
// overflow gid, both as a file's owner or group and in the caller's own
// credentials (getgroups lists each unmapped group as the overflow gid).
// There that id is no one user or group but all the unmapped ones, so it
// counts as the caller's only when named in TrustUIDs or TrustGIDs. In the
// initial namespace, which maps every id, 65534 is just nobody or nogroup.
//
// The directory is the caller's choice and links on the way to it are
// followed (/dev/shm is itself a link on some systems). Whoever can write a
// directory can remove or rename the files in it, unless it is sticky as
// /dev/shm and /tmp are, but what they put there instead is a file of
// theirs, which the rule refuses: the rule guards whom a region is shared
// with, and a directory others can write only risks a region being deleted.
// Its default ACL would give the files made in it an access ACL: Open
// removes that from a file it creates before giving the file its mode.
//
// What the rule does not do: anyone the region is shared with for writing
// (the group of a 0660 region) can write every byte of it, and so can
// corrupt values and stall other processes (by holding OFD locks on slot or
// flight bytes, say). Sharing write access is trusting the user with the
// cache.

// checkMode refuses a Mode that the rule would refuse on a file: one whose
// owner cannot read and write, or that gives the group or others read
// without write (or write without read).
func checkMode(m os.FileMode) error {
	if m&0o600 != 0o600 {
		return fmt.Errorf("%w: mode %04o does not let the owner read and write the region", ErrBadOptions, m)
	}
	for _, c := range classes {
		if a := access(uint32(m), c.shift); a != 0 && a != rw {
			return fmt.Errorf("%w: mode %04o gives %s %s access to the region; use no access or read and write (0600, 0660 or 0666): a process that can read the file but not write it can lock it and stall every process that uses it, and shmlru cannot open a region without writing it anyway", ErrBadOptions, m, c.name, accessName(a))
		}
	}
	return nil
}

const rw = 0o6 // read and write bits of one class, shifted to the right

var classes = []struct {
	name  string
	shift uint
}{{"its group", 3}, {"others", 0}}

// access returns a class's read and write bits of mode, shifted down to
// rw's place.
func access(mode uint32, shift uint) uint32 { return mode >> shift & rw }

func accessName(a uint32) string {
	if a == 0o4 {
		return "read-only"
	}
	return "write-only"
}

// openFile opens the region's file at path for reading and writing, never
// through a symbolic link, creating it if o allows. A file
// it finds there is adopted only if it passes the rule (see trusted). A
// file that it creates is made with O_EXCL, so it is this caller's; it loses
// any ACL its directory gave it and gets o.Mode at once, and is removed
// again if the directory gave it a group the rule refuses (a set-group-ID
// directory of a group the caller is not in).
func openFile(path string, o *Options) (*os.File, error) {
	const flags = os.O_RDWR | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	// Each round either creates the file, or finds one there; a file that
	// is removed between the two (shmctl rm) sends us round again.
	for round := 0; ; round++ {
		if !o.NoCreate {
			// Created 0600, not o.Mode: the umask could make a 0660 file
			// 0640 for a moment, and a concurrent opener would refuse a
			// file its group can read only.
			f, err := os.OpenFile(path, flags|os.O_CREATE|os.O_EXCL, 0o600)
			if err == nil {
				if err := created(f, path, o); err != nil {
					f.Close()
					return nil, err
				}
				return f, nil
			}
			if !errors.Is(err, os.ErrExist) {
				return nil, explainOpenError(path, err)
			}
		}
		f, err := os.OpenFile(path, flags, 0)
		if errors.Is(err, os.ErrNotExist) && !o.NoCreate && round < 8 {
			continue
		}
		if err != nil {
			return nil, explainOpenError(path, err)
		}
		if err := trusted(f, path, o); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
}

// created gives a file that openFile created its mode, and checks it as it
// would check anyone else's. An access ACL that the directory's default ACL
// gave the file goes first: with it, the chmod to 0660 would set the ACL's
// mask, and so give every user and group it names read and write. Until
// then the file has the group bits of 0600, which the kernel makes the
// mask: the ACL's entries give no one any access meanwhile.
func created(f *os.File, path string, o *Options) error {
	err := dropACL(f, path)
	if err == nil {
		err = f.Chmod(o.Mode)
	}
	if err == nil {
		err = trusted(f, path, o)
	}
	if err == nil {
		return nil
	}
	// Still empty and ours: remove it, unless the name was given to
	// another file meanwhile.
	var st, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) == nil && unix.Lstat(path, &now) == nil && st.Dev == now.Dev && st.Ino == now.Ino {
		os.Remove(path)
	}
	return err
}

// trusted applies the rule to the file open at f, by its descriptor, so
// that what is checked is what will be mapped.
func trusted(f *os.File, path string, o *Options) error {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("shm: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s is not a regular file", ErrNotRegion, path)
	}
	mode, perm := st.Mode&0o777, st.Mode&0o7777
	euid, uid := os.Geteuid(), int(st.Uid)
	namedUID := slices.Contains(o.TrustUIDs, uid)
	if m := readIDMap("uid"); !namedUID && m.unmapped(uid) {
		return fmt.Errorf("%w: %s is owned by uid %d (mode %04o), which in this user namespace is not one user: every user the namespace does not map (see /proc/self/uid_map) reads as uid %d (/proc/sys/kernel/overflowuid), you included if you are not mapped. Open the region from a namespace that maps its owner; or, if every one of those users may read and replace your values, name uid %d in TrustUIDs (shmctl --trust-uid %d)",
			ErrUntrusted, path, uid, perm, m.overflow, uid, uid)
	}
	if uid != euid && uid != 0 && !namedUID {
		return fmt.Errorf("%w: %s is owned by uid %d (mode %04o), not by you (uid %d) or root: its owner could read and replace your values. To share with that user on purpose, name uid %d in TrustUIDs (shmctl --trust-uid %d) and share a group in Mode (0660); otherwise remove the file or choose another name",
			ErrUntrusted, path, uid, perm, euid, uid, uid)
	}
	acl, err := accessACL(fd)
	if err != nil {
		return fmt.Errorf("shm: read the access ACL of %s: %w", path, err)
	}
	if acl != "" {
		return fmt.Errorf("%w: %s (owner uid %d, group %d, mode %04o) has a POSIX access ACL (%s): with one, the mode's group bits are only the ACL's mask and its entries can give users and groups access the mode does not show, so such a file is never opened. Remove the ACL with setfacl -b %s (a process that opened the file while the ACL let it keeps its access for as long as it has the file open or mapped: to be sure, remove the region and create it anew)",
			ErrUntrusted, path, uid, st.Gid, mode, acl, path)
	}
	mine := uint32(o.Mode.Perm())
	for _, c := range classes {
		a := access(mode, c.shift)
		switch {
		case a == 0:
		case a != rw:
			return fmt.Errorf("%w: %s (owner uid %d, group %d, mode %04o) gives %s %s access: a process that can read the file but not write it can lock it and stall every process that uses it, so such a file is never opened. chmod it to 0660 to share it with its group, or to 0600 to keep it private",
				ErrUntrusted, path, uid, st.Gid, mode, c.name, accessName(a))
		case access(mine, c.shift) != rw:
			return fmt.Errorf("%w: %s (owner uid %d, group %d, mode %04o) can be written by %s, and your Mode %04o shares the region with no one beyond %s. Open it with a Mode that shares with them (0660 for the group, 0666 for everyone) if that is meant, or chmod it to %04o",
				ErrUntrusted, path, uid, st.Gid, mode, c.name, mine, sharedWith(mine), mode&(mine|0o700))
		}
	}
	if access(mode, 3) != 0 && access(mine, 0) != rw {
		gid := int(st.Gid)
		if m := readIDMap("gid"); !slices.Contains(o.TrustGIDs, gid) && m.unmapped(gid) {
			return fmt.Errorf("%w: %s (owner uid %d, mode %04o) can be written by its group, gid %d, which in this user namespace is not one group: every group the namespace does not map (see /proc/self/gid_map) reads as gid %d (/proc/sys/kernel/overflowgid), and so do your own unmapped groups. Open the region from a namespace that maps its group; or, if every member of every one of those groups may write your region, name gid %d in TrustGIDs",
				ErrUntrusted, path, uid, mode, gid, m.overflow, gid)
		}
		if !groupTrusted(gid, o) {
			return fmt.Errorf("%w: %s (owner uid %d, mode %04o) can be written by its group, gid %d, which is not one of yours: name gid %d in TrustGIDs to share with it, or chgrp the file to a group you are in",
				ErrUntrusted, path, uid, mode, gid, gid)
		}
	}
	if st.Nlink > 1 {
		if why := extraNamesRisk(uid, euid, mode); why != "" {
			dev := uint64(st.Dev) // Dev is a uint32 on some architectures
			return fmt.Errorf("%w: %s (owner uid %d, mode %04o) has %d names (hard links), and %s: a name someone else gave could make a file of yours that is not this region (another region, another program's file) open under this name. It is inode %d on device %d:%d; as root, find %s -xdev -inum %d lists its names there. Remove the other names, or remove the region and create it anew",
				ErrUntrusted, path, uid, mode, st.Nlink, why, st.Ino, unix.Major(dev), unix.Minor(dev), mountPoint(path, dev), st.Ino)
		}
	}
	return nil
}

// extraNamesRisk says who could have given a file of owner uid and mode
// another name, or "" if no one but its owner (the caller) or root could
// have: the file is the caller's, no one else may read or write it, and
// fs.protected_hardlinks lets only a file's owner, someone who may read and
// write it, or a holder of CAP_FOWNER link it.
func extraNamesRisk(uid, euid int, mode uint32) string {
	switch {
	case !hardlinksProtected():
		return "fs.protected_hardlinks is off (or cannot be read), so any user who can reach the file could have made the others"
	case uid != euid:
		return "it is not yours, so you cannot tell who made the others"
	case mode&0o077 != 0:
		return "its group or others may read and write it, so they could have made the others"
	}
	return ""
}

// hardlinksProtected reports whether fs.protected_hardlinks is on.
func hardlinksProtected() bool {
	b, err := os.ReadFile("/proc/sys/fs/protected_hardlinks")
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

// mountPoint returns the top directory above path that is still on device
// dev: the mount point of the file system holding path, where find can
// look for its other names (bind mounts aside). It falls back to path's
// directory.
func mountPoint(path string, dev uint64) string {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return filepath.Dir(path)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for {
		parent := filepath.Dir(dir)
		var st unix.Stat_t
		if parent == dir || unix.Stat(parent, &st) != nil || uint64(st.Dev) != dev {
			return dir
		}
		dir = parent
	}
}

// aclAccess is the extended attribute holding a file's POSIX access ACL.
const aclAccess = "system.posix_acl_access"

// noACL reports whether err from reading or removing aclAccess means the
// file has no access ACL, or its file system has no ACLs at all.
func noACL(err error) bool {
	return errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

// dropACL removes the access ACL of the file open at f, if it has one.
func dropACL(f *os.File, path string) error {
	if err := unix.Fremovexattr(int(f.Fd()), aclAccess); err != nil && !noACL(err) {
		return fmt.Errorf("shm: remove the access ACL that %s got from its directory's default ACL: %w", path, err)
	}
	return nil
}

// accessACL returns the access ACL of the file open at fd in getfacl's
// short form ("user::rw-,user:4242:rw-,group::rw-,mask::rw-,other::---"),
// or "" if it has none.
func accessACL(fd int) (string, error) {
	buf := make([]byte, 512)
	for tries := 0; ; tries++ {
		n, err := unix.Fgetxattr(fd, aclAccess, buf)
		switch {
		case noACL(err):
			return "", nil
		case errors.Is(err, unix.ERANGE) && tries < 4:
			buf = make([]byte, 2*len(buf)+65536)
			continue
		case err != nil:
			return "", err
		case n == 0:
			return "", nil // not an ACL: the kernel stores none empty
		}
		return aclText(buf[:n]), nil
	}
}

// aclText renders a system.posix_acl_* value (a version word, then entries
// of a tag, permission bits and an id, all little-endian).
func aclText(b []byte) string {
	if len(b) < 4 || (len(b)-4)%8 != 0 {
		return fmt.Sprintf("%d bytes this package cannot read", len(b))
	}
	var entries []string
	for e := b[4:]; len(e) >= 8; e = e[8:] {
		tag := binary.LittleEndian.Uint16(e)
		perm := binary.LittleEndian.Uint16(e[2:])
		id := binary.LittleEndian.Uint32(e[4:])
		var who string
		switch tag {
		case 0x01:
			who = "user:"
		case 0x02:
			who = fmt.Sprintf("user:%d", id)
		case 0x04:
			who = "group:"
		case 0x08:
			who = fmt.Sprintf("group:%d", id)
		case 0x10:
			who = "mask:"
		case 0x20:
			who = "other:"
		default:
			who = fmt.Sprintf("tag %#x:%d", tag, id)
		}
		rwx := []byte("---")
		for i, c := range "rwx" {
			if perm&(4>>i) != 0 {
				rwx[i] = byte(c)
			}
		}
		entries = append(entries, who+":"+string(rwx))
	}
	return strings.Join(entries, ",")
}

// idMap is what the caller's user namespace does with uids or gids it does
// not map: they all read as overflow, and partial says whether there are
// any (false only when the namespace maps every id, as the initial one
// does).
type idMap struct {
	overflow int
	partial  bool
}

// readIDMap reads the caller's idMap for kind "uid" or "gid". What it
// cannot read counts as partial, with the kernel's default overflow id.
func readIDMap(kind string) idMap {
	m := idMap{overflow: 65534, partial: true}
	if b, err := os.ReadFile("/proc/sys/kernel/overflow" + kind); err == nil {
		if id, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			m.overflow = id
		}
	}
	b, err := os.ReadFile("/proc/self/" + kind + "_map")
	if err != nil {
		return m
	}
	// Each line maps a range: first id inside, first id outside, count.
	// The ranges do not overlap, so they cover every id (0 to 2^32-2)
	// exactly when the counts add up to 2^32-1.
	var total uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return m
		}
		total += n
	}
	m.partial = total < 1<<32-1
	return m
}

// unmapped reports whether id may stand for ids the namespace does not map.
func (m idMap) unmapped(id int) bool { return m.partial && id == m.overflow }

// sharedWith names whom a Mode that checkMode accepted shares with.
func sharedWith(m uint32) string {
	switch {
	case access(m, 0) == rw:
		return "everyone"
	case access(m, 3) == rw:
		return "the file's group"
	}
	return "the owner"
}

// groupTrusted reports whether gid is the caller's effective group, one of
// its supplementary groups, or named in o.TrustGIDs. trusted has refused an
// overflow gid standing for unmapped groups before asking.
func groupTrusted(gid int, o *Options) bool {
	if gid == os.Getegid() || slices.Contains(o.TrustGIDs, gid) {
		return true
	}
	groups, err := os.Getgroups()
	return err == nil && slices.Contains(groups, gid)
}

// owned reports whether the caller's effective uid owns the file open at f.
func owned(f *os.File) bool {
	var st unix.Stat_t
	return unix.Fstat(int(f.Fd()), &st) == nil && int(st.Uid) == os.Geteuid()
}
