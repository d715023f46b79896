package testenv

// Command prefixes that run a child in new Linux namespaces (util-linux's
// unshare).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"testing"
)

// PidNamespace returns the command prefix that runs a child as pid 1 of a
// new pid namespace, killed with unshare. It needs root.
func PidNamespace(t testing.TB) []string {
	t.Helper()
	NeedRoot(t, "make a pid namespace")
	Need(t, "unshare")
	return []string{"unshare", "--pid", "--fork", "--kill-child"}
}

// TimeNamespace returns the command prefix that runs a child in a new time
// namespace whose CLOCK_MONOTONIC is off seconds from this process's (in a
// user namespace too, unless root). It skips the test if the kernel has no
// time namespaces: no package installs those.
func TimeNamespace(t testing.TB, off int64) []string {
	t.Helper()
	if _, err := os.Stat("/proc/self/ns/time"); errors.Is(err, fs.ErrNotExist) {
		t.Skip("this kernel has no time namespaces (Linux 5.6 and later, CONFIG_TIME_NS)")
	}
	Need(t, "unshare")
	args := []string{"unshare"}
	if os.Geteuid() != 0 {
		args = append(args, "--user", "--map-root-user")
	}
	args = append(args, "--time", fmt.Sprintf("--monotonic=%d", off), "--fork", "--kill-child")
	if out, err := exec.Command(args[0], append(args[1:], "true")...).CombinedOutput(); err != nil {
		t.Fatalf("%v true: %v\n%s(util-linux's unshare 2.36 or later runs a child in a new time namespace)", args, err, out)
	}
	return args
}
