package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"golang.org/x/sys/unix"
)

// Tests of the trust rule (trust.go). The attacks run as a real second
// user: a child process of this test binary under uid and gid 65534
// (nobody), started by asUser.

const squatter = 65534

func init() {
	// squat creates a valid region that everyone may read and write, as
	// someone lying in wait for another user's name would.
	childRoles["squat"] = func(path string) error {
		r, err := Open(path, Options{Size: testSize, Mode: 0o666})
		if err != nil {
			return err
		}
		return r.Close()
	}
	// plant-link makes path a symbolic link to path + ".target".
	childRoles["plant-link"] = func(path string) error {
		return os.Symlink(filepath.Base(path)+".target", path)
	}
}

// sharedDir returns a directory under Dir that every user may create files
// in. It is not sticky, so the kernel's protected_regular and
// protected_symlinks settings, which only guard sticky directories, play no
// part: what refuses a squatter's file or link is the trust rule alone.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(Dir, "shmlru-trust-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func needRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "run a child as another user")
}

// Another user creates the region first, as a valid region everyone may
// write: Open, with or without NoCreate, refuses it, naming its owner and
// mode and saying how to share on purpose, instead of handing the squatter
// every value. Naming the owner in TrustUIDs and sharing with everyone in
// Mode is how to share such a region on purpose.
func TestSquattedRegionIsRefused(t *testing.T) {
	needRoot(t)
	path := filepath.Join(sharedDir(t), "r")
	if out, err := asUser(t, "squat", path, squatter, squatter); err != nil {
		t.Fatalf("the squatter could not create its region: %v %s", err, out)
	}
	for _, o := range []Options{{Size: testSize}, {NoCreate: true}, {NoCreate: true, Mode: 0o666}} {
		r, err := Open(path, o)
		if err == nil {
			r.Close()
			t.Fatalf("Open(%+v) adopted a region another user made", o)
		}
		for _, want := range []string{"uid 65534", "mode 0666", "TrustUIDs"} {
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Open(%+v) = %v; want ErrUntrusted saying %q", o, err, want)
			}
		}
	}
	// Trusting the owner is not enough while the default Mode shares with
	// no one: the file is world-writable.
	if _, err := Open(path, Options{NoCreate: true, TrustUIDs: []int{squatter}}); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "can be written by its group") {
		t.Fatalf("a trusted owner's world-writable file with Mode 0600: %v", err)
	}
	r, err := Open(path, Options{NoCreate: true, TrustUIDs: []int{squatter}, Mode: 0o666})
	if err != nil {
		t.Fatalf("sharing on purpose: %v", err)
	}
	r.Close()
}

// A symbolic link planted at the region's path is never followed: Open
// neither creates a region where it points nor opens one there.
func TestSymlinkAtRegionPathIsNotFollowed(t *testing.T) {
	needRoot(t)
	path := filepath.Join(sharedDir(t), "r")
	target := path + ".target"
	if out, err := asUser(t, "plant-link", path, squatter, squatter); err != nil {
		t.Fatalf("planting the link: %v %s", err, out)
	}
	check := func(what string, o Options) {
		t.Helper()
		r, err := Open(path, o)
		if err == nil {
			r.Close()
			t.Fatalf("%s: Open(%+v) followed the link", what, o)
		}
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("%s: Open(%+v) = %v, want ErrUntrusted saying it is a symbolic link", what, o, err)
		}
	}
	check("dangling link", Options{Size: testSize})
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created a file where the link points: %v", err)
	}
	// A link to a valid region of the caller's own is not followed either.
	r, err := Open(target, Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	check("link to a region", Options{Size: testSize})
	check("link to a region, NoCreate", Options{NoCreate: true})
}

