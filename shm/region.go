package shm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Dir is where a region named without a slash lives.
const Dir = "/dev/shm"

// Options say how to open or create a region.
type Options struct {
	// Size is the size of the whole file in bytes, used when the region is
	// created. An existing region keeps its size unless Exact is set.
	Size int64

	// Mode is the permission of a newly created file, and whom the caller
	// shares the region with: an existing file that gives anyone more is
	// refused (see trust.go). Zero means 0600: only the owner. 0660 shares
	// with the file's group, 0666 with everyone. The group and others get
	// read and write or nothing: a read-only class (0640, 0644) is
	// ErrBadOptions, because a reader can stall every process by locking
	// the file.
	Mode os.FileMode

	// TrustUIDs names the users, besides the caller's effective uid and
	// root, whose files Open adopts. A region created by another user is
	// refused with ErrUntrusted unless its owner is named here. In a user
	// namespace that leaves users unmapped, a file owned by the overflow
	// uid (65534), which stands for all of them, is adopted only if it is
	// named here, even when it is the caller's own uid.
	TrustUIDs []int

	// TrustGIDs names groups, besides the caller's own (effective and
	// supplementary), whose members may write a file that Open adopts
	// (with a Mode of 0660). In a user namespace that leaves groups
	// unmapped, the overflow gid (65534) stands for all of them and counts
	// only if named here, even when it is among the caller's groups.
	TrustGIDs []int

	// Slots is how many processes may be attached at once (0 = DefaultSlots).
	Slots int

	// Exact makes Open fail with ErrGeometry when an existing region's size
	// differs from Size, instead of adopting the existing size.
	Exact bool

	// NoCreate makes Open fail with an error wrapping os.ErrNotExist when
	// the file does not exist, instead of creating it.
	NoCreate bool

	// Init lays out the data area of a region that this call creates. It
	// runs once per region, while the creator holds the creation lock and
	// before the region is marked ready, on a zeroed data area. If it fails
	// (or its process dies) the region is left unready and the next opener
	// initialises it again, from a zeroed data area.
	Init func(data []byte) error
}

// Region is a mapped region. It is safe for concurrent use by goroutines.
type Region struct {
	path    string
	f       *os.File
	m       mmap.MMap
	hdr     *header
	slots   []slot
	data    []byte
	slot    int    // index of this process's slot
	token   uint32 // lock owner token of this attachment (see mutex.go)
	created bool
	born    time.Time // creation time, copied from the header at open
	size    int64     // of the mapping, for Size after Close
	closed  atomic.Bool
	retired atomic.Bool // see Retire

	// mu is held shared by readers of the mapping outside package lru's
	// operations (guard), and exclusively by Close, so that none of them
	// reads a mapping that Close is taking away.
	mu sync.RWMutex
}

// Path resolves a region name to a file path: a name without a slash is a
// file under Dir; anything else is used as given.
func Path(name string) string {
	if name == "" || strings.ContainsRune(name, '/') {
		return name
	}
	return filepath.Join(Dir, name)
}

