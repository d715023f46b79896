package shm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
)

func init() {
	childRoles["open"] = func(path string) error {
		r, err := Open(path, Options{NoCreate: true})
		if err != nil {
			return err
		}
		return r.Close()
	}
	childRoles["open-0660"] = func(path string) error {
		r, err := Open(path, Options{NoCreate: true, Mode: 0o660})
		if err != nil {
			return err
		}
		return r.Close()
	}
}

// asUser runs this test binary as a child in role under another uid and
// gid, and returns its output.
func asUser(t *testing.T, role, path string, uid, gid uint32) (string, error) {
	t.Helper()
	out, err := userCmd(t, role, path, uid, gid).CombinedOutput()
	return string(out), err
}

// userCmd prepares this test binary as a child in role under another uid
// and gid. The binary is copied where that user can execute it.
func userCmd(t *testing.T, role, path string, uid, gid uint32) *exec.Cmd {
	t.Helper()
	cmd := testenv.ForAnyUser(t, childCmd(t, role, path))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

// A region created 0600 by one user cannot be opened by another, with an
// error that says how to share it; 0660 shares it with the file's group,
// whose members open it with Mode 0660 too (root's files are trusted).
func TestPermissions(t *testing.T) {
	testenv.NeedRoot(t, "run a child as another user")
	const nobody, nogroup, daemon = 65534, 65534, 1
	name := filepath.Join(Dir, fmt.Sprintf("shmlru-perm-test-%d", os.Getpid())) // unique on the host
	t.Cleanup(func() { os.Remove(name) })

	r, err := Open(name, Options{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	out, err := asUser(t, "open", name, nobody, nogroup)
	if err == nil {
		t.Fatal("another user opened a 0600 region")
	}
	if !strings.Contains(out, "permission denied") || !strings.Contains(out, "0660") {
		t.Fatalf("the error does not say what to do: %s", out)
	}

	os.Remove(name)
	r, err = Open(name, Options{Size: testSize, Mode: 0o660})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	st, _ := os.Stat(name)
	if st.Mode().Perm() != 0o660 {
		t.Fatalf("mode %v, want 0660", st.Mode().Perm())
	}
	if err := os.Chown(name, 0, nogroup); err != nil {
		t.Fatal(err)
	}
	if out, err := asUser(t, "open-0660", name, daemon, nogroup); err != nil {
		t.Fatalf("a member of the file's group could not open a 0660 region: %v %s", err, out)
	}
	if out, err := asUser(t, "open-0660", name, daemon, 1); err == nil {
		t.Fatalf("a user outside the group opened a 0660 region: %s", out)
	}
	if _, err := Open(name, Options{Mode: 0o4660}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("setuid mode bits: %v", err)
	}
}
