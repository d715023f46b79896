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
)

// The steps of a creation at which a creator can be killed (see
// createLocked and testHookCreate), in order.
var creationSteps = []string{"mode set", "truncated", "header written", "reserved", "flushed"}

func init() {
	for _, step := range creationSteps {
		childRoles["die-at-"+step] = func(path string) error {
			testHookCreate = func(s string) {
				if s == step {
					fmt.Println("dying at", s)
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {}
				}
			}
			_, err := Open(path, Options{Size: testSize, Init: func(d []byte) error { d[0]++; return nil }})
			return err
		}
	}
	childRoles["die-in-init-dirty"] = func(path string) error {
		_, err := Open(path, Options{Size: testSize, Init: func(d []byte) error {
			for i := range d {
				d[i] = 0xa5
			}
			fmt.Println("initialising")
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}})
		return err
	}
	// create-zeroed creates the region, checking that Init is given a
	// zeroed data area, and prints whether it created it.
	childRoles["create-zeroed"] = func(path string) error {
		r, err := Open(path, Options{Size: testSize, Init: func(d []byte) error {
			for i, c := range d {
				if c != 0 {
					return fmt.Errorf("Init was given a data area with %#x at %d", c, i)
				}
			}
			d[0] = 1
			return nil
		}})
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Println(r.Created(), r.Data()[0])
		return nil
	}
}

// quickChild is childCmd for a child that exits at once: the race
// detector's second of waiting at exit is spent on nothing here.
func quickChild(t *testing.T, role, path string) *exec.Cmd {
	cmd := childCmd(t, role, path)
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	return cmd
}

// dieAt runs a creator in role on path, which must be killed.
func dieAt(t *testing.T, role, path string) {
	t.Helper()
	out, err := quickChild(t, role, path).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s: the creator was not killed: %v\n%s", role, err, out)
	}
}

// A creator killed at any step leaves a file that the next opener
// recognises as an interrupted creation and creates anew, from a zeroed
// data area; until then, NoCreate refuses it without changing it.
func TestCreatorKilledAtEachStep(t *testing.T) {
	cases := []struct {
		name  string
		kills []string                     // creators killed, in order
		then  func(t *testing.T, p string) // what else happened to the file
		empty bool                         // the killed creators leave an empty file
	}{
		{name: "after the mode is set", kills: []string{"die-at-mode set"}, empty: true},
		{name: "after the header page is written", kills: []string{"die-at-header written"}},
		{name: "partway through fallocate", kills: []string{"die-at-header written"}, then: func(t *testing.T, p string) {
			// What a file system that grows the file as it allocates
			// (ext4) leaves when the creator dies in fallocate.
			if err := os.Truncate(p, testSize/2); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "after fallocate", kills: []string{"die-at-reserved"}},
		{name: "in Init", kills: []string{"die-in-init-dirty"}},
		{name: "after Init, before ready", kills: []string{"die-in-init-dirty", "die-at-flushed"}},
		{name: "finishing another's creation, after truncating it", kills: []string{"die-in-init-dirty", "die-at-truncated"}},
		{name: "finishing another's creation, after its header", kills: []string{"die-in-init-dirty", "die-at-header written"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r")
			for _, role := range tc.kills {
				dieAt(t, role, path)
			}
			if tc.then != nil {
				tc.then(t, path)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			_, k, _, err := readHeader(f, path)
			f.Close()
			if err != nil || (k == kindIntent) == tc.empty || k == kindReady {
				t.Fatalf("the killed creation left kind %d (%v); want %s", k, err, map[bool]string{true: "an empty file", false: "an interrupted creation"}[tc.empty])
			}
			before := stateOf(t, path)
			if _, err := Open(path, Options{NoCreate: true}); !errors.Is(err, ErrNotRegion) || !strings.Contains(err.Error(), "never") {
				t.Fatalf("NoCreate on an interrupted creation: %v, want ErrNotRegion saying it was never initialised", err)
			}
			if d := before.diff(stateOf(t, path)); d != "" {
				t.Fatalf("NoCreate refused the file but changed it: %s", d)
			}
			out, err := quickChild(t, "create-zeroed", path).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "true 1" {
				t.Fatalf("the next opener did not create the region from zeros: %v %s", err, out)
			}
			r, err := Open(path, Options{NoCreate: true})
			if err != nil {
				t.Fatalf("the region is not ready after it was created: %v", err)
			}
			defer r.Close()
			if r.Created() || r.Data()[0] != 1 {
				t.Fatalf("reopened: created %v, data %d", r.Created(), r.Data()[0])
			}
		})
	}
}
