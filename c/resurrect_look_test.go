package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// The native read-through look and Go's classify the same entries alike,
// whatever their user flags hold: ResurrectFlag alone, with StaleFlag and a
// window (0, shorter or longer than the TTL, the widest), with
// resty.shmlru.mlcache's JSON flags (bit 30), on an absence, on an expired
// entry, and random words. Deadlines are far from the soft-stale and
// expiry boundaries, so that the two looks, a moment apart, see the same.
func TestNativeLookMatchesGoOverFlags(t *testing.T) {
	bin := buildC(t, "test/review_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 4 << 20, Shards: 2})
	const jsonFlags = 0x4A534F4E
	const window = lru.ResurrectFlag - 1
	rng := rand.New(rand.NewPCG(29, 5))
	flagsOf := func() uint32 {
		w := []uint32{0, 1, 600_000, 2 * 3_600_000, window}[rng.IntN(5)]
		switch rng.IntN(9) {
		case 0:
			return 0
		case 1:
			return lru.ResurrectFlag
		case 2:
			return lru.ResurrectFlag | lru.StaleFlag | w
		case 3:
			return lru.StaleFlag | w
		case 4:
			return jsonFlags
		case 5:
			return jsonFlags | lru.ResurrectFlag
		case 6:
			return lru.StaleFlag | 1<<30 | lru.ResurrectFlag | w
		case 7:
			return ^uint32(0)
		default:
			return rng.Uint32()
		}
	}
	const n = 400
	expiring, lists := 0, 0
	for i := 0; i < n; i++ {
		k := []byte(fmt.Sprint("d", i))
		o := lru.WriteOptions{Flags: flagsOf()}
		switch rng.IntN(3) {
		case 0:
			o.TTL = time.Hour
		case 1:
			o.TTL = 20 * time.Millisecond // expired by the time both look
			expiring++
		}
		var v []byte
		switch rng.IntN(5) {
		case 0:
			o.Type = lru.TypeNone
		case 1:
			o.Type, v = lru.TypeNumber, lru.EncodeNumber(float64(i))
		case 2:
			o.Type, v = lru.TypeBool, []byte{1}
		case 3:
			if _, err := c.LPush(k, []byte("item"), lru.TypeBytes); err != nil {
				t.Fatal(err)
			}
			lists++ // left to Go by the native read
			continue
		default:
			v = bytes.Repeat([]byte{'v'}, rng.IntN(100))
		}
		if _, err := c.Write(k, v, o); err != nil {
			t.Fatalf("write %s %+v: %v", k, o, err)
		}
	}
	// The short TTLs are past before either looks (a clock to pass, not a
	// race to wait out).
	time.Sleep(30 * time.Millisecond)

	out, err := exec.Command(bin, "looks", path, "d", fmt.Sprint(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	rt, err := c.Loads().ReadThrough(lru.LoadOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	states := map[lru.LookState]int{}
	for i := 0; i < n; i++ {
		if !sc.Scan() {
			t.Fatalf("driver stopped at %d:\n%s", i, out)
		}
		k := []byte(fmt.Sprint("d", i))
		l, err := rt.Look(make([]byte, 0, 1<<16), k)
		rc := 0
		if err != nil {
			rc = codeOf(err)
		}
		stale := 0
		if l.State == lru.LookExpired {
			stale = 1
		}
		meta := l.Meta
		if errors.Is(err, lru.ErrNotFound) || l.State == lru.LookMiss {
			meta = lru.Meta{}
		}
		want := fmt.Sprintf("rc %d %d %d %d %d %d %d %d", rc, l.State, l.FreshUntil, meta.Flags, meta.Type, meta.Expires, stale, len(l.Value))
		if err != nil {
			// An error's outputs are the call's to leave: the status
			// alone.
			want = fmt.Sprintf("rc %d", rc)
		}
		got := sc.Text()
		if err != nil {
			got = strings.Join(strings.Fields(got)[:2], " ")
		}
		if got != want {
			t.Errorf("%s (flags %#x type %v expires %d): native %q, Go %q", k, l.Meta.Flags, l.Meta.Type, l.Meta.Expires, got, want)
		}
		states[l.State]++
	}
	if !sc.Scan() || sc.Text() != fmt.Sprint("fallbacks ", lists) {
		t.Errorf("the native looks were left to Go: %q, of %d lists", sc.Text(), lists)
	}
	if states[lru.LookResurrected] == 0 || states[lru.LookSoftStale] == 0 || states[lru.LookExpired] == 0 || states[lru.LookFresh] == 0 || states[lru.LookAbsent] == 0 {
		t.Errorf("the entries did not cover every state: %v", states)
	}
	t.Logf("states %v, %d expiring", states, expiring)
}

// A process scribbles the user flags word of one entry, without a lock,
// with ResurrectFlag, StaleFlag and windows in every combination, while
// the native look (a C process) and Go's look read the entry: each look
// is one reading of the word, never a state of one and a window of
// another, and never fresh with the mark.
func TestLooksOfAScribbledFlagsWord(t *testing.T) {
	bin := buildC(t, "test/review_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 1})
	const probe = 0x1357_2468 // a word found once in the region: the flags
	key := []byte("f")
	if _, err := c.Write(key, []byte("value"), lru.WriteOptions{TTL: time.Hour, Flags: probe}); err != nil {
		t.Fatal(err)
	}
	d := c.Binding().Region().Data()
	var p = []byte{0x68, 0x24, 0x57, 0x13}
	if binary.NativeEndian.Uint32([]byte{1, 0, 0, 0}) != 1 {
		p = []byte{0x13, 0x57, 0x24, 0x68}
	}
	off := bytes.Index(d, p)
	if off < 0 || off%4 != 0 || bytes.Index(d[off+4:], p) >= 0 {
		t.Fatalf("the flags word is not found once, aligned (at %d)", off)
	}
	word := (*uint32)(unsafe.Pointer(&d[off]))
	words := []uint32{0, lru.ResurrectFlag, lru.StaleFlag | 1, lru.StaleFlag | 3_600_000,
		lru.StaleFlag | lru.ResurrectFlag | 600_000, lru.StaleFlag | lru.ResurrectFlag | (lru.ResurrectFlag - 1),
		0x4A534F4E, 0x4A534F4E | lru.ResurrectFlag, ^uint32(0), lru.StaleFlag}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the scribbler
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			atomic.StoreUint32(word, words[i%len(words)])
		}
	}()
	var torn atomic.Pointer[string]
	rt, err := c.Loads().ReadThrough(lru.LoadOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // Go's look
		defer wg.Done()
		buf := make([]byte, 0, 64)
		for !stop.Load() {
			l, err := rt.Look(buf, key)
			if err != nil {
				continue
			}
			why := lookTorn(l)
			if why == "" && (l.State == lru.LookFresh || l.State == lru.LookAbsent) && l.Meta.Flags&lru.ResurrectFlag != 0 {
				why = fmt.Sprintf("%v with the mark in flags %#x", l.State, l.Meta.Flags)
			}
			if why != "" {
				torn.CompareAndSwap(nil, &why)
			}
		}
	}()
	out, err := exec.Command(bin, "lookloop", path, string(key), "2000000").CombinedOutput()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("native look: %v\n%s", err, out)
	}
	if why := torn.Load(); why != nil {
		t.Fatalf("Go's look: %s", *why)
	}
	var n int64
	var st [6]int64
	if _, err := fmt.Sscanf(string(out), "ok %d %d %d %d %d %d %d", &n, &st[0], &st[1], &st[2], &st[3], &st[4], &st[5]); err != nil {
		t.Fatalf("driver: %q", out)
	}
	if st[lru.LookFresh] == 0 || st[lru.LookSoftStale] == 0 || st[lru.LookResurrected] == 0 {
		t.Errorf("the native looks did not see every state: %v", st)
	}
	t.Logf("native looks by state %v", st)
}
