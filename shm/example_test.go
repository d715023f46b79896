package shm_test

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/shmlru/shmlru/shm"
)

// A region holds whatever its user lays out in the data area; here, one
// lock word and a counter that several processes could share.
func Example() {
	dir, _ := os.MkdirTemp("", "shm-example")
	defer os.RemoveAll(dir)

	r, err := shm.Open(filepath.Join(dir, "counter"), shm.Options{
		Size: 64 << 10,
		Init: func(data []byte) error { return nil }, // a new region's data area is zeroed
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	data := r.Data()
	lock := (*uint32)(unsafe.Pointer(&data[0]))
	counter := (*uint64)(unsafe.Pointer(&data[8]))
	if r.Lock(lock) {
		// The previous owner died holding the lock: repair what it guards.
	}
	*counter++
	r.Unlock(lock)

	fmt.Println(r.Created(), *counter)
	// Output: true 1
}
