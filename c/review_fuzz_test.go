package main

import (
	"bytes"
	"encoding/binary"
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

// A process that writes the region without any lock (random words over
// bucket indexes, entry headers, lengths, seq, the reference bitmap, the
// read counters) while a C process reads and writes through the native
// path and Go reads. Nothing may crash, hang, or write outside the
// caller's buffer; values may be garbage (the scribbler wrote them).
func TestNativeSurvivesAScribbler(t *testing.T) {
	bin := buildC(t, "test/review_driver.c")
	path, c := openRegion(t, &lru.Options{Size: 1 << 20, Shards: 2})
	d := c.Binding().Region().Data()
	sh := fact(t, "CacheHeaderSize")
	stride := int(binary.NativeEndian.Uint64(d[fact(t, "CacheHeader.ShardStride"):]))
	readsOff := int(binary.NativeEndian.Uint64(d[fact(t, "CacheHeader.ReadsOff"):]))
	fill := func() {
		for i := 0; i < 64; i++ {
			k := []byte(fmt.Sprint("k", i))
			switch i % 4 {
			case 0:
				c.Write(k, lru.EncodeNumber(float64(i)), lru.WriteOptions{Type: lru.TypeNumber})
			case 1:
				c.Write(k, bytes.Repeat([]byte{'x'}, 200), lru.WriteOptions{Flags: 7})
			case 2:
				c.LPush(k, []byte("item"), lru.TypeBytes)
			default:
				c.Write(k, []byte("0123456789"), lru.WriteOptions{TTL: time.Hour})
			}
		}
	}
	fill()
	var stop atomic.Bool
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop.Store(true)
	scribbled := 0
	wg.Add(2)
	go func() { // the scribbler
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for !stop.Load() {
			s := sh + rng.IntN(2)*stride
			var off int
			switch rng.IntN(6) {
			case 0: // seq
				off = s + 8
			case 1, 2: // anywhere in the shard but its lock word
				off = s + 8 + rng.IntN(stride-16)&^3
			case 3: // the read counters
				off = readsOff + rng.IntN(len(d)-readsOff-8)&^7
			default: // the heap's first units, where entries are
				off = s + stride - rng.IntN(stride/4)&^3 - 8
			}
			atomic.StoreUint32((*uint32)(unsafe.Pointer(&d[off])), scribbleValue(rng))
			scribbled++
			if scribbled%50000 == 0 {
				fill()
			}
		}
	}()
	goReads := 0
	var tornLook atomic.Pointer[string]
	rt, rerr := c.Loads().ReadThrough(lru.LoadOptions{}, false)
	if rerr != nil {
		t.Fatal(rerr)
	}
	go func() { // a Go reader
		defer wg.Done()
		buf := make([]byte, 0, 64)
		for !stop.Load() {
			for i := 0; i < 64; i++ {
				c.Read(buf[:0], []byte(fmt.Sprint("k", i)), lru.ReadOptions{Fit: true})
				c.Get([]byte(fmt.Sprint("k", i)))
				if l, err := rt.Look(buf[:0], []byte(fmt.Sprint("k", i))); err == nil {
					if why := lookTorn(l); why != "" {
						tornLook.CompareAndSwap(nil, &why)
					}
				}
				goReads++
			}
		}
	}()
	done := make(chan struct{})
	var outBuf bytes.Buffer
	cmd := exec.Command(bin, "fuzz", path, "300000")
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var err error
	go func() {
		err = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Error("the native fuzz process has not finished in 120s (hang?)")
		pid := fmt.Sprint(cmd.Process.Pid)
		bt, _ := exec.Command("gdb", "-p", pid, "-batch", "-ex", "thread apply all bt 12").CombinedOutput()
		t.Logf("driver's stacks:\n%s", bt)
		cmd.Process.Kill()
		<-done
	}
	out := outBuf.Bytes()
	stop.Store(true)
	wg.Wait()
	t.Logf("scribbles %d, Go reads %d, driver: %s", scribbled, goReads, strings.TrimSpace(string(out[max(0, len(out)-300):])))
	if err != nil || !strings.Contains(string(out), "ok ") {
		t.Fatalf("driver: %v\n%s", err, out)
	}
	if why := tornLook.Load(); why != nil {
		t.Fatalf("Go's read-through look: %s", *why)
	}
}

// lookTorn says how a read-through look's parts disagree ("" if they
// agree), by the rules the driver's look_torn checks the native look by.
func lookTorn(l lru.Look) string {
	fresh := l.Meta.Expires
	if l.Meta.Flags&lru.StaleFlag != 0 && l.Meta.Expires != 0 {
		fresh = l.Meta.Expires - int64(l.Meta.Flags&(lru.ResurrectFlag-1))
	}
	bad := false
	switch l.State {
	case lru.LookMiss:
		bad = len(l.Value) != 0
	case lru.LookAbsent:
		bad = len(l.Value) != 0 || l.Meta.Type != lru.TypeNone || l.FreshUntil != l.Meta.Expires
	case lru.LookFresh, lru.LookSoftStale:
		bad = l.Meta.Type == lru.TypeNone || l.FreshUntil != fresh
	case lru.LookExpired:
		bad = l.Meta.Type == lru.TypeNone
	case lru.LookResurrected:
		bad = l.Meta.Flags&lru.ResurrectFlag == 0
		if l.Meta.Type == lru.TypeNone {
			bad = bad || len(l.Value) != 0 || l.FreshUntil != l.Meta.Expires
		} else {
			bad = bad || l.FreshUntil != fresh
		}
	default:
		bad = true
	}
	if !bad {
		return ""
	}
	return fmt.Sprintf("state %d fresh %d value %d bytes, meta %+v", l.State, l.FreshUntil, len(l.Value), l.Meta)
}

// scribbleValue is a word a lock-ignoring writer puts into the region: any
// value, a plausible length or index (below 70000), zero, or a small
// number, each a quarter of the time, as a scribbler that knows the format
// would aim.
func scribbleValue(rng *rand.Rand) uint32 {
	switch rng.IntN(4) {
	case 0:
		return rng.Uint32()
	case 1:
		return uint32(rng.IntN(70000))
	case 2:
		return 0
	default:
		return uint32(rng.IntN(16))
	}
}