// The rule's cases one by one, on files the test makes and hands to other
// owners and groups with chown: who owns a file and who may write it
// decides, whatever else the file holds.
func TestTrustRule(t *testing.T) {
	needRoot(t)
	const other, otherGroup = 4242, 4243
	cases := []struct {
		name     string
		uid, gid int
		mode     os.FileMode
		o        Options
		want     string // "" to adopt, else part of the error
	}{
		{"mine, private", 0, 0, 0o600, Options{}, ""},
		{"mine, group-writable, Mode 0600", 0, 0, 0o660, Options{}, "can be written by its group"},
		{"mine, group-writable, Mode 0660", 0, 0, 0o660, Options{Mode: 0o660}, ""},
		{"mine, world-writable, Mode 0660", 0, 0, 0o666, Options{Mode: 0o660}, "can be written by others"},
		{"mine, world-writable, Mode 0666", 0, 0, 0o666, Options{Mode: 0o666}, ""},
		{"group reads only", 0, 0, 0o640, Options{Mode: 0o660}, "read-only access"},
		{"others read only", 0, 0, 0o604, Options{Mode: 0o666}, "read-only access"},
		{"group writes only", 0, 0, 0o620, Options{Mode: 0o660}, "write-only access"},
		{"another user's, private", other, 0, 0o600, Options{}, "owned by uid 4242"},
		{"another user's, trusted", other, 0, 0o600, Options{TrustUIDs: []int{other}}, ""},
		{"a group not mine", 0, otherGroup, 0o660, Options{Mode: 0o660}, "gid 4243, which is not one of yours"},
		{"a group named in TrustGIDs", 0, otherGroup, 0o660, Options{Mode: 0o660, TrustGIDs: []int{otherGroup}}, ""},
		{"a group not mine, shared with everyone", 0, otherGroup, 0o666, Options{Mode: 0o666}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r")
			r, err := Open(path, Options{Size: testSize})
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			if err := os.Chown(path, tc.uid, tc.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			tc.o.NoCreate = true
			r, err = Open(path, tc.o)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				r.Close()
				return
			}
			if err == nil {
				r.Close()
				t.Fatalf("adopted, want an error saying %q", tc.want)
			}
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v; want ErrUntrusted saying %q", err, tc.want)
			}
		})
	}
}

// A region of the caller's that no one else may read or write (0600) may
// have other names: under fs.protected_hardlinks only its owner or root
// could have made them. One its group may write is refused with a second
// name, which any member could have given it.
func TestHardLinkedRegion(t *testing.T) {
	if !hardlinksProtected() {
		t.Skip("fs.protected_hardlinks is off")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "r")
	r, err := Open(path, Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := os.Link(path, filepath.Join(dir, "other")); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{NoCreate: true}, {NoCreate: true, Mode: 0o660}} {
		r, err := Open(path, o)
		if err != nil {
			t.Fatalf("Open(%+v) of a private region of ours with a second name: %v", o, err)
		}
		r.Close()
	}
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{NoCreate: true, Mode: 0o660}); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "hard links") || !strings.Contains(err.Error(), "-xdev -inum") {
		t.Fatalf("a hard-linked region its group may write: %v", err)
	}
}

// A region created in a set-group-ID directory gets the directory's group:
// when that is not a group of the caller's, the caller shares with people
// it never named, so Open refuses and removes the file it created.
func TestCreatedInForeignGroupDirectory(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := os.Chown(dir, 0, 4243); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "r")
	if _, err := Open(path, Options{Size: testSize, Mode: 0o660}); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "gid 4243") {
		t.Fatalf("created with a group not ours: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused file was left: %v", err)
	}
	// Private, the directory's group gets nothing and the region is fine.
	r, err := Open(path, Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// Modes that give a class read without write, or the owner less than both,
// are bad options: nothing is created.
func TestReadOnlyModesAreBadOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	for _, m := range []os.FileMode{0o640, 0o644, 0o604, 0o620, 0o400, 0o060} {
		if _, err := Open(path, Options{Size: testSize, Mode: m}); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Mode %04o: %v, want ErrBadOptions", m, err)
		}
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused Mode left a file: %v", err)
	}
}

// Users and groups for the tests that need more than one other user.
const (
	outsider    = 4242 // in no group of the region's
	teamGroup   = 4243 // the sharing group
	teamOwner   = 4244 // a region's owner, in teamGroup
	teamMember  = 4245 // another member of teamGroup
	unmappedGID = 4246 // a group of teamOwner's that a user namespace leaves unmapped
)

