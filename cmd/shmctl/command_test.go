package main

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	for _, c := range []struct {
		args []string
		pos  []string
		ttl  string
		num  bool
	}{
		{[]string{"k", "v"}, []string{"k", "v"}, "", false},
		{[]string{"k", "--ttl", "5s", "v", "--num"}, []string{"k", "v"}, "5s", true},
		{[]string{"--num", "--", "k", "-5", "--ttl"}, []string{"k", "-5", "--ttl"}, "", true},
		{[]string{"k", "--", "-v"}, []string{"k", "-v"}, "", false},
		{[]string{"-"}, []string{"-"}, "", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		ttl := fs.String("ttl", "", "")
		num := fs.Bool("num", false, "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil || !reflect.DeepEqual(pos, c.pos) || *ttl != c.ttl || *num != c.num {
			t.Errorf("%q: pos %q ttl %q num %v err %v", c.args, pos, *ttl, *num, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"k", "--nope"}); err == nil {
		t.Error("an unknown flag after a positional argument was accepted")
	}
}

func TestKeyArg(t *testing.T) {
	if k, err := keyArg(`"a\x00b"`, true); err != nil || string(k) != "a\x00b" {
		t.Errorf("quoted: %q %v", k, err)
	}
	if k, err := keyArg(`"a"`, false); err != nil || string(k) != `"a"` {
		t.Errorf("unquoted: %q %v", k, err)
	}
	if _, err := keyArg("a", true); err == nil {
		t.Error("--quoted accepted an unquoted key")
	}
}
