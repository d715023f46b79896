// Package testenv is the one test environment of shmlru's tests, in every
// module of the repository: the policy for a missing tool, the tool checks
// (programs, root, the built libshmlru.so), this test binary run again as
// a child process, real redis-server and nginx processes on loopback, and
// time namespaces.
//
// An integration test is one that needs more than Go: a C compiler, nginx,
// LuaJIT, redis-server, another system program, the built libshmlru.so, or
// root. Without SHMLRU_INTEGRATION=1 such a test skips when what it needs
// is missing, so that `go test ./...` passes on a clone with Go alone. With
// SHMLRU_INTEGRATION=1, as `make test` and CI set it, a missing tool fails
// the test: a run that asked for everything cannot pass by skipping.
//
// Tests that only run this test binary again as child processes are not
// integration tests: they run everywhere.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// IntegrationEnv is the variable that asks for every integration test.
const IntegrationEnv = "SHMLRU_INTEGRATION"

// Integration reports whether SHMLRU_INTEGRATION=1 asks for every
// integration test to run.
func Integration() bool { return os.Getenv(IntegrationEnv) == "1" }

// Missing ends the test for want of what (a tool, root, the built
// library): a skip that says how to ask for the test, or under
// SHMLRU_INTEGRATION=1 a failure. fix says how to get what is missing.
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	if Integration() {
		t.Fatalf("%s is missing (%s); %s=1 makes a missing tool a failure", what, fix, IntegrationEnv)
		return
	}
	t.Skipf("integration test skipped: %s is missing (%s); set %s=1 (make test does) to run it and fail without it", what, fix, IntegrationEnv)
}

// Need returns the path of the program name, or ends the test as Missing
// says when it is not on PATH.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, howToGet(name))
	}
	return p
}

// basePackages are the Debian packages of the programs the tests use that
// scripts/deps.sh leaves to the base system and the build tools; it
// installs every other one.
var basePackages = map[string]string{
	"gcc": "build-essential", "cc": "build-essential", "make": "build-essential",
	"git": "git", "bash": "bash", "find": "findutils",
	"unshare": "util-linux", "setpriv": "util-linux", "mount": "mount", "umount": "mount",
}

// howToGet says how to install the program name.
func howToGet(name string) string {
	if pkg, ok := basePackages[name]; ok {
		return "install Debian's " + pkg
	}
	return "`make deps` installs it"
}

// NeedRoot ends the test as Missing says unless it runs as root; why says
// what root is for.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, fmt.Sprintf("root (to %s)", why), "run the tests as root, as CI does")
	}
}

// Has reports whether the program name is on PATH, for a test that runs
// with less without it (a variant it leaves out). Under
// SHMLRU_INTEGRATION=1 a missing program fails the test instead.
func Has(t testing.TB, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if Integration() {
			t.Fatalf("%s is missing (%s); %s=1 makes a missing tool a failure", name, howToGet(name), IntegrationEnv)
		}
		return false
	}
	return true
}