func init() {
	// raw-rw opens path for reading and writing, as any process the
	// kernel lets do so can: no library, no rule.
	childRoles["raw-rw"] = func(path string) error {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		return f.Close()
	}
	// create-0660 creates (or opens) the region shared with the caller's
	// group.
	childRoles["create-0660"] = func(path string) error {
		r, err := Open(path, Options{Size: testSize, Mode: 0o660})
		if err != nil {
			return err
		}
		return r.Close()
	}
	// open-0666 opens an existing region shared with everyone.
	childRoles["open-0666"] = func(path string) error {
		r, err := Open(path, Options{NoCreate: true, Mode: 0o666})
		if err != nil {
			return err
		}
		return r.Close()
	}
	// hardlink gives path a second name in a directory of the caller's
	// own that no one else may write (path + ".member/link").
	childRoles["hardlink"] = func(path string) error {
		dir := path + ".member"
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		return os.Link(path, filepath.Join(dir, "link"))
	}
	// acl-dir makes path + ".dir", which everyone may write, with a
	// default ACL that gives the caller read and write on every file made
	// in it.
	childRoles["acl-dir"] = func(path string) error {
		dir := path + ".dir"
		if err := os.Mkdir(dir, 0o777); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		return unix.Setxattr(dir, "system.posix_acl_default", posixACL(7, uint32(os.Getuid()), 6, 7, 7, 7), 0)
	}
}

// aclEntry is an entry of a POSIX ACL: a tag (user::, user:ID:, group::,
// group:ID:, mask::, other:: are 0x01, 0x02, 0x04, 0x08, 0x10, 0x20),
// permission bits (rwx as 4, 2, 1) and an id for the named tags.
type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// encodeACL encodes a POSIX access or default ACL as the value of its
// extended attribute (system.posix_acl_*), as setfacl would.
func encodeACL(entries ...aclEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// posixACL encodes an ACL with the owner, a named user, the owning group,
// the mask and others.
func posixACL(ownerPerm uint16, named uint32, namedPerm, group, mask, other uint16) []byte {
	const undefined = 0xffffffff
	return encodeACL(aclEntry{0x01, ownerPerm, undefined}, aclEntry{0x02, namedPerm, named}, aclEntry{0x04, group, undefined}, aclEntry{0x10, mask, undefined}, aclEntry{0x20, other, undefined})
}

// An outsider makes a directory everyone may write, as /tmp and /dev/shm
// are, with a default ACL that names itself. A region created there with
// Mode 0660 would inherit an access ACL, and the chmod to 0660 would make
// its mask rw: the outsider, in none of the caller's groups, could write
// it. Open removes the inherited ACL before the chmod, so the file is
// shared with its group alone.
func TestCreatedRegionLosesInheritedACL(t *testing.T) {
	needRoot(t)
	// Unique on the host: two runs of the tests at once must not share it.
	base := filepath.Join(Dir, fmt.Sprintf("shmlru-acl-test-%d", os.Getpid()))
	dir := base + ".dir"
	t.Cleanup(func() { os.RemoveAll(dir) })
	if out, err := asUser(t, "acl-dir", base, outsider, outsider); err != nil {
		if strings.Contains(out, "operation not supported") {
			t.Skipf("no POSIX ACLs on %s: %s", Dir, out)
		}
		t.Fatalf("the outsider's directory: %v %s", err, out)
	}
	path := filepath.Join(dir, "r")
	r, err := Open(path, Options{Size: testSize, Mode: 0o660})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	r.Close()
	if n, err := unix.Getxattr(path, "system.posix_acl_access", nil); !errors.Is(err, unix.ENODATA) {
		t.Errorf("the created region has an access ACL (%d bytes, %v)", n, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("the created region: %v %v, want mode 0660", st, err)
	}
	if out, err := asUser(t, "raw-rw", path, outsider, outsider); err == nil {
		t.Errorf("uid %d, in none of the caller's groups, can write a region created with Mode 0660 in its directory (its default ACL names it)", outsider)
	} else if !strings.Contains(out, "permission denied") {
		t.Fatalf("the outsider: %v %s", err, out)
	}
	// A member of the file's group still opens it.
	if err := os.Chown(path, 0, teamGroup); err != nil {
		t.Fatal(err)
	}
	if out, err := asUser(t, "raw-rw", path, teamMember, teamGroup); err != nil {
		t.Fatalf("a member of the region's group: %v %s", err, out)
	}
}

// A file with an access ACL is never adopted, whatever the ACL says: one
// naming a user outside the file's group, as the outsider's directory gave
// its files, and one whose owning group may only read while the mode's
// group bits (the ACL's mask) say read and write. The error names the ACL
// and says to remove it with setfacl -b; once removed, the file opens.
func TestRegionWithAccessACLIsRefused(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name string
		acl  []byte
		want string
	}{
		{"a named user", posixACL(6, outsider, 6, 6, 6, 0), "user::rw-,user:4242:rw-,group::rw-,mask::rw-,other::---"},
		{"a read-only group under a rw mask", encodeACL(aclEntry{0x01, 6, 0xffffffff}, aclEntry{0x04, 4, 0xffffffff}, aclEntry{0x10, 6, 0xffffffff}, aclEntry{0x20, 0, 0xffffffff}), "user::rw-,group::r--,mask::rw-,other::---"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r")
			r, err := Open(path, Options{Size: testSize})
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			if err := unix.Setxattr(path, "system.posix_acl_access", tc.acl, 0); err != nil {
				if errors.Is(err, unix.EOPNOTSUPP) {
					t.Skipf("no POSIX ACLs here: %v", err)
				}
				t.Fatal(err)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o660 {
				t.Fatalf("mode %v with the ACL, want 0660 (its mask)", st.Mode().Perm())
			}
			for _, o := range []Options{{NoCreate: true, Mode: 0o660}, {Size: testSize, Mode: 0o660}, {NoCreate: true, Mode: 0o666}} {
				r, err := Open(path, o)
				if err == nil {
					r.Close()
					t.Fatalf("Open(%+v) adopted a file with an access ACL", o)
				}
				t.Logf("refused: %v", err)
				for _, want := range []string{"POSIX access ACL", tc.want, "setfacl -b " + path} {
					if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) {
						t.Fatalf("Open(%+v) = %v; want ErrUntrusted saying %q", o, err, want)
					}
				}
			}
			if err := unix.Removexattr(path, "system.posix_acl_access"); err != nil { // setfacl -b
				t.Fatal(err)
			}
			r, err = Open(path, Options{NoCreate: true, Mode: 0o660})
			if err != nil {
				t.Fatalf("without the ACL: %v", err)
			}
			r.Close()
		})
	}
}