// Open maps the region at path (see Path for names), creating and
// initialising it if it does not exist. Concurrent openers of a new file
// settle on one initialisation: the others wait for it (at most CreateWait)
// and adopt the result.
//
// Open never follows a symbolic link at path, creates the file only if
// nothing is there (O_EXCL), and adopts an existing file only if its owner,
// group and mode pass the trust rule (see trust.go and Options): anything
// else is an error wrapping ErrUntrusted that names the owner and mode and
// says how to share a region on purpose.
//
// Open creates only over an empty file or over a creation of this package
// that was interrupted (its creator died before the region was ready; see
// createLocked). A file that is not a valid region (a directory, a short
// file, a foreign file, one whose first 4 KiB are zero included, another
// layout version, a damaged header, a header that disagrees with the file's
// size) yields an error wrapping ErrNotRegion or ErrVersion, and nothing in
// the file is changed. A region that was ready once is never created anew.
func Open(name string, o Options) (*Region, error) {
	path := Path(name)
	if path == "" {
		return nil, fmt.Errorf("%w: empty region path; pass a name (a file under %s) or a path", ErrBadOptions, Dir)
	}
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	if o.Mode&^os.ModePerm != 0 {
		return nil, fmt.Errorf("%w: mode %v has bits other than permissions", ErrBadOptions, o.Mode)
	}
	if err := checkMode(o.Mode); err != nil {
		return nil, err
	}
	if o.Slots == 0 {
		o.Slots = DefaultSlots
	}
	f, err := openFile(path, &o)
	if err != nil {
		return nil, err
	}
	r, err := attach(f, path, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// Attach makes another attachment to the file that r has open, with a
// process slot, lock token and mapping of its own, for code that takes the
// region's locks under a token other than r's (libshmlru.so's native path,
// through lru.NativeView). Close it apart from r.
//
// It maps the very file r maps, whatever r's path names by now: it never
// looks the path up again, but opens r's open file anew through
// /proc/self/fd (a new open file description, as the slot's OFD lock needs:
// a duplicated descriptor would share r's), and checks that the two name
// one inode. So the trust rule is not applied again: the file is the one
// that r adopted and maps. Its header must still be the one r read (a
// ready region of r's size and layout); anything else is ErrNotRegion.
// It fails with ErrClosed once r is closed, and without /proc mounted.
func (r *Region) Attach() (*Region, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed.Load() {
		return nil, ErrClosed
	}
	f, err := reopen(r.f, r.path)
	if err != nil {
		return nil, err
	}
	h, k, _, err := readHeader(f, r.path)
	if err == nil && (k != kindReady || int64(h.size) != r.size || int(h.slots) != len(r.slots) ||
		h.dataOff != uint64(len(r.m)-len(r.data)) || h.dataSize != uint64(len(r.data)) || h.created != r.born.UnixNano()) {
		err = fmt.Errorf("%w: %s: the header of the open file changed since it was opened; something other than shmlru wrote it: remove the file and create the region anew", ErrNotRegion, r.path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	a, err := mapRegion(f, r.path, h, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

// reopen opens the file open at f anew, with an open file description of
// its own, and makes sure it is the same file.
func reopen(f *os.File, path string) (*os.File, error) {
	// A magic link: opening it reaches the open file itself, not a path,
	// so it must be followed (no O_NOFOLLOW).
	g, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: open %s again through /proc/self/fd (a second attachment needs /proc mounted): %w", path, err)
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		g.Close()
		return nil, fmt.Errorf("shm: stat %s: %w", path, err)
	}
	if err := unix.Fstat(int(g.Fd()), &b); err != nil {
		g.Close()
		return nil, fmt.Errorf("shm: stat %s: %w", path, err)
	}
	if a.Dev != b.Dev || a.Ino != b.Ino {
		g.Close()
		return nil, fmt.Errorf("shm: %s opened again through /proc/self/fd is another file (device %d inode %d, not %d %d)", path, b.Dev, b.Ino, a.Dev, a.Ino)
	}
	return g, nil
}

func explainOpenError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("%w: %s is a directory; name a file inside it", ErrNotRegion, path)
	case errors.Is(err, syscall.ELOOP):
		if st, lerr := os.Lstat(path); lerr == nil && st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s is a symbolic link; a region is never opened through one (whoever made the link would choose where your region goes): remove the link, or name the file it points to", ErrUntrusted, path)
		}
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w (the region's owner can share it by creating it with mode 0660 for a group you are in; you then name the owner's uid in TrustUIDs. Or run as the owner)", err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w (create the region first, or drop NoCreate)", err)
	}
	return err
}

// attach settles creation, validates the header and maps the file.
func attach(f *os.File, path string, o Options) (*Region, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNotRegion, path)
	}
	// Without the creation lock first: a ready region needs none.
	h, k, ours, err := readHeader(f, path)
	if err != nil && !ours {
		// Neither empty nor starting with our magic: no creation of ours
		// can be under way in it, and another program's file is not ours
		// to lock.
		return nil, err
	}
	created := false
	if k != kindReady {
		// Empty, unfinished, or (read while a creator wrote it) not yet
		// consistent: take the creation lock and look again; what the
		// file is then is settled. The lock is released by the kernel if
		// its holder dies, so a creator that crashed never blocks us.
		if o.NoCreate && st.Size() == 0 {
			return nil, fmt.Errorf("%w: %s is empty; it was never initialised (drop NoCreate to initialise it)", ErrNotRegion, path)
		}
		if err := lockCreation(f, path); err != nil {
			return nil, err
		}
		h, created, err = createLocked(f, path, o)
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		if err != nil {
			return nil, err
		}
	}
	if o.Exact && o.Size != 0 && int64(h.size) != o.Size {
		return nil, fmt.Errorf("%w: %s has %d bytes, %d were asked for; remove it to recreate it with the new size, or drop Exact to adopt it", ErrGeometry, path, h.size, o.Size)
	}
	return mapRegion(f, path, h, created)
}

