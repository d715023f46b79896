package main

import (
	"testing"

	"github.com/shmlru/shmlru/lru"
)

func TestDel(t *testing.T) {
	path, _ := liveRegion(t, "busy")
	c := openTest(t, path)
	ctl(t, "-r", path, "del", "user:001").ok(t)
	if _, _, _, err := c.Peek(nil, []byte("user:001")); err != lru.ErrNotFound {
		t.Errorf("user:001 still there: %v", err)
	}
	ctl(t, "-r", path, "del", "user:001").failed(t, exitFail, "user:001: not found")
	ctl(t, "-r", path, "del", "--quoted", `"bin\x00key"`).ok(t)
	if _, _, _, err := c.Peek(nil, []byte(binKey)); err != lru.ErrNotFound {
		t.Errorf("binary key still there: %v", err)
	}
	// An expired entry not yet removed is deleted too.
	ctl(t, "-r", path, "del", "gone").ok(t)
	if _, _, _, err := c.Peek(nil, []byte("user:002")); err != nil {
		t.Errorf("del removed a neighbour: %v", err)
	}
}
