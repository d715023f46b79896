package lru

import (
	"encoding/binary"
	"fmt"
)

// A list value (TypeList) is one entry holding a sequence of items, under
// the entry's TTL, as ngx.shared.DICT's lists. Its bytes are the items in
// order, each encoded as
//
//	type uint8 | length uint32 (region byte order) | bytes
//
// Items are TypeBytes or TypeNumber. A push or pop rewrites the entry, so
// lists suit queues of modest size (the whole list is at most MaxValue).
const listItemHeader = 5

// listLen validates an encoded list and counts its items.
func listLen(v []byte) (int, error) {
	n := 0
	for len(v) > 0 {
		if len(v) < listItemHeader {
			return 0, fmt.Errorf("%w: truncated list item", ErrBadValue)
		}
		t, l := Type(v[0]), binary.NativeEndian.Uint32(v[1:])
		if (t != TypeBytes && t != TypeNumber) || uint64(l) > uint64(len(v)-listItemHeader) || (t == TypeNumber && l != 8) {
			return 0, fmt.Errorf("%w: malformed list item", ErrBadValue)
		}
		v = v[listItemHeader+int(l):]
		n++
	}
	return n, nil
}

// ListItem is one item of a list value.
type ListItem struct {
	Type  Type // TypeBytes or TypeNumber
	Value []byte
}

// DecodeList splits a list value (as GetInto returns it for a TypeList
// entry) into its items. The items' Values alias v.
func DecodeList(v []byte) ([]ListItem, error) {
	if _, err := listLen(v); err != nil {
		return nil, err
	}
	var items []ListItem
	for len(v) > 0 {
		l := int(binary.NativeEndian.Uint32(v[1:]))
		items = append(items, ListItem{Type(v[0]), v[listItemHeader : listItemHeader+l]})
		v = v[listItemHeader+l:]
	}
	return items, nil
}

func appendListItem(dst []byte, t Type, item []byte) []byte {
	dst = append(dst, byte(t))
	dst = binary.NativeEndian.AppendUint32(dst, uint32(len(item)))
	return append(dst, item...)
}

// LPush inserts item (TypeBytes or TypeNumber) at the head of the list at
// key, creating the list if there is no live entry, and returns the list's
// new length. It fails with ErrNotList if the entry is not a list.
func (c *Cache) LPush(key, item []byte, t Type) (int, error) { return c.push(key, item, t, true) }

// RPush is LPush at the tail.
func (c *Cache) RPush(key, item []byte, t Type) (int, error) { return c.push(key, item, t, false) }

// LPop removes the item at the head of the list at key and appends it to
// dst. It fails with ErrNotFound if there is no live entry (an emptied list
// is removed) and ErrNotList if the entry is not a list.
func (c *Cache) LPop(dst, key []byte) ([]byte, Type, error) {
	v, t, _, err := c.pop(dst, key, true, false)
	return v, t, err
}

// RPop is LPop at the tail.
func (c *Cache) RPop(dst, key []byte) ([]byte, Type, error) {
	v, t, _, err := c.pop(dst, key, false, false)
	return v, t, err
}

// LLen returns the length of the list at key: 0 if there is no live entry,
// ErrNotList if the entry is not a list.
func (c *Cache) LLen(key []byte) (int, error) {
	v, m, err := c.GetInto(nil, key)
	if err == ErrNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if m.Type != TypeList {
		return 0, ErrNotList
	}
	return listLen(v)
}

func (c *Cache) push(key, item []byte, t Type, head bool) (n int, err error) {
	if err := c.checkKey(key); err != nil {
		return 0, err
	}
	if t != TypeBytes && t != TypeNumber {
		return 0, fmt.Errorf("%w: a list item must be bytes or a number, not %s", ErrBadValue, t)
	}
	if err := checkTyped(t, item); err != nil {
		return 0, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.begin(); err != nil {
		return 0, err
	}
	defer s.end(&err)
	s.acquire()
	old, m, live, err := s.liveList(key, h)
	if err != nil {
		return 0, err
	}
	var v []byte
	if head {
		v = appendListItem(make([]byte, 0, len(old)+listItemHeader+len(item)), t, item)
		v = append(v, old...)
	} else {
		v = appendListItem(old, t, item)
	}
	if len(v) > c.g.maxValue {
		return 0, fmt.Errorf("%w: the list would take %d bytes, the limit is %d", ErrValueTooLarge, len(v), c.g.maxValue)
	}
	if !live {
		m = Meta{}
	}
	if _, err := s.write(key, v, h, TypeList, m.Flags, m.Expires, WriteOptions{}); err != nil {
		return 0, err
	}
	return listLen(v)
}

func (c *Cache) pop(dst, key []byte, head, fit bool) (_ []byte, t Type, size int, err error) {
	if err := c.checkKey(key); err != nil {
		return dst, 0, 0, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.begin(); err != nil {
		return dst, 0, 0, err
	}
	defer s.end(&err)
	s.acquire()
	v, m, live, err := s.liveList(key, h)
	if err != nil {
		return dst, 0, 0, err
	}
	if !live || len(v) == 0 {
		return dst, 0, 0, ErrNotFound
	}
	// Find the last item's start by walking from the front (items are
	// variable length); lists were validated by liveList.
	start, end := 0, 0
	for off := 0; off < len(v); {
		l := int(binary.NativeEndian.Uint32(v[off+1:]))
		start, end = off, off+listItemHeader+l
		if head {
			break
		}
		off = end
	}
	t = Type(v[start])
	size = end - start - listItemHeader
	if fit && size > cap(dst)-len(dst) {
		return dst, t, size, ErrBufferTooSmall
	}
	dst = append(dst, v[start+listItemHeader:end]...)
	rest := append(v[:start:start], v[end:]...)
	i, prev := s.find(key, h)
	if len(rest) == 0 {
		s.mutating()
		s.remove(i, prev, h)
		s.countChange(h) // a reader's copy of the list is out of date
		s.clean()
		return dst, t, size, nil
	}
	if _, err := s.write(key, rest, h, TypeList, m.Flags, m.Expires, WriteOptions{}); err != nil {
		return dst, 0, 0, err
	}
	return dst, t, size, nil
}

// liveList reads the list at key with the lock held. live is false when
// there is no live entry.
func (s *shard) liveList(key []byte, h uint64) (v []byte, m Meta, live bool, err error) {
	i, _ := s.find(key, h)
	if i == 0 {
		return nil, m, false, nil
	}
	e := s.ent(i)
	if e.expires() != 0 && expiredAt(e, nowMillis()) {
		return nil, m, false, nil
	}
	if e.typ() != TypeList {
		return nil, m, false, ErrNotList
	}
	v = s.readAt(nil, i, e, e.klen(), int(e.Vlen))
	if _, err := listLen(v); err != nil {
		s.corrupt("list entry %d: %v", i, err)
	}
	return v, s.metaOf(i, e), true, nil
}
