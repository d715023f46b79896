package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// readSubcommands are run against every kind of bad region.
var readSubcommands = [][]string{
	{"inspect"}, {"stats"}, {"stats", "--format", "prometheus"}, {"keys"}, {"get", "k"}, {"check"},
	{"watch", "--count", "1"}, {"set", "k", "v"}, {"del", "k"}, {"flush"},
}

func TestBadRegions(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path, want string
	}{
		{"directory", dir, "is a directory"},
		{"missing", filepath.Join(dir, "nope"), "no such region"},
		{"missing name", "shmctl-test-no-such-region", "/dev/shm/shmctl-test-no-such-region: no such region"},
		{"empty file", write("empty", nil), "is empty"},
		{"short file", write("short", []byte("#!/bin/sh\necho hi\n")), "shorter than a region header"},
		{"foreign file", write("foreign", bytes.Repeat([]byte("not a cache "), 1000)), "does not start with the shmlru magic"},
		{"newer layout", newerLayoutRegion(t), fmt.Sprintf("layout version %d, this build reads version %d", shm.Version+1, shm.Version)},
	}
	for _, c := range cases {
		for _, sub := range readSubcommands {
			r := ctl(t, append([]string{"-r", c.path}, sub...)...)
			r.failed(t, exitFail, c.want)
			if t.Failed() {
				t.Fatalf("%s: shmctl %v", c.name, sub)
			}
		}
	}
	// Nothing was created or changed by any of it.
	if _, err := os.Stat(filepath.Join(dir, "nope")); !os.IsNotExist(err) {
		t.Errorf("a subcommand created the missing region: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "empty")); len(b) != 0 {
		t.Errorf("the empty file was initialised")
	}
}

// newerLayoutRegion makes a valid region, closes it, and bumps its header's
// layout version (byte 8, see shm/header.go), as a newer shmlru would have
// written it.
func newerLayoutRegion(t *testing.T) string {
	t.Helper()
	path := newRegionPath(t)
	c, err := lru.Open(path, &lru.Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(binary.NativeEndian.AppendUint32(nil, shm.Version+1), 8); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNoPermission(t *testing.T) {
	testenv.NeedRoot(t, "run shmctl as nobody against a root-owned region")
	path, _ := liveRegion(t, "hold") // mode 0600, owned by root
	nobody := runOpts{cred: &syscall.Credential{Uid: 65534, Gid: 65534}}
	for _, sub := range readSubcommands {
		ctlWith(t, nobody, append([]string{"-r", path}, sub...)...).failed(t, exitFail, "permission denied")
	}
	ctlWith(t, nobody, "-r", path, "rm", "--yes").failed(t, exitFail, "permission denied")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the region is gone: %v", err)
	}
}

func TestMalformedArguments(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	ctl(t, "-r", path, "set", "k", "v", "--ttl", "tomorrow").failed(t, exitUsage, `malformed duration "tomorrow"`)
	ctl(t, "-r", path, "watch", "--interval", "1x").failed(t, exitUsage, "invalid value")
	ctl(t, "-r", path, "create", "--size", "big").failed(t, exitUsage, "malformed size")
	ctl(t, "-r", path, "keys", "--limit", "many").failed(t, exitUsage, "invalid value")
}

// Another user's region, in a directory where anyone may create files:
// every subcommand refuses it, naming the owner, until --trust-uid names
// that user; a symbolic link at the region's path is never followed, and
// rm --force removes the link, not what it points to.
func TestUntrustedRegion(t *testing.T) {
	testenv.NeedRoot(t, "run shmctl as nobody and then as root")
	dir, err := os.MkdirTemp("/dev/shm", "shmctl-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // not sticky: the kernel's protected_* settings do not apply
		t.Fatal(err)
	}
	path, link := filepath.Join(dir, "r"), filepath.Join(dir, "l")
	nobody := runOpts{cred: &syscall.Credential{Uid: 65534, Gid: 65534}}
	ctlWith(t, nobody, "-r", path, "create", "--size", "1M", "--mode", "0666").ok(t)
	for _, sub := range readSubcommands {
		ctl(t, append([]string{"-r", path}, sub...)...).failed(t, exitFail, "owned by uid 65534")
	}
	ctl(t, "-r", path, "--trust-uid", "65534", "inspect").ok(t)
	ctl(t, "-r", path, "inspect", "--trust-uid", "nobody").ok(t)
	ctl(t, "-r", path, "--trust-uid", "nobody-at-all", "inspect").failed(t, exitUsage, "neither a uid nor a user's name")

	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	ctl(t, "-r", link, "--trust-uid", "65534", "inspect").failed(t, exitFail, "symbolic link")
	ctl(t, "-r", link, "rm", "--yes").failed(t, exitFail, "--force removes it anyway")
	ctl(t, "-r", link, "rm", "--yes", "--force").ok(t)
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("rm --force left the link: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("rm --force of a link removed what it points to: %v", err)
	}
	ctl(t, "-r", path, "rm", "--yes").failed(t, exitFail, "owned by uid 65534")
	ctl(t, "-r", path, "rm", "--yes", "--force").ok(t)
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("rm --force left another user's file: %v", err)
	}
}
