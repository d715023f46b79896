package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// patternAt is the byte a populated test region holds at offset i of its
// data area. A re-created region starts from zeros, so a data area that
// still holds the pattern was not re-created.
func patternAt(i int) byte { return byte(i*7+i>>8) | 1 }

func fillPattern(d []byte) error {
	for i := range d {
		d[i] = patternAt(i)
	}
	return nil
}

// patternIntact reports the first offset of d that lost the pattern, or -1.
func patternBroken(d []byte) int {
	for i := range d {
		if d[i] != patternAt(i) {
			return i
		}
	}
	return -1
}

// fileState is what a refused open must leave unchanged.
type fileState struct {
	content []byte
	mode    os.FileMode
	mtime   time.Time
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{b, st.Mode(), st.ModTime()}
}

func (a fileState) diff(b fileState) string {
	switch {
	case len(a.content) != len(b.content):
		return fmt.Sprintf("size %d became %d", len(a.content), len(b.content))
	case !bytes.Equal(a.content, b.content):
		return "contents changed"
	case a.mode != b.mode:
		return fmt.Sprintf("mode %v became %v", a.mode, b.mode)
	case !a.mtime.Equal(b.mtime):
		return fmt.Sprintf("mtime %v became %v", a.mtime, b.mtime)
	}
	return ""
}

// A file whose first 4 KiB are zero is not a creation this
// package started (creation writes its header before the file grows), so
// it is another program's file: refused, and left exactly as it was.
func TestForeignFileWithZeroHeaderIsRefusedAndUntouched(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"zero page then data", append(make([]byte, HeaderSize), bytes.Repeat([]byte("someone else's data "), 4096)...)},
		{"zero page only", make([]byte, HeaderSize)},
		{"all zeros, region sized", make([]byte, testSize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.content)
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, path)
			for _, o := range []Options{{Size: testSize, Mode: 0o660}, {NoCreate: true}} {
				r, err := Open(path, o)
				if err == nil {
					r.Close()
					t.Fatalf("Open(%+v) of a foreign file succeeded (created %v)", o, r.Created())
				}
				if !errors.Is(err, ErrNotRegion) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Open(%+v) = %v, want ErrNotRegion naming the file", o, err)
				}
				if d := before.diff(stateOf(t, path)); d != "" {
					t.Fatalf("Open(%+v) refused the file but changed it: %s", o, d)
				}
			}
		})
	}
}

// version1Region returns a region file as version 1 of this package laid it
// out (the offsets are frozen here on purpose: they are history).
func version1Region(size int64, slots int, state uint32) []byte {
	b := make([]byte, size)
	e := binary.NativeEndian
	dataOff := alignUp(HeaderSize+int64(slots)*8, pageSize)
	copy(b, Magic)
	e.PutUint32(b[8:], 1) // version
	e.PutUint32(b[12:], byteOrderMark)
	e.PutUint32(b[16:], state) // 0 initialising, 1 ready
	e.PutUint32(b[20:], HeaderSize)
	e.PutUint64(b[24:], uint64(size))
	e.PutUint64(b[32:], uint64(time.Now().UnixNano()))
	e.PutUint32(b[40:], uint32(slots))
	e.PutUint32(b[44:], HeaderSize)
	e.PutUint64(b[48:], uint64(dataOff))
	e.PutUint64(b[56:], uint64(size-dataOff))
	return b
}

// A region of layout version 1, ready or interrupted, is refused with
// ErrVersion naming both versions, and left unchanged.
func TestVersion1IsRefused(t *testing.T) {
	for _, state := range []uint32{1, 0} {
		path := writeFile(t, version1Region(testSize, 8, state))
		before := stateOf(t, path)
		r, err := Open(path, Options{Size: testSize})
		if err == nil {
			r.Close()
			t.Fatalf("version 1 file (state %d) opened (created %v)", state, r.Created())
		}
		if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 1") || !strings.Contains(err.Error(), fmt.Sprintf("version %d", Version)) {
			t.Fatalf("version 1 file (state %d): %v, want ErrVersion naming versions 1 and %d", state, err, Version)
		}
		if d := before.diff(stateOf(t, path)); d != "" {
			t.Fatalf("version 1 file (state %d) was changed: %s", state, d)
		}
	}
}

