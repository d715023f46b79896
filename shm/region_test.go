package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/shmlru/shmlru/internal/testenv"
)

const testSize = 64 << 10

func TestCreateAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	inits := 0
	r, err := Open(path, Options{Size: testSize, Init: func(d []byte) error { inits++; d[0] = 42; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Created() || inits != 1 || r.Size() != testSize || len(r.Data()) == 0 {
		t.Fatalf("created %v, inits %d, size %d", r.Created(), inits, r.Size())
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("default mode %v, want 0600", st.Mode().Perm())
	}
	r.Close()
	r2, err := Open(path, Options{Size: 2 * testSize, Init: func([]byte) error { inits++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.Created() || inits != 1 || r2.Size() != testSize || r2.Data()[0] != 42 {
		t.Fatalf("reopen: created %v, inits %d, size %d (must adopt the existing size)", r2.Created(), inits, r2.Size())
	}
	if _, err := Open(path, Options{Size: 2 * testSize, Exact: true}); !errors.Is(err, ErrGeometry) {
		t.Fatalf("Exact with another size: %v", err)
	}
}

func TestPathNames(t *testing.T) {
	if got := Path("cache"); got != "/dev/shm/cache" {
		t.Fatalf("Path(name) = %q", got)
	}
	if got := Path("./cache"); got != "./cache" {
		t.Fatalf("Path(relative path) = %q", got)
	}
	if _, err := Open("", Options{Size: testSize}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("empty path: %v", err)
	}
}

// writeFile creates a file with the given content and returns its path.
func writeFile(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// validRegionBytes returns the bytes of a freshly created region.
func validRegionBytes(t testing.TB) []byte {
	path := filepath.Join(t.TempDir(), "valid")
	r, err := Open(path, Options{Size: 16 << 10, Slots: 8})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInvalidFilesAreRefusedAndUntouched(t *testing.T) {
	valid := validRegionBytes(t)
	newer := bytes.Clone(valid)
	binary.NativeEndian.PutUint32(newer[unsafe.Offsetof(header{}.version):], Version+1)
	badSize := append(bytes.Clone(valid), make([]byte, 4096)...)
	foreign := bytes.Repeat([]byte("not a region "), 1000)
	badSlots := bytes.Clone(valid)
	binary.NativeEndian.PutUint32(badSlots[unsafe.Offsetof(header{}.slots):], 1<<20)
	for _, tc := range []struct {
		name    string
		content []byte
		want    error
		noCrt   bool
	}{
		{"short", []byte("hello"), ErrNotRegion, false},
		{"foreign", foreign, ErrNotRegion, false},
		{"newer version", newer, ErrVersion, false},
		{"size disagrees with header", badSize, ErrNotRegion, false},
		{"inconsistent slot count", badSlots, ErrNotRegion, false},
		{"empty, NoCreate", nil, ErrNotRegion, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.content)
			_, err := Open(path, Options{Size: testSize, NoCreate: tc.noCrt})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the file: %v", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, tc.content) {
				t.Fatal("a refused file was changed")
			}
		})
	}
}

func TestDirectoryAndMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, Options{Size: testSize}); !errors.Is(err, ErrNotRegion) || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("directory: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "none"), Options{NoCreate: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing with NoCreate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
		t.Fatal("NoCreate created the file")
	}
}

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{{Size: 100}, {Size: testSize, Slots: -1}, {Size: testSize, Slots: MaxSlots + 1}, {Size: testSize, Mode: os.ModeDir | 0o600}} {
		if _, err := Open(filepath.Join(dir, "x"), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Open(%+v) = %v", o, err)
		}
	}
}

func TestEmptyFileIsInitialised(t *testing.T) {
	path := writeFile(t, nil)
	r, err := Open(path, Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Created() {
		t.Fatal("an empty file was not initialised")
	}
}

func TestFullFileSystemFailsAtCreation(t *testing.T) {
	testenv.NeedRoot(t, "mount a small tmpfs")
	dir := t.TempDir()
	mount, umount := testenv.Need(t, "mount"), testenv.Need(t, "umount")
	if out, err := exec.Command(mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	defer exec.Command(umount, dir).Run()
	path := filepath.Join(dir, "r")
	if _, err := Open(path, Options{Size: 4 << 20}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("4 MiB region on a 1 MiB tmpfs: %v, want ErrNoSpace", err)
	}
	if st, err := os.Stat(path); err == nil && st.Size() != 0 {
		t.Fatalf("a failed creation left %d bytes", st.Size())
	}
	// The same file works once there is room.
	r, err := Open(path, Options{Size: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

func init() {
	childRoles["create"] = func(path string) error {
		r, err := Open(path, Options{Size: testSize, Init: func(d []byte) error { d[0]++; return nil }})
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Printf("%v %d %d\n", r.Created(), r.CreatedAt().UnixNano(), r.Data()[0])
		return nil
	}
	childRoles["die-in-init"] = func(path string) error {
		_, err := Open(path, Options{Size: testSize, Init: func([]byte) error {
			fmt.Println("initialising")
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}})
		return err
	}
}

// Concurrent creators settle on one initialisation.
func TestConcurrentCreators(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	const n = 8
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = childCmd(t, "create", path)
		outs[i] = new(bytes.Buffer)
		cmds[i].Stdout = outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	created := 0
	var stamp string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("creator %d: %v %s", i, err, outs[i])
		}
		var c bool
		var at, first int64
		fmt.Sscan(outs[i].String(), &c, &at, &first)
		if c {
			created++
		}
		if first != 1 {
			t.Fatalf("creator %d saw the data initialised %d times", i, first)
		}
		if s := fmt.Sprint(at); stamp == "" {
			stamp = s
		} else if s != stamp {
			t.Fatalf("creators saw different regions: %s vs %s", s, stamp)
		}
	}
	if created != 1 {
		t.Fatalf("%d processes initialised the region, want 1", created)
	}
}

// A creator that dies halfway leaves a region that the next opener
// initialises instead of refusing.
func TestCreatorDiesMidInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r")
	out, _ := childCmd(t, "die-in-init", path).CombinedOutput()
	if !strings.Contains(string(out), "initialising") {
		t.Fatalf("child did not reach Init: %s", out)
	}
	if got := runChild(t, "create", path); !strings.HasPrefix(got, "true ") {
		t.Fatalf("the next opener did not initialise the region: %q", got)
	}
}