// readHeader reads the header page and tells what the file is: k is 0 for
// an empty file, kindIntent for a creation that has not finished, kindReady
// for a region. Anything else is an error (wrapping ErrNotRegion or
// ErrVersion for a file that is not a region). ours reports whether the file
// is empty or starts with the magic: only such a file can be one whose
// creation is under way.
func readHeader(f *os.File, path string) (h header, k kind, ours bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return h, 0, false, err
	}
	page := make([]byte, HeaderSize)
	n, err := f.ReadAt(page, 0)
	if err != nil && err != io.EOF {
		return h, 0, false, fmt.Errorf("shm: read header of %s: %w", path, err)
	}
	if n == 0 {
		return h, 0, true, nil // empty: nothing to lose
	}
	ours = n >= len(Magic) && string(page[:len(Magic)]) == Magic
	if n < HeaderSize {
		// Creation writes the whole header page at once into the empty
		// file, so a short file was never one of our creations.
		return h, 0, ours, fmt.Errorf("%w: %s is %d bytes, shorter than a region header; it is another program's file (choose another path, or remove it if it is stale)", ErrNotRegion, path, n)
	}
	h, k, err = check(page, path, st.Size())
	return h, k, ours, err
}

// createLocked initialises the region under the creation lock, unless
// another process finished doing so while we waited for the lock.
//
// Only a file that this package provably started to create is touched: an
// empty one, or one whose header page says it is being created (see
// check). Creation writes that header page into the empty file before
// anything else, so a creator that dies at any point leaves one of the two:
//
//	dies                             leaves                    next opener
//	before the header page           an empty file             creates it
//	after it, in or after fallocate  header, 4 KiB to size     creates it anew
//	in Init, before ready            header, full size, data   creates it anew
//	after the ready store            a ready region            adopts it
//
// Creating anew over an interrupted creation first truncates the file to
// its header page (the data area must start zeroed), then rewrites the
// header page with this opener's geometry, then grows the file again, so
// the file is recognisably ours at every step of that too.
func createLocked(f *os.File, path string, o Options) (header, bool, error) {
	h, k, _, err := readHeader(f, path)
	if err != nil {
		return h, false, err
	}
	if k == kindReady {
		return h, false, nil
	}
	if o.NoCreate {
		if k == 0 {
			return h, false, fmt.Errorf("%w: %s is empty; it was never initialised (drop NoCreate to initialise it)", ErrNotRegion, path)
		}
		return h, false, fmt.Errorf("%w: %s was never fully initialised (drop NoCreate to initialise it)", ErrNotRegion, path)
	}
	size, slots := o.Size, o.Slots
	if size == 0 && k == kindIntent {
		// An interrupted creation and no size of our own: finish it at
		// its size.
		size, slots = int64(h.size), int(h.slots)
	}
	slotsOff, dataOff, dataSize, err := layout(size, slots)
	if err != nil {
		return h, false, err
	}
	// The umask would narrow the mode (0660 would become 0640 under the
	// usual 022), and sharing with a group is the point of asking for it.
	// A file of another user that the trust rule let us adopt keeps the
	// mode its owner gave it: only the owner may change it.
	if owned(f) {
		if err := f.Chmod(o.Mode); err != nil {
			return h, false, fmt.Errorf("shm: set mode %v on %s: %w", o.Mode, path, err)
		}
	}
	hook("mode set")
	if k == kindIntent {
		if err := f.Truncate(HeaderSize); err != nil {
			return h, false, fmt.Errorf("shm: truncate %s: %w", path, err)
		}
		hook("truncated")
	}
	h = header{
		version:    Version,
		byteOrder:  byteOrderMark,
		state:      stateInitialising,
		size:       uint64(size),
		created:    time.Now().UnixNano(),
		slots:      uint32(slots),
		slotsOff:   uint32(slotsOff),
		dataOff:    uint64(dataOff),
		dataSize:   uint64(dataSize),
		headerSize: HeaderSize,
	}
	copy(h.magic[:], Magic)
	noSpace := func(err error) error {
		// Back to an empty file: all it held was our own header page.
		f.Truncate(0)
		return fmt.Errorf("%w: %s needs %d bytes: %v (free space in %s, or ask for a smaller Size)", ErrNoSpace, path, size, err, filepath.Dir(path))
	}
	// One write of the whole page. Into an empty file, no reader sees part
	// of it (the file's size grows only once the page is copied in); over
	// an interrupted creation's page, a reader that sees a mix of the two
	// still sees the magic, so it waits for the creation lock.
	if _, err := f.WriteAt(h.intentPage(), 0); err != nil {
		if errors.Is(err, unix.ENOSPC) {
			return h, false, noSpace(err)
		}
		return h, false, fmt.Errorf("shm: write header of %s: %w", path, err)
	}
	hook("header written")
	// Reserve every byte so that a full tmpfs fails here and not later
	// with SIGBUS.
	if err := reserve(f, size); err != nil {
		return h, false, noSpace(err)
	}
	hook("reserved")
	m, err := mapFile(f)
	if err != nil {
		return h, false, fmt.Errorf("shm: map %s: %w", path, err)
	}
	defer m.Unmap()
	if o.Init != nil {
		if err := o.Init(m[dataOff : dataOff+dataSize : dataOff+dataSize]); err != nil {
			return h, false, err
		}
	}
	if err := m.Flush(); err != nil {
		return h, false, fmt.Errorf("shm: flush %s: %w", path, err)
	}
	hook("flushed")
	setReady((*header)(unsafe.Pointer(&m[0])))
	h.state, h.mark = stateReady, readyMark
	return h, true, nil
}

