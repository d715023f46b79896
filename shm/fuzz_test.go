package shm

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// FuzzOpenFile opens arbitrary bytes as a region: it must return a region or
// an error, never panic, fault or hang, and never change a file it refuses.
// Allowed to create, it may create only over an empty file or a creation of
// its own that was interrupted (see createLocked), never over anything else.
func FuzzOpenFile(f *testing.F) {
	valid := validRegionBytes(f)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte("SHMLRU\x00\x01"))
	newer := bytes.Clone(valid)
	binary.NativeEndian.PutUint32(newer[unsafe.Offsetof(header{}.version):], Version+1)
	f.Add(newer)
	f.Add(valid[:HeaderSize])
	interrupted := bytes.Clone(valid)
	binary.NativeEndian.PutUint64(interrupted[offState:], stateWord(stateInitialising, 0))
	f.Add(interrupted)
	f.Add(interrupted[:HeaderSize])
	f.Add(make([]byte, len(valid)))
	f.Add(version1Region(int64(len(valid)), 8, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, Options{NoCreate: true})
		if err != nil {
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, data) {
				t.Fatal("a refused file was changed")
			}
		} else {
			if len(r.Data()) == 0 || r.Size() != int64(len(data)) {
				t.Fatalf("opened a region of %d bytes with %d data bytes from a %d-byte file", r.Size(), len(r.Data()), len(data))
			}
			r.Close()
			return
		}
		r, err = Open(path, Options{Size: 16 << 10, Slots: 8})
		if err != nil {
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, data) {
				t.Fatal("a refused file was changed")
			}
			return
		}
		r.Close()
		if !r.Created() {
			t.Fatal("a file that NoCreate refused opened without being created")
		}
		var k kind
		if len(data) >= HeaderSize {
			_, k, _ = check(data[:HeaderSize], path, int64(len(data)))
		}
		if len(data) != 0 && k != kindIntent {
			t.Fatal("created a region over a file that was neither empty nor an interrupted creation")
		}
	})
}