// inUserNamespace runs this test binary in role on path as uid teamOwner
// (groups teamOwner and unmappedGID), inside a new user namespace made by
// unshare with the given mapping flags.
func inUserNamespace(t *testing.T, role, path string, unshareFlags ...string) (string, error) {
	t.Helper()
	setpriv, unshare := testenv.Need(t, "setpriv"), testenv.Need(t, "unshare")
	prefix := []string{setpriv, "--reuid", strconv.Itoa(teamOwner), "--regid", strconv.Itoa(teamOwner),
		"--groups", fmt.Sprintf("%d,%d", teamOwner, unmappedGID), unshare, "--user"}
	cmd := testenv.Wrap(testenv.ForAnyUser(t, childCmd(t, role, path)), append(prefix, unshareFlags...)...)
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "unshare failed") {
		t.Skipf("no user namespaces here: %s", out)
	}
	return string(out), err
}

// In a user namespace every group the namespace does not map reads as the
// overflow gid (65534), both as a file's group and among the caller's own
// groups (getgroups): a caller with any unmapped group of its own would
// take every unmapped group for one of its own. So a region created with
// Mode 0660 in a set-group-ID directory of a group the caller is not in
// (the protection of TestCreatedInForeignGroupDirectory) would be kept
// there, and that group's members would write it. The overflow gid is
// never taken for one of the caller's groups in such a namespace: the
// creation is refused and the file removed.
func TestUserNamespaceOverflowGroupIsNotTheCallers(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp(Dir, "shmlru-userns-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A team directory of teamGroup, which the caller is not in.
	if err := os.Chown(dir, 0, teamGroup); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "r")
	out, err := inUserNamespace(t, "create-0660", path, "--map-root-user")
	if err == nil {
		st, _ := os.Stat(path)
		t.Fatalf("created with Mode 0660 in a directory of group %d, not the caller's, inside a user namespace: kept (%v)", teamGroup, st.Mode())
	}
	t.Logf("refused: %s", out)
	for _, want := range []string{"region file not trusted", "gid 65534", "not one group", "/proc/self/gid_map"} {
		if !strings.Contains(out, want) {
			t.Fatalf("refused with %q; want it to say %q", out, want)
		}
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused file was left: %v", err)
	}
	if out, err := asUser(t, "raw-rw", path, outsider, teamGroup); err == nil {
		t.Fatalf("a member of group %d writes the region: %s", teamGroup, out)
	}
}

