package chart

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// Missing marks a bar without a value; without it the slot stays blank.
func TestMissingMarker(t *testing.T) {
	dir := t.TempDir()
	draw := func(name, missing string) []byte {
		b := Bars{Title: "t", Groups: []string{"a", "b"}, Series: []string{"x", "y"},
			Values: [][]float64{{1, 2}, {3, math.NaN()}}, Log: true, Missing: missing}
		p := filepath.Join(dir, name)
		if err := b.WritePNG(p); err != nil {
			t.Fatal(err)
		}
		out, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if bytes.Equal(draw("blank.png", ""), draw("marked.png", "n/a")) {
		t.Error("the n/a marker drew nothing")
	}
}
