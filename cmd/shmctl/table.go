package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// table renders rows of cells in aligned columns, two spaces apart. Columns
// named in right are right-aligned (numbers); the others are left-aligned.
type table struct {
	header []string
	right  map[int]bool
	rows   [][]string
}

// newTable starts a table with the given column headers (nil for none).
// Columns whose header is prefixed with ">" are right-aligned.
func newTable(header ...string) *table {
	t := &table{right: map[int]bool{}}
	for i, h := range header {
		if strings.HasPrefix(h, ">") {
			t.right[i] = true
			h = h[1:]
		}
		t.header = append(t.header, h)
	}
	return t
}

// add appends a row.
func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write renders the table to w.
func (t *table) write(w io.Writer) error {
	rows := t.rows
	if t.header != nil {
		rows = append([][]string{t.header}, rows...)
	}
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if t.right[i] {
				line.WriteString(pad + c)
			} else if i < len(r)-1 {
				line.WriteString(c + pad)
			} else {
				line.WriteString(c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