// The same for owners: in a user namespace that does not map the caller
// (unshare --user without a mapping), the caller's own uid reads as the
// overflow uid, and so does the owner of every file of an unmapped user: a
// region another user made, world-writable, would be taken for the
// caller's own.
func TestUserNamespaceOverflowOwnerIsNotTheCaller(t *testing.T) {
	needRoot(t)
	path := filepath.Join(sharedDir(t), "r")
	if out, err := asUser(t, "squat", path, outsider, outsider); err != nil {
		t.Fatalf("the other user could not create its region: %v %s", err, out)
	}
	out, err := inUserNamespace(t, "open-0666", path)
	if err == nil {
		t.Fatalf("an unmapped caller adopted a region of uid %d as its own", outsider)
	}
	t.Logf("refused: %s", out)
	for _, want := range []string{"region file not trusted", "owned by uid 65534", "not one user", "/proc/self/uid_map"} {
		if !strings.Contains(out, want) {
			t.Fatalf("refused with %q; want it to say %q", out, want)
		}
	}
}

// A group member who may read and write the region can give it a second
// name in a directory of its own (fs.protected_hardlinks allows it), which
// the owner can neither remove nor see. Such a file stays refused, but the
// error names the inode and the find command that lists its names, and
// that command does find the member's link.
func TestMembersHardLinkIsNamedByInode(t *testing.T) {
	needRoot(t)
	if !hardlinksProtected() {
		t.Skip("fs.protected_hardlinks is off")
	}
	path := filepath.Join(Dir, fmt.Sprintf("shmlru-link-test-%d", os.Getpid())) // unique on the host
	link := filepath.Join(path+".member", "link")
	t.Cleanup(func() {
		os.Remove(link)
		os.Remove(path + ".member")
		os.Remove(path)
	})
	if out, err := asUser(t, "create-0660", path, teamOwner, teamGroup); err != nil {
		t.Fatalf("owner: %v %s", err, out)
	}
	if out, err := asUser(t, "hardlink", path, teamMember, teamGroup); err != nil {
		t.Fatalf("the member could not link the region: %v %s", err, out)
	}
	out, err := asUser(t, "open-0660", path, teamOwner, teamGroup)
	if err == nil {
		t.Fatal("the owner adopted a region its group may write that has a name a member gave it")
	}
	t.Logf("refused: %s", out)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	mount := mountPoint(path, st.Dev)
	find := fmt.Sprintf("find %s -xdev -inum %d", mount, st.Ino)
	for _, want := range []string{"2 names (hard links)", "its group or others may read and write it, so they could have made the others", fmt.Sprintf("inode %d on device %d:%d", st.Ino, unix.Major(st.Dev), unix.Minor(st.Dev)), find} {
		if !strings.Contains(out, want) {
			t.Fatalf("the owner's error %q does not say %q", out, want)
		}
	}
	names, err := exec.Command(testenv.Need(t, "find"), mount, "-xdev", "-inum", strconv.FormatUint(st.Ino, 10)).Output()
	if err != nil {
		t.Fatalf("%s: %v", find, err)
	}
	if !slices.Contains(strings.Fields(string(names)), link) {
		t.Fatalf("%s listed %q, not the member's link %s", find, names, link)
	}
}
