package lru

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLoadResurrectsAnAbsence: an expired remembered absence is at hand
// for ResurrectTTL as an expired value is (lua-resty-mlcache resurrects
// its cached nils): a failing loader gets ErrNotFound with
// SourceResurrected, and the absence is fresh again for ResurrectTTL;
// without ResurrectTTL the loader's error stands; a loader that succeeds
// replaces it.
func TestLoadResurrectsAnAbsence(t *testing.T) {
	c := newCache(t, nil)
	ctx := context.Background()
	key := []byte("gone")
	absent := func() {
		t.Helper()
		if _, err := c.Write(key, nil, WriteOptions{TTL: time.Hour, Type: TypeNone}); err != nil {
			t.Fatal(err)
		}
		expireNow(t, c, key)
		if l, err := c.look(nil, key, false, false); err != nil || l.State != LookExpired || l.Meta.Type != TypeNone {
			t.Fatalf("look at an expired absence: %+v %v; want LookExpired of TypeNone", l, err)
		}
	}
	fail := func(context.Context, []byte) ([]byte, error) { return nil, errors.New("db down") }

	absent()
	_, src, err := c.Load(ctx, nil, key, fail, LoadOptions{TTL: time.Hour, NegativeTTL: time.Hour})
	var le *LoadError
	if !errors.As(err, &le) || src != SourceLoaded {
		t.Fatalf("without ResurrectTTL: %v %v; want the loader's error", src, err)
	}

	absent()
	_, src, err = c.Load(ctx, nil, key, fail, LoadOptions{TTL: time.Hour, NegativeTTL: time.Hour, ResurrectTTL: time.Minute})
	if !errors.Is(err, ErrNotFound) || src != SourceResurrected {
		t.Fatalf("resurrect: %v %v; want ErrNotFound, SourceResurrected", src, err)
	}
	_, m, _, err := c.Peek(nil, key)
	if err != nil || m.Type != TypeNone || m.Expires == 0 {
		t.Fatalf("after resurrect: %+v %v; want a fresh absence", m, err)
	}
	if ttl := time.Duration(m.Expires-nowMillis()) * time.Millisecond; ttl <= 0 || ttl > time.Minute {
		t.Fatalf("resurrected absence's TTL %v; want (0, 1m]", ttl)
	}
	_, src, err = c.Load(ctx, nil, key, fail, LoadOptions{TTL: time.Hour, NegativeTTL: time.Hour, ResurrectTTL: time.Minute})
	if !errors.Is(err, ErrNotFound) || src != SourceResurrected {
		t.Fatalf("next Load: %v %v; want the resurrected absence, still resurrected", src, err)
	}

	absent()
	ok := func(context.Context, []byte) ([]byte, error) { return []byte("back"), nil }
	v, src, err := c.Load(ctx, nil, key, ok, LoadOptions{TTL: time.Hour, ResurrectTTL: time.Minute})
	if err != nil || string(v) != "back" || src != SourceLoaded {
		t.Fatalf("a loader that succeeds: %q %v %v", v, src, err)
	}
}
