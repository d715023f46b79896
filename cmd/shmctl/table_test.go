package main

import (
	"strings"
	"testing"
)

func TestTableAlignsColumns(t *testing.T) {
	tb := newTable("NAME", ">COUNT", "NOTE")
	tb.add("a", "1", "first")
	tb.add("longer", "12345", "")
	tb.add("é", "22", "unicode counts as one column")
	var b strings.Builder
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME    COUNT  NOTE\n" +
		"a           1  first\n" +
		"longer  12345\n" +
		"é          22  unicode counts as one column\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestTableWithoutHeader(t *testing.T) {
	tb := newTable()
	tb.add("k", "v")
	tb.add("key", "value")
	var b strings.Builder
	tb.write(&b)
	if b.String() != "k    v\nkey  value\n" {
		t.Errorf("got %q", b.String())
	}
}
