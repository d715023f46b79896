package lru

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/shmlru/shmlru/internal/testenv"
)

// The multi-process tests re-execute this test binary as child processes
// (testenv.Child): SHMLRU_TEST_PATH names the child's region. Children talk
// to the parent through stdout lines and their exit status.
func TestMain(m *testing.M) {
	if role := testenv.Role(); role != "" {
		run, ok := childRoles[role]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown child role", role)
			os.Exit(2)
		}
		c, err := Open(os.Getenv("SHMLRU_TEST_PATH"), &Options{NoCreate: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child open:", err)
			os.Exit(2)
		}
		if err := run(c, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childRoles are the behaviours a child can take; arg is the child's last
// command-line argument.
var childRoles = map[string]func(c *Cache, arg string) error{}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	out    *bufio.Scanner
	stdin  io.WriteCloser
	stderr *strings.Builder
}

// startChild starts this test binary as a child in role on the region at
// path. wrap, if given, is a command prefix (such as unshare).
func startChild(t testing.TB, role, path, arg string, wrap ...string) *child {
	t.Helper()
	cmd := testenv.Child(t, role, arg)
	cmd.Env = append(cmd.Env, "SHMLRU_TEST_PATH="+path)
	if len(wrap) > 0 {
		cmd = testenv.Wrap(cmd, wrap...)
	}
	ch := &child{cmd: cmd, stderr: new(strings.Builder)}
	cmd.Stderr = ch.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ch.out = bufio.NewScanner(out)
	if ch.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return ch
}

// line reads the child's next stdout line ("" at EOF).
func (ch *child) line() string {
	if ch.out.Scan() {
		return ch.out.Text()
	}
	return ""
}

// wait waits for the child and fails the test if it failed.
func (ch *child) wait(t testing.TB) {
	t.Helper()
	for ch.out.Scan() { // drain
	}
	if err := ch.cmd.Wait(); err != nil {
		t.Fatalf("child failed: %v\n%s", err, ch.stderr)
	}
}

// Self-verifying values: a value names its key and carries a checksum, so a
// reader can tell a torn value or one stored under the wrong key.
//
//	xxhash(key) uint64 | payload | xxhash(key||payload) uint64
func makeValue(key []byte, payload []byte) []byte {
	v := binary.LittleEndian.AppendUint64(nil, xxhash.Sum64(key))
	v = append(v, payload...)
	d := xxhash.New()
	d.Write(key)
	d.Write(payload)
	return binary.LittleEndian.AppendUint64(v, d.Sum64())
}

func verifyValue(key, v []byte) error {
	if len(v) < 16 {
		return fmt.Errorf("value of %q is %d bytes, too short to be ours", key, len(v))
	}
	if binary.LittleEndian.Uint64(v) != xxhash.Sum64(key) {
		return fmt.Errorf("value under %q was written for another key", key)
	}
	d := xxhash.New()
	d.Write(key)
	d.Write(v[8 : len(v)-8])
	if binary.LittleEndian.Uint64(v[len(v)-8:]) != d.Sum64() {
		return fmt.Errorf("value under %q is torn (checksum mismatch, %d bytes)", key, len(v))
	}
	return nil
}
