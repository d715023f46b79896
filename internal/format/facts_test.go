package format

import (
	"strings"
	"testing"
	"unsafe"
)

// Facts is the C library's source of offsets: spot-check it against
// unsafe.Offsetof, nested fields (counted from the outermost struct) and
// the last fields of each struct included.
func TestFacts(t *testing.T) {
	var sh ShardHeader
	var e Entry
	var ch CacheHeader
	var x EntryExt
	var p PieceHeader
	want := map[string][2]uintptr{ // name: offset, size
		"CacheHeader.Magic":        {unsafe.Offsetof(ch.Magic), unsafe.Sizeof(ch.Magic)},
		"CacheHeader.ShardStride":  {unsafe.Offsetof(ch.ShardStride), 8},
		"CacheHeader.HeapOff":      {unsafe.Offsetof(ch.HeapOff), 4},
		"ShardHeader.Lock":         {unsafe.Offsetof(sh.Lock), 4},
		"ShardHeader.ChangeCount":  {unsafe.Offsetof(sh.ChangeCount), 8},
		"ShardHeader.DeadPid":      {unsafe.Offsetof(sh.DeadPid), 4},
		"ShardHeader.Stats":        {unsafe.Offsetof(sh.Stats), unsafe.Sizeof(sh.Stats)},
		"ShardHeader.Stats.Sets":   {unsafe.Offsetof(sh.Stats) + unsafe.Offsetof(sh.Stats.Sets), 8},
		"ShardHeader.Seq":          {unsafe.Offsetof(sh.Seq), 8},
		"CacheHeader.ReadsOff":     {unsafe.Offsetof(ch.ReadsOff), 8},
		"ShardHeader.Stats.Resets": {unsafe.Offsetof(sh.Stats) + unsafe.Offsetof(sh.Stats.Resets), 8},
		"Entry.Hnext":              {unsafe.Offsetof(e.Hnext), 4},
		"Entry.Info":               {unsafe.Offsetof(e.Info), 8},
		"Entry.Vlen":               {unsafe.Offsetof(e.Vlen), 4},
		"EntryExt.More":            {unsafe.Offsetof(x.More), 4},
		"PieceHeader.Units":        {unsafe.Offsetof(p.Units), 4},
		"ShardHeader.Classes":      {unsafe.Offsetof(sh.Classes), 32},
		"Entry":                    {0, EntryHeaderSize},
		"ShardHeader":              {0, unsafe.Sizeof(sh)},
		"EntryHeaderSize":          {0, EntryHeaderSize},
		"shm.OrphanToken":          {0, 0xffff},
		"LayoutVersion":            {0, 7},
		"ShardHeader.RingHead":     {unsafe.Offsetof(sh.RingHead), 8},
		"CacheHeader.Stripes":      {unsafe.Offsetof(ch.Stripes), 4},
	}
	seen := map[string]bool{}
	fields := map[string]int{}
	for _, f := range Facts() {
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
	for path, n := range map[string]int{"CacheHeader": 25, "TrackTable": 4, "TrackTable.Stats": 4, "ShardHeader": 14, "ShardHeader.Stats": 6, "Entry": 6, "EntryExt": 3, "PieceHeader": 2} {
		if fields[path] != n {
			t.Errorf("%d fields of %s listed, want %d", fields[path], path, n)
		}
	}
}

// The fingerprint covers every number of every fact: changing any one of
// them (a constant, a struct's size, a field's offset or size), or a name,
// gives another fingerprint; a doc does not count.
func TestFingerprintCoversEveryFact(t *testing.T) {
	facts := Facts()
	base := FingerprintOf(facts)
	if base != Fingerprint() {
		t.Fatal("Fingerprint() is not the fingerprint of Facts()")
	}
	seen := map[uint64]string{base: "unchanged"}
	for i := range facts {
		for what, change := range map[string]func(*Fact){
			"value": func(f *Fact) { f.Value++ },
			"size":  func(f *Fact) { f.Size++ },
			"name":  func(f *Fact) { f.Name += "x" },
			"kind":  func(f *Fact) { f.Kind++ },
		} {
			changed := append([]Fact(nil), facts...)
			change(&changed[i])
			fp := FingerprintOf(changed)
			if prev, ok := seen[fp]; ok {
				t.Fatalf("%s's %s changed and the fingerprint is that of %s", facts[i].Name, what, prev)
			}
			seen[fp] = facts[i].Name + "'s " + what
		}
		doc := append([]Fact(nil), facts...)
		doc[i].Doc += " (reworded)"
		if FingerprintOf(doc) != base {
			t.Fatalf("%s's doc changed the fingerprint", facts[i].Name)
		}
	}
	if FingerprintOf(facts[:len(facts)-1]) == base {
		t.Fatal("a fact left out kept the fingerprint")
	}
}
