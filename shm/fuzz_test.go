package shm

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenFile opens arbitrary bytes as a region: it must return a region or
// an error, never panic, fault or hang, and never change a file it refuses.
func FuzzOpenFile(f *testing.F) {
	valid := validRegionBytes(f)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte("SHMLRU\x00\x01"))
	newer := append([]byte(nil), valid...)
	binary.NativeEndian.PutUint32(newer[8:], Version+1)
	f.Add(newer)
	f.Add(valid[:HeaderSize])
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, Options{NoCreate: true})
		if err != nil {
			after, _ := os.ReadFile(path)
			if string(after) != string(data) {
				t.Fatal("a refused file was changed")
			}
			return
		}
		if len(r.Data()) == 0 || r.Size() != int64(len(data)) {
			t.Fatalf("opened a region of %d bytes with %d data bytes from a %d-byte file", r.Size(), len(r.Data()), len(data))
		}
		r.Close()
	})
}
