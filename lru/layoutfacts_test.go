package lru

import (
	"strings"
	"testing"
	"unsafe"
)

// LayoutFacts is the C library's source of offsets: spot-check it against
// unsafe.Offsetof, nested fields (counted from the outermost struct) and
// the last fields of each struct included.
func TestLayoutFacts(t *testing.T) {
	var sh shardHeader
	var e entry
	var ch cacheHeader
	var x entryExt
	var p pieceHeader
	want := map[string][2]uintptr{ // name: offset, size
		"cacheHeader.magic":        {unsafe.Offsetof(ch.magic), unsafe.Sizeof(ch.magic)},
		"cacheHeader.shardStride":  {unsafe.Offsetof(ch.shardStride), 8},
		"cacheHeader.heapOff":      {unsafe.Offsetof(ch.heapOff), 4},
		"shardHeader.lock":         {unsafe.Offsetof(sh.lock), 4},
		"shardHeader.clock":        {unsafe.Offsetof(sh.clock), 8},
		"shardHeader.deadPid":      {unsafe.Offsetof(sh.deadPid), 4},
		"shardHeader.stats":        {unsafe.Offsetof(sh.stats), unsafe.Sizeof(sh.stats)},
		"shardHeader.stats.Sets":   {unsafe.Offsetof(sh.stats) + unsafe.Offsetof(sh.stats.Sets), 8},
		"shardHeader.seq":          {unsafe.Offsetof(sh.seq), 8},
		"cacheHeader.readsOff":     {unsafe.Offsetof(ch.readsOff), 8},
		"shardHeader.stats.Resets": {unsafe.Offsetof(sh.stats) + unsafe.Offsetof(sh.stats.Resets), 8},
		"entry.hnext":              {unsafe.Offsetof(e.hnext), 4},
		"entry.info":               {unsafe.Offsetof(e.info), 8},
		"entry.vlen":               {unsafe.Offsetof(e.vlen), 4},
		"entryExt.more":            {unsafe.Offsetof(x.more), 4},
		"pieceHeader.units":        {unsafe.Offsetof(p.units), 4},
		"shardHeader.classes":      {unsafe.Offsetof(sh.classes), 32},
		"entry":                    {0, entryHeaderSize},
		"shardHeader":              {0, unsafe.Sizeof(sh)},
		"entryHeaderSize":          {0, entryHeaderSize},
		"shm.OrphanToken":          {0, 0xffff},
	}
	seen := map[string]bool{}
	fields := map[string]int{}
	for _, f := range LayoutFacts() {
		if seen[f.Name] {
			t.Errorf("%s listed twice", f.Name)
		}
		seen[f.Name] = true
		var got [2]uintptr
		switch f.Kind {
		case FactField:
			got = [2]uintptr{uintptr(f.Value), uintptr(f.Size)}
			fields[f.Name[:strings.LastIndex(f.Name, ".")]]++
		case FactStruct, FactConst:
			got = [2]uintptr{0, uintptr(f.Value)}
			if f.Kind == FactConst && f.Doc == "" {
				t.Errorf("constant %s has no doc", f.Name)
			}
		}
		if w, ok := want[f.Name]; ok && got != w {
			t.Errorf("%s: offset, size or value %v, want %v", f.Name, got, w)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s missing", name)
		}
	}
	// Every field of every struct, padding excepted (a new field changes
	// these counts, as it changes LayoutVersion).
	for path, n := range map[string]int{"cacheHeader": 21, "trackTable": 4, "trackTable.stats": 4, "shardHeader": 13, "shardHeader.stats": 6, "entry": 6, "entryExt": 3, "pieceHeader": 2} {
		if fields[path] != n {
			t.Errorf("%d fields of %s listed, want %d", fields[path], path, n)
		}
	}
}
