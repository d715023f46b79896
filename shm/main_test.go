package shm

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
)

// Multi-process tests re-execute this test binary (testenv.Child): its
// last argument is the region's path.
func TestMain(m *testing.M) {
	if role := testenv.Role(); role != "" {
		if err := childRoles[role](os.Args[len(os.Args)-1]); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var childRoles = map[string]func(path string) error{}

// childCmd prepares this test binary as a child in role on path.
func childCmd(t testing.TB, role, path string) *exec.Cmd {
	t.Helper()
	return testenv.Child(t, role, path)
}

func runChild(t testing.TB, role, path string) string {
	t.Helper()
	out, err := childCmd(t, role, path).CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", role, err, out)
	}
	return strings.TrimSpace(string(out))
}
