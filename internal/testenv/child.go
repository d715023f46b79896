package testenv

// This test binary run again as a child process: the multi-process tests'
// other processes. A child runs no tests; the package's TestMain sees its
// role and runs the child's code instead.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// roleEnv names the role a child was started in.
const roleEnv = "SHMLRU_TEST_CHILD"

// Role returns the role Child started this process in, or "" when go test
// started it. TestMain calls it first:
//
//	if role := testenv.Role(); role != "" {
//		os.Exit(runChild(role))
//	}
func Role() string { return os.Getenv(roleEnv) }

// Child returns a command that runs this test binary again in role, with
// args after its flags, and the environment of this process. A race
// detector build is told not to sleep a second at exit.
func Child(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"-test.run=^$"}, args...)...)
	env := os.Environ()
	cmd.Env = append(env[:len(env):len(env)], roleEnv+"="+role,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return cmd
}

// Wrap returns cmd run through the command prefix (such as unshare), with
// cmd's environment.
func Wrap(cmd *exec.Cmd, prefix ...string) *exec.Cmd {
	w := exec.Command(prefix[0], append(append(prefix[1:len(prefix):len(prefix)], cmd.Path), cmd.Args[1:]...)...)
	w.Env = cmd.Env
	return w
}

// ForAnyUser changes cmd, made by Child, to run a copy of this test binary
// in a directory any user can read, for a child under another uid.
func ForAnyUser(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	dir, err := os.MkdirTemp("", "shmlru-test-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cmd.Path)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(cmd.Path))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Path, cmd.Args[0] = bin, bin
	return cmd
}
