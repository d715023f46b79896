package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The policy for a missing tool, and a child run through Child, tested on
// this package's own test binary.

func TestMain(m *testing.M) {
	if role := Role(); role != "" {
		fmt.Println(role, strings.Join(os.Args[len(os.Args)-2:], " "))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// recorder is a test that records how Missing ends it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

// A missing program skips the test, saying what is missing and how to
// ask for it; under SHMLRU_INTEGRATION=1 it fails the test.
func TestMissingToolSkipsUnlessIntegration(t *testing.T) {
	const tool = "shmlru-no-such-tool"
	for _, env := range []string{"", "0", "1"} {
		t.Run("SHMLRU_INTEGRATION="+env, func(t *testing.T) {
			t.Setenv(IntegrationEnv, env)
			r := &recorder{TB: t}
			Need(r, tool)
			got, other := r.skipped, r.failed
			if env == "1" {
				got, other = r.failed, r.skipped
			}
			if other != "" || !strings.Contains(got, tool+" is missing") || !strings.Contains(got, "SHMLRU_INTEGRATION=1") {
				t.Fatalf("skipped %q, failed %q", r.skipped, r.failed)
			}
			if env != "1" && !strings.Contains(got, "set SHMLRU_INTEGRATION=1 (make test does)") {
				t.Fatalf("the skip does not say how to ask for the test: %q", got)
			}
		})
	}
}

// A child runs this test binary in its role with its arguments.
func TestChildRunsThisBinaryInItsRole(t *testing.T) {
	out, err := Child(t, "echo", "a", "b").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "echo a b" {
		t.Fatalf("the child said %q, want %q", got, "echo a b")
	}
}