// testHookCreate, set only by tests, is called at each step of a creation
// with the step's name, so that a test can kill the creator there.
var testHookCreate func(step string)

func hook(step string) {
	if testHookCreate != nil {
		testHookCreate(step)
	}
}

// reserve allocates size bytes for f, so that a later write to the mapping
// can never fail for lack of space.
func reserve(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	for err == unix.EINTR { // tmpfs gives up a large allocation on any signal
		err = unix.Fallocate(int(f.Fd()), 0, 0, size)
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		// A file system without fallocate: the size is set but not reserved.
		return f.Truncate(size)
	}
	return err
}

// CreateWait is how long Open waits for the creation lock of a region that
// is not ready: while another process creates it (reserves its memory and
// lays out its data area), or while something else holds an flock on the
// file. Then Open fails with ErrBusy, naming the holder.
const CreateWait = 30 * time.Second

// createWait is CreateWait, shortened by tests.
var createWait = CreateWait

// lockCreation takes the creation lock of f, an exclusive flock, waiting at
// most createWait for whoever holds it. It polls (LOCK_NB) rather than
// block, because a blocked flock cannot be given up: a process that holds
// a shared flock on the file for ever would hold every opener for ever.
func lockCreation(f *os.File, path string) error {
	deadline := time.Now().Add(createWait)
	pause := 100 * time.Microsecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err != unix.EWOULDBLOCK:
			return fmt.Errorf("shm: lock %s for creation: %w", path, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s is not ready, and %s has held its creation lock (an flock of the file) for the %v that Open waits. If that process is stuck or is not creating the region, stop it: the next opener then finishes the creation. Or remove the file", ErrBusy, path, flockHolders(f), createWait)
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// flockHolders names the processes that /proc/locks says hold an flock on
// f, for an error message.
func flockHolders(f *os.File) string {
	const unknown = "another process"
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return unknown
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return unknown
	}
	// "1: FLOCK  ADVISORY  READ 26666 00:1b:28 0 EOF"; a waiter's line
	// has "->" after the number.
	var who []string
	for _, line := range strings.Split(string(b), "\n") {
		fl := strings.Fields(line)
		if len(fl) < 8 || fl[1] != "FLOCK" || fl[5] != id {
			continue
		}
		kind := "shared"
		if fl[3] == "WRITE" {
			kind = "exclusive"
		}
		who = append(who, fmt.Sprintf("pid %s (%s)", fl[4], kind))
	}
	if len(who) == 0 {
		return unknown
	}
	return strings.Join(who, ", ")
}

// mapFile maps the whole of f, shared. A child forked without exec does not
// inherit the mapping (MADV_DONTFORK): a mapping holds a reference to the
// open file description it was made through, which holds this attachment's
// slot lock, so the child's copy would keep the attachment alive after the
// parent died, however the child closed its copy of the descriptor (which
// libshmlru.so does, see c/shim.c). Such a child has no use for the mapping:
// the Go runtime does not survive fork, and the C library refuses every call
// in it. (Go's own fork for exec shares the address space, so it is
// unaffected.)
func mapFile(f *os.File) (mmap.MMap, error) {
	m, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Madvise(m, unix.MADV_DONTFORK); err != nil {
		m.Unmap()
		return nil, err
	}
	return m, nil
}

func mapRegion(f *os.File, path string, h header, created bool) (*Region, error) {
	m, err := mapFile(f)
	if err != nil {
		return nil, fmt.Errorf("shm: map %s: %w", path, err)
	}
	if uint64(len(m)) != h.size {
		m.Unmap()
		return nil, fmt.Errorf("%w: %s changed size while being opened", ErrNotRegion, path)
	}
	r := &Region{
		path:    path,
		f:       f,
		m:       m,
		hdr:     (*header)(unsafe.Pointer(&m[0])),
		born:    time.Unix(0, h.created),
		size:    int64(len(m)),
		data:    m[h.dataOff : h.dataOff+h.dataSize : h.dataOff+h.dataSize],
		created: created,
	}
	r.slots = unsafe.Slice((*slot)(unsafe.Pointer(&m[h.slotsOff])), h.slots)
	if err := r.claimSlot(); err != nil {
		m.Unmap()
		return nil, fmt.Errorf("%w: %s (%d slots); close unused handles or create the region with more slots", err, path, h.slots)
	}
	return r, nil
}

// Data returns the data area: the bytes after the header and slot table.
// It stays valid until Close.
func (r *Region) Data() []byte { return r.data }

// Contains reports whether addr lies inside the region's mapping: a fault
// there means the file changed underneath it, anywhere else a bug.
func (r *Region) Contains(addr uintptr) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(r.m)))
	return addr >= base && addr-base < uintptr(len(r.m))
}

