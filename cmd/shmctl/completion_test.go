package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
)

// completer runs the script `shmctl completion bash` prints in bash, as
// bash runs it when the user presses Tab.
type completer struct {
	bash, script string
}

func newCompleter(t *testing.T) completer {
	t.Helper()
	bash := testenv.Need(t, "bash")
	script := filepath.Join(t.TempDir(), "shmctl.bash")
	if err := os.WriteFile(script, []byte(ctl(t, "completion", "bash").ok(t).stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return completer{bash, script}
}

// complete returns the completions bash offers for the last of words
// (the word being typed; "" after a space).
func (c completer) complete(t *testing.T, words ...string) []string {
	t.Helper()
	const prog = `source "$1" || exit 1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _shmctl; printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(c.bash, append([]string{"--norc", "--noprofile", "-c", prog, "bash", c.script}, words...)...)
	cmd.Dir = t.TempDir() // no files to offer by accident
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("completing %q: %v\n%s", words, err, out)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	return got
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Every subcommand of the table (and its alias) completes, and after it
// exactly its own flags and the global ones; nothing after a flag that
// takes a value.
func TestCompletionCoversEveryCommandAndFlag(t *testing.T) {
	c := newCompleter(t)
	var names []string
	for _, cmd := range commands {
		names = append(names, cmd.name)
		if cmd.alias != "" {
			names = append(names, cmd.alias)
		}
	}
	if got, want := c.complete(t, "shmctl", ""), sorted(append(names, "help")...); !slices.Equal(got, want) {
		t.Errorf("shmctl <Tab>: %q, want %q", got, want)
	}
	if got, want := c.complete(t, "shmctl", "-r", "x", "help", ""), sorted(names...); !slices.Equal(got, want) {
		t.Errorf("shmctl help <Tab>: %q, want %q", got, want)
	}
	for _, cmd := range commands {
		want := []string{"--region", "--trust-uid", "--help"}
		var valued []string
		for _, fl := range cmd.ownFlags() {
			want = append(want, "--"+fl.Name)
			if takesValue(fl) {
				valued = append(valued, "--"+fl.Name)
			}
		}
		for _, name := range []string{cmd.name, cmd.alias} {
			if name == "" {
				continue
			}
			if got := c.complete(t, "shmctl", "--region", "x", name, "--"); !slices.Equal(got, sorted(want...)) {
				t.Errorf("shmctl --region x %s --<Tab>: %q, want %q", name, got, sorted(want...))
			}
			if got := c.complete(t, "shmctl", name[:len(name)-1]); !slices.Contains(got, name) {
				t.Errorf("shmctl %s<Tab>: %q lacks %s", name[:len(name)-1], got, name)
			}
		}
		for _, v := range valued {
			if got := c.complete(t, "shmctl", cmd.name, v, ""); len(got) != 0 {
				t.Errorf("shmctl %s %s <Tab>: %q, want nothing (it takes a value)", cmd.name, v, got)
			}
		}
	}
}

// After -r/--region, region names: files, and names under /dev/shm.
func TestCompletionOfRegions(t *testing.T) {
	c := newCompleter(t)
	path := newRegionPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	if got := c.complete(t, "shmctl", "-r", name[:len(name)-1]); !slices.Contains(got, name) {
		t.Errorf("shmctl -r %s<Tab>: %q lacks %s", name[:len(name)-1], got, name)
	}
	if got := c.complete(t, "shmctl", "inspect", "--region", path); !slices.Equal(got, []string{path}) {
		t.Errorf("shmctl inspect --region %s<Tab>: %q", path, got)
	}
}

func TestCompletionOtherShell(t *testing.T) {
	ctl(t, "completion", "zsh").failed(t, exitUsage, `shell "zsh": only bash is supported`)
	ctl(t, "completion").failed(t, exitUsage, "want bash")
}
