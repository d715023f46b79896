package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
)

// The ABI is written down three times: in Go (status.go, abi.go), in the
// public header shmlru.h and in the Lua binding's cdef. These tests hold the
// three together: every status code, constant, struct layout and function
// prototype. (The header's prototypes are also checked against their
// definitions by the compiler: shim.c includes shmlru.h.)

const luaModule = "../ffi/resty/shmlru/base.lua"

// goConstants are every named constant the ABI defines, from the Go side.
func goConstants() map[string]int {
	m := map[string]int{}
	for _, s := range statuses {
		m[s.name] = s.code
	}
	for k, v := range abiConstants {
		m[k] = v
	}
	return m
}

var enumRe = regexp.MustCompile(`\b(SHMLRU_[A-Z0-9_]+)\s*=\s*(-?\d+)`)

func parseEnums(t *testing.T, what, text string) map[string]int {
	m := map[string]int{}
	for _, g := range enumRe.FindAllStringSubmatch(text, -1) {
		v, err := strconv.Atoi(g[2])
		if err != nil {
			t.Fatalf("%s: %s = %s: %v", what, g[1], g[2], err)
		}
		if _, dup := m[g[1]]; dup {
			t.Errorf("%s: %s defined twice", what, g[1])
		}
		m[g[1]] = v
	}
	return m
}

func compareConstants(t *testing.T, what string, got map[string]int) {
	t.Helper()
	want := goConstants()
	for name, v := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s lacks %s (%d in Go)", what, name, v)
		case g != v:
			t.Errorf("%s: %s = %d, Go has %d", what, name, g, v)
		}
	}
	for name, v := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s defines %s = %d, unknown to Go", what, name, v)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// luaCdef extracts the cdef string of the Lua module.
func luaCdef(t *testing.T) string {
	src := readFile(t, luaModule)
	start := strings.Index(src, "local CDEF = [[")
	end := strings.Index(src[max(start, 0):], "]]")
	if start < 0 || end < 0 {
		t.Fatalf("%s: no `local CDEF = [[ ... ]]` block", luaModule)
	}
	return src[start+len("local CDEF = [[") : start+end]
}

func TestStatusTable(t *testing.T) {
	seen := map[int]bool{}
	for i, s := range statuses {
		if s.code != -i {
			t.Errorf("%s: code %d at index %d; codes run 0, -1, -2, ... without gaps", s.name, s.code, i)
		}
		if seen[s.code] {
			t.Errorf("%s: code %d used twice", s.name, s.code)
		}
		seen[s.code] = true
		if s.msg == "" || (s.code != statusOK && s.lua == "") {
			t.Errorf("%s: missing message", s.name)
		}
	}
	if len(statuses) > 63 {
		t.Errorf("%d statuses do not fit shmlru_messages[64]", len(statuses))
	}
}

func TestHeaderConstants(t *testing.T) {
	compareConstants(t, "shmlru.h", parseEnums(t, "shmlru.h", readFile(t, "shmlru.h")))
}

func TestLuaCdefConstants(t *testing.T) {
	compareConstants(t, "Lua cdef", parseEnums(t, "Lua cdef", luaCdef(t)))
}

var protoRe = regexp.MustCompile(`(?m)^\s*((?:const\s+)?[a-z_0-9]+\s*\*?)\s*(shmlru_[a-z_]+)\s*\(([^)]*)\)\s*;`)

// prototypes returns each function's prototype, whitespace normalised.
func prototypes(text string) map[string]string {
	text = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(text, "")
	text = regexp.MustCompile(`\s+`).ReplaceAllString(text, " ")
	text = strings.ReplaceAll(text, "; ", ";\n")
	m := map[string]string{}
	for _, g := range protoRe.FindAllStringSubmatch(text, -1) {
		norm := func(s string) string {
			s = strings.ReplaceAll(s, " *", "*")
			s = strings.ReplaceAll(s, "* ", "*")
			return strings.Join(strings.Fields(s), " ")
		}
		var params []string
		for _, p := range strings.Split(g[3], ",") {
			params = append(params, norm(p))
		}
		m[g[2]] = norm(g[1]) + " " + g[2] + "(" + strings.Join(params, ", ") + ")"
	}
	return m
}

func TestLuaCdefPrototypes(t *testing.T) {
	h := prototypes(readFile(t, "shmlru.h"))
	l := prototypes(luaCdef(t))
	if len(h) < 25 {
		t.Fatalf("found only %d prototypes in shmlru.h: the parser is broken", len(h))
	}
	for name, p := range h {
		if l[name] != p {
			t.Errorf("prototype of %s:\n  shmlru.h: %s\n  Lua cdef: %s", name, p, l[name])
		}
	}
	for name := range l {
		if _, ok := h[name]; !ok {
			t.Errorf("Lua cdef declares %s, shmlru.h does not", name)
		}
	}
	// Every prototype of the header is implemented in shim.c.
	shim := readFile(t, "shim.c")
	for name := range h {
		if !regexp.MustCompile(`\b` + name + `\(`).MatchString(shim) {
			t.Errorf("%s is not defined in shim.c", name)
		}
	}
}