// Path returns the region's file path.
func (r *Region) Path() string { return r.path }

// Fd returns the file descriptor of the region's file, open until Close.
// Its open file description holds this attachment's slot lock, so a host
// that forks without exec must close the child's copy (libshmlru.so does,
// see c/shim.c), or the child keeps the attachment alive after the parent
// dies. Nothing else should use it.
func (r *Region) Fd() int { return int(r.f.Fd()) }

// Size returns the size of the whole file, as it was mapped (it stays
// readable after Close).
func (r *Region) Size() int64 { return r.size }

// Created reports whether this Open created and initialised the region.
func (r *Region) Created() bool { return r.created }

// CreatedAt returns when the region was created.
func (r *Region) CreatedAt() time.Time { return r.born }

// Close unmaps the region and releases this process's slot. The file stays;
// use Remove to delete it. Close is idempotent.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := r.m.Unmap()
	// Closing the file drops the OFD lock on our slot.
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Closed reports whether Close was called.
func (r *Region) Closed() bool { return r.closed.Load() }

// Remove deletes the region's file (see Path for names). Processes that have
// it mapped keep using their mapping until they close it.
func Remove(name string) error {
	return os.Remove(Path(name))
}

// Mapping returns the whole mapping (header, slot table and data area) and
// this attachment's lock token, for native code that works on the region
// directly (libshmlru.so's C read path) and must recognise faults inside
// the mapping and take shard locks under a token of its own. Both stay
// valid until Close.
func (r *Region) Mapping() (m []byte, token uint32) { return r.m, r.token }
