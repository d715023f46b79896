package lru

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Incr adds delta to the number stored at key and returns the result. The
// entry keeps its TTL and flags. It fails with ErrNotFound if there is no
// live entry and ErrNotNumber if the value is not a number.
func (c *Cache) Incr(key []byte, delta float64) (float64, error) {
	v, _, err := c.incr(key, delta, false, 0, 0)
	return v, err
}

// IncrInit is Incr that, when there is no live entry, stores init+delta with
// the TTL initTTL (0 = never expires) instead of failing, as
// ngx.shared.DICT's incr(key, value, init, init_ttl). forcible reports that
// live entries were evicted to make room.
func (c *Cache) IncrInit(key []byte, delta, init float64, initTTL time.Duration) (v float64, forcible bool, err error) {
	return c.incr(key, delta, true, init, initTTL)
}

func (c *Cache) incr(key []byte, delta float64, hasInit bool, init float64, initTTL time.Duration) (v float64, forcible bool, err error) {
	if err := c.checkKey(key); err != nil {
		return 0, false, err
	}
	expires, err := deadline(initTTL)
	if err != nil {
		return 0, false, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.begin(); err != nil {
		return 0, false, err
	}
	defer s.end(&err)
	s.acquire()
	i, _ := s.find(key, h)
	if i != 0 {
		e := s.ent(i)
		if e.expires() == 0 || !expiredAt(e, nowMillis()) {
			return s.incrInPlace(i, e, h, delta)
		}
	}
	if !hasInit {
		return 0, false, ErrNotFound
	}
	v = init + delta
	var buf [8]byte
	binary.NativeEndian.PutUint64(buf[:], math.Float64bits(v))
	r, err := s.write(key, buf[:], h, TypeNumber, 0, expires, WriteOptions{})
	return v, r.Forcible, err
}

// incrInPlace updates a live number entry (its key's hash h) where it lies.
func (s *shard) incrInPlace(i uint32, e *entry, h uint64, delta float64) (float64, bool, error) {
	if e.typ() != TypeNumber {
		return 0, false, fmt.Errorf("%w: the value at this key is of type %s", ErrNotNumber, e.typ())
	}
	b := s.valueBytes(i, e)
	if len(b) != 8 {
		// A number entry is 8 bytes, but one stored as a chain (a long
		// key in a fragmented heap) may straddle pieces.
		var tmp [8]byte
		got := s.readAt(tmp[:0], i, e, e.klen(), int(e.Vlen))
		if len(got) != 8 {
			s.corrupt("number entry %d has %d bytes", i, e.Vlen)
		}
		return s.incrRewrite(i, e, got, delta)
	}
	v := math.Float64frombits(binary.NativeEndian.Uint64(b)) + delta
	s.mutating()
	binary.NativeEndian.PutUint64(b, math.Float64bits(v))
	e.Version = s.countChange(h)
	s.h.Stats.Sets++
	s.clean()
	s.touch(i, e)
	s.takeRef(i) // written: back at the head, with no read since
	return v, false, nil
}

// incrRewrite handles a number whose bytes straddle pieces: the entry is
// written anew with the same metadata.
func (s *shard) incrRewrite(i uint32, e *entry, old []byte, delta float64) (float64, bool, error) {
	v := math.Float64frombits(binary.NativeEndian.Uint64(old)) + delta
	key := s.readAt(nil, i, e, 0, e.klen())
	var buf [8]byte
	binary.NativeEndian.PutUint64(buf[:], math.Float64bits(v))
	r, err := s.write(key, buf[:], hashKey(key), TypeNumber, s.flagsOf(i, e), e.expires(), WriteOptions{})
	return v, r.Forcible, err
}

// TTL returns the time left before the entry at key expires: 0 if it never
// does, positive while it lives (at least a millisecond), and negative once
// it has expired, until it is removed (as ngx.shared.DICT's ttl, which
// finds an entry until the dict removes it): ttlLeft's rule. It is
// ErrNotFound if no entry is stored. It changes nothing.
func (c *Cache) TTL(key []byte) (time.Duration, error) {
	// One reading of wall time decides both whether the entry is live and how long
	// it has left, so a live entry never reports 0 ("never") or less.
	var now int64
	_, m, _, err := c.Read(nil, key, ReadOptions{Stale: true, Peek: true, metaOnly: true, repair: true, now: &now})
	if err != nil {
		return 0, err
	}
	if m.Expires != 0 && now == 0 {
		// The deadline was 0 when Read judged expiry and is not now: a
		// process ignoring the lock changed it in between. Its time left
		// needs a clock all the same, never the deadline itself.
		now = nowMillis()
	}
	left := ttlLeft(m.Expires, now)
	if left > math.MaxInt64/int64(time.Millisecond) {
		// A deadline past 2262 (one written by a process whose clock was
		// ahead): more than a Duration holds, and never a wrapped one.
		return time.Duration(math.MaxInt64), nil
	}
	return time.Duration(left) * time.Millisecond, nil
}

// ttlLeft is the rule of TTL, in milliseconds, for an entry with deadline
// expires (0 = never) at now: expires - now, and -1 for an entry whose
// deadline is now, which has expired (an entry is live while expires >
// now) and must not read as 0, "never". The native path (c/fast.c) follows
// it; c/native_test.go holds the two together.
func ttlLeft(expires, now int64) int64 {
	if expires == 0 {
		return 0
	}
	if left := expires - now; left != 0 {
		return left
	}
	return -1
}

// Expire sets a new TTL on the live entry at key (0 = never expires). It
// fails with ErrNotFound if there is no live entry.
func (c *Cache) Expire(key []byte, ttl time.Duration) (err error) {
	if err := c.checkKey(key); err != nil {
		return err
	}
	expires, err := deadline(ttl)
	if err != nil {
		return err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end(&err)
	s.acquire()
	i, _ := s.find(key, h)
	if i == 0 {
		return ErrNotFound
	}
	e := s.ent(i)
	if e.expires() != 0 && expiredAt(e, nowMillis()) {
		return ErrNotFound
	}
	s.mutating()
	s.setExpires(e, expires)
	s.countChange(h) // a reader's copy holds the old deadline
	s.clean()
	return nil
}