// goLayout describes the Go mirrors the way the probes print C's view:
// "struct NAME SIZE" and "field NAME.FIELD OFFSET SIZE" lines, sorted.
func goLayout() []string {
	var out []string
	for name, v := range abiStructs {
		rt := reflect.TypeOf(v)
		out = append(out, fmt.Sprintf("struct %s %d", name, rt.Size()))
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			out = append(out, fmt.Sprintf("field %s.%s %d %d", name, f.Tag.Get("c"), f.Offset, f.Type.Size()))
		}
	}
	sort.Strings(out)
	return out
}

// goValues is every constant as "const NAME VALUE" lines, and the Lua
// error strings as "err CODE STRING", sorted.
func goValues(withErrs bool) []string {
	var out []string
	for k, v := range goConstants() {
		out = append(out, fmt.Sprintf("const %s %d", k, v))
	}
	if withErrs {
		for _, s := range statuses {
			if s.code != statusOK {
				out = append(out, fmt.Sprintf("err %d %s", s.code, s.lua))
			}
		}
	}
	sort.Strings(out)
	return out
}

func compareLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	sort.Strings(got)
	g := map[string]bool{}
	for _, l := range got {
		g[l] = true
	}
	w := map[string]bool{}
	for _, l := range want {
		w[l] = true
		if !g[l] {
			t.Errorf("%s: want %q", what, l)
		}
	}
	for _, l := range got {
		if !w[l] {
			t.Errorf("%s: unexpected %q", what, l)
		}
	}
}

// TestHeaderLayout compiles a probe against shmlru.h that prints each
// struct's size, each field's offset and size, and each constant.
func TestHeaderLayout(t *testing.T) {
	cc := testenv.Need(t, "gcc")
	var src bytes.Buffer
	src.WriteString("#include <stdio.h>\n#include \"shmlru.h\"\nint main(void) {\n")
	for name, v := range abiStructs {
		rt := reflect.TypeOf(v)
		fmt.Fprintf(&src, "\tprintf(\"struct %s %%zu\\n\", sizeof(%s));\n", name, name)
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i).Tag.Get("c")
			fmt.Fprintf(&src, "\tprintf(\"field %s.%s %%zu %%zu\\n\", __builtin_offsetof(%s, %s), sizeof(((%s *)0)->%s));\n", name, f, name, f, name, f)
		}
	}
	for k := range goConstants() {
		fmt.Fprintf(&src, "\tprintf(\"const %s %%d\\n\", (int)%s);\n", k, k)
	}
	src.WriteString("\treturn 0;\n}\n")
	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "probe.c"), filepath.Join(dir, "probe")
	if err := os.WriteFile(cfile, src.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(".")
	if out, err := exec.Command(cc, "-Wall", "-Werror", "-I", abs, "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("compiling the probe against shmlru.h: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	compareLines(t, "shmlru.h", strings.Split(strings.TrimSpace(string(out)), "\n"), append(goLayout(), goValues(false)...))
}

// TestLuaLayout loads the Lua module in LuaJIT and prints the same facts
// from its cdef, plus its error strings.
func TestLuaLayout(t *testing.T) {
	luajit := testenv.Need(t, "luajit")
	var script bytes.Buffer
	script.WriteString(`package.path = "../ffi/?.lua;" .. package.path
local ffi = require "ffi"
local shmlru = require "resty.shmlru"
-- fsize is a field's size: arrays report it; scalars are set to all ones
-- in a zeroed struct and their bytes counted.
local function fsize(ct, f)
	local s = ffi.new(ct)
	if type(s[f]) == "cdata" then return ffi.sizeof(s[f]) end
	s[f] = -1
	local p, n = ffi.cast("uint8_t *", s), 0
	for i = 0, ffi.sizeof(ct) - 1 do if p[i] ~= 0 then n = n + 1 end end
	return n
end
`)
	for name, v := range abiStructs {
		rt := reflect.TypeOf(v)
		fmt.Fprintf(&script, "print(string.format(\"struct %s %%d\", ffi.sizeof(%q)))\n", name, name)
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i).Tag.Get("c")
			fmt.Fprintf(&script, "print(string.format(\"field %s.%s %%d %%d\", ffi.offsetof(%q, %q), fsize(%q, %q)))\n",
				name, f, name, f, name, f)
		}
	}
	for k := range goConstants() {
		fmt.Fprintf(&script, "print(string.format(\"const %s %%d\", tonumber(ffi.C.%s)))\n", k, k)
	}
	script.WriteString(`for code, s in pairs(shmlru.errors) do print(string.format("err %d %s", code, s)) end
`)
	cmd := exec.Command(luajit, "-")
	cmd.Stdin = &script
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("luajit: %v\n%s", err, out)
	}
	compareLines(t, "Lua cdef", strings.Split(strings.TrimSpace(string(out)), "\n"), append(goLayout(), goValues(true)...))
}