// Random damage to the header page of a populated region never
// makes Open re-create it. Every outcome is either a refusal (ErrNotRegion
// or ErrVersion) that leaves the file byte for byte as it was, or an open of
// the existing region with its data intact.
func TestHeaderCorruptionNeverRecreates(t *testing.T) {
	const size, slots, rounds = 16 << 10, 8, 2000
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig")
	r, err := Open(orig, Options{Size: size, Slots: slots, Init: fillPattern})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	valid, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	offState := int(unsafe.Offsetof(header{}.state))
	hdrLen := int(unsafe.Sizeof(header{}))
	rng := rand.New(rand.NewPCG(9, 8))
	path := filepath.Join(dir, "r")
	var refused, opened int
	for round := range rounds {
		b := bytes.Clone(valid)
		var what string
		switch round % 5 {
		case 0: // a few random bytes anywhere in the header page
			n := 1 + rng.IntN(8)
			for range n {
				b[rng.IntN(HeaderSize)] = byte(rng.Uint32())
			}
			what = fmt.Sprintf("%d random bytes in the page", n)
		case 1: // random bytes among the header's fields
			n := 1 + rng.IntN(4)
			for range n {
				b[rng.IntN(hdrLen)] = byte(rng.Uint32())
			}
			what = fmt.Sprintf("%d random bytes in the fields", n)
		case 2: // the state field: a value of its own
			v := []uint32{0, 1, 2, 0xffffffff, rng.Uint32()}[rng.IntN(5)]
			binary.NativeEndian.PutUint32(b[offState:], v)
			what = fmt.Sprintf("state %#x", v)
		case 3: // one bit of the state field
			bit := rng.IntN(32)
			b[offState+bit/8] ^= 1 << (bit % 8)
			what = fmt.Sprintf("state bit %d", bit)
		case 4: // a run of zeros or random bytes
			off, n := rng.IntN(hdrLen+16), 1+rng.IntN(32)
			zero := rng.IntN(2) == 0
			for i := off; i < off+n && i < HeaderSize; i++ {
				b[i] = 0
				if !zero {
					b[i] = byte(rng.Uint32())
				}
			}
			what = fmt.Sprintf("run of %d bytes at %d (zeros %v)", n, off, zero)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		inits := 0
		r, err := Open(path, Options{Size: size, Slots: slots, Init: func([]byte) error { inits++; return nil }})
		if err != nil {
			if !errors.Is(err, ErrNotRegion) && !errors.Is(err, ErrVersion) {
				t.Fatalf("round %d (%s): %v, want ErrNotRegion or ErrVersion", round, what, err)
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(after, b) {
				t.Fatalf("round %d (%s): refused (%v) but the file was changed", round, what, err)
			}
			refused++
			continue
		}
		created, broken := r.Created(), patternBroken(r.Data())
		r.Close()
		if created || inits != 0 || broken >= 0 {
			t.Fatalf("round %d (%s): the region was re-created (Created %v, Init ran %d times, data lost from offset %d)", round, what, created, inits, broken)
		}
		opened++
	}
	t.Logf("%d refused, %d opened intact", refused, opened)
	if refused == 0 || opened == 0 {
		t.Fatalf("%d refused, %d opened: the corruptions did not exercise both outcomes", refused, opened)
	}
}

// The properties the comment on the state constants claims.
func TestStateConstants(t *testing.T) {
	var init, ready, mark uint32 = stateInitialising, stateReady, readyMark
	for i := range 4 {
		shift := 8 * i
		if byte(init>>shift) == byte(ready>>shift) {
			t.Errorf("stateInitialising and stateReady share byte %d", i)
		}
		if byte(mark>>shift) == 0 {
			t.Errorf("readyMark has a zero byte %d", i)
		}
	}
	for _, v := range []uint32{init, ready} {
		if v == 0 || v == 1 {
			t.Errorf("state %#x is one of version 1's", v)
		}
	}
}
