package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/internal/testenv"
)

// The layout fingerprint: a library whose C code was compiled against
// another layout than its Go reads must not let that code touch a region.
// The test builds such a library (SHMLRU_TEST_FINGERPRINT replaces the
// fingerprint fast.c compiles in from layout.h, as a stale layout.h would),
// runs the differential operations of TestNativeMatchesGo through it
// against a Go twin, and checks that every answer and the twins after are
// the same, and that the library said, with SHMLRU_DEBUG set, that it
// refused its native path and why (and once without it).
// build/libshmlru.so, driven the same way, says its native path is on (and
// nothing without SHMLRU_DEBUG): the line tells the two apart.
func TestNativeRefusedOnAnotherLayout(t *testing.T) {
	goTool, cc := testenv.Need(t, "go"), testenv.Need(t, "gcc")
	const wrong = 0x5eed
	if format.Fingerprint() == wrong {
		t.Fatal("the test's wrong fingerprint is the real one")
	}
	libDir := t.TempDir()
	build := exec.Command(goTool, "build", "-buildmode=c-shared", "-o", filepath.Join(libDir, "libshmlru.so"), "./c")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=1", fmt.Sprintf("CGO_CFLAGS=-O2 -g -DSHMLRU_TEST_FINGERPRINT=%#xull", wrong))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a library with another fingerprint: %v\n%s", err, out)
	}
	inc, _ := filepath.Abs(".")
	refused := filepath.Join(t.TempDir(), "native_driver")
	if out, err := exec.Command(cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-I", inc, "-o", refused, "test/native_driver.c",
		"-L", libDir, "-lshmlru", "-Wl,-rpath,"+libDir, "-lpthread").CombinedOutput(); err != nil {
		t.Fatalf("compiling the driver: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name, bin, want string
	}{
		{"refused", refused, fmt.Sprintf("native path refused: the C code's layout fingerprint %#016x is not Go's %#016x", wrong, format.Fingerprint())},
		{"built", buildC(t, "test/native_driver.c"), fmt.Sprintf("native path on (layout fingerprint %#016x)", format.Fingerprint())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			native, twin := filepath.Join(dir, "native"), filepath.Join(dir, "twin")
			cn, err := openTwin(t, native, nativeOpts(2))
			if err != nil {
				t.Fatal(err)
			}
			defer cn.Close()
			cg, err := openTwin(t, twin, nativeOpts(2))
			if err != nil {
				t.Fatal(err)
			}
			defer cg.Close()

			ops := genOps(rand.New(rand.NewPCG(7, 10)), 1500)
			cmd := exec.Command(tc.bin, "ops", native)
			cmd.Env = append(os.Environ(), "SHMLRU_DEBUG=1")
			cmd.Stdin = strings.NewReader(strings.Join(ops, "\n") + "\n")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("driver: %v\n%s", err, stderr.Bytes())
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(got) != len(ops) {
				t.Fatalf("driver answered %d of %d ops\n%s", len(got), len(ops), stderr.Bytes())
			}
			matchGo(t, cg, ops, got)
			if sn, sg := snapshot(t, cn), snapshot(t, cg); sn != sg {
				t.Fatalf("after %d ops the twins differ:\ndriven:\n%s\nGo:\n%s", len(ops), sn, sg)
			}
			mustCheck(t, cn)
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("the library's stderr does not say %q:\n%s", tc.want, stderr.Bytes())
			}
			if tc.name == "built" && strings.Contains(stderr.String(), "refused") {
				t.Fatalf("build/libshmlru.so refused its native path:\n%s", stderr.Bytes())
			}
			// Without SHMLRU_DEBUG, a refusal is said once; a library that
			// may use its native path says nothing.
			quiet := exec.Command(tc.bin, "ops", native)
			quiet.Stdin = strings.NewReader("get k1\n")
			stderr.Reset()
			quiet.Stderr = &stderr
			if err := quiet.Run(); err != nil {
				t.Fatalf("driver: %v\n%s", err, stderr.Bytes())
			}
			if n := strings.Count(stderr.String(), "native path refused"); n != map[string]int{"refused": 1, "built": 0}[tc.name] || strings.Count(stderr.String(), "\n") != n {
				t.Fatalf("without SHMLRU_DEBUG the library said:\n%s", stderr.Bytes())
			}
		})
	}
}
