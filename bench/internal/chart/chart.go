// Package chart draws the grouped bar charts of RESULTS.md as PNG files with
// the standard library's image packages and x/image's bitmap font.
package chart

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Bars is a grouped bar chart: one group per category along x, one bar per
// series in each group.
type Bars struct {
	Title  string
	YLabel string
	Groups []string    // category labels; "\n" splits a label over lines
	Series []string    // legend entries
	Values [][]float64 // [series][group]; NaN or <= 0 (log scale) = no bar
	Log    bool        // logarithmic y axis
	Labels bool        // print each bar's value above it
	// Missing, when set, is written upright in place of each bar that
	// has no value ("n/a"), so that a gap reads as not measured rather
	// than as a figure too small to see.
	Missing string
}

var palette = []color.RGBA{
	{0xd6, 0x27, 0x28, 0xff}, // shmlru: red
	{0x1f, 0x77, 0xb4, 0xff},
	{0x2c, 0xa0, 0x2c, 0xff},
	{0xff, 0x7f, 0x0e, 0xff},
	{0x94, 0x67, 0xbd, 0xff},
	{0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff},
	{0x7f, 0x7f, 0x7f, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

const (
	barW   = 16
	gapW   = 22
	left   = 80
	right  = 20
	top    = 70
	plotH  = 380
	charW  = 7
	lineH  = 14
	legRow = 18
)

// WritePNG renders the chart to path.
func (b *Bars) WritePNG(path string) error {
	ns := len(b.Series)
	groupW := ns*barW + gapW
	labelLines := 1
	for _, g := range b.Groups {
		labelLines = max(labelLines, strings.Count(g, "\n")+1)
		for _, l := range strings.Split(g, "\n") {
			groupW = max(groupW, len(l)*charW+10)
		}
	}
	plotW := max(len(b.Groups)*groupW, 400, len(b.Title)*charW*2+10)
	if len(b.Groups) > 0 {
		// A title wider than the groups would leave the plot's right part
		// empty, as if categories were missing: spread the groups instead.
		groupW = plotW / len(b.Groups)
	}
	legendRows := (ns + 2) / 3
	width := left + plotW + right
	height := top + plotH + 10 + labelLines*lineH + 16 + legendRows*legRow + 10
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	// y range
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range b.Values {
		for _, v := range s {
			if math.IsNaN(v) || (b.Log && v <= 0) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(hi, -1) {
		lo, hi = 0, 1
	}
	var y func(v float64) int
	var ticks []float64
	if b.Log {
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		if hi <= lo {
			hi = lo * 10
		}
		y = func(v float64) int {
			return top + plotH - int(float64(plotH)*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
		}
		for d := lo; d <= hi*1.0001; d *= 10 {
			ticks = append(ticks, d)
			if d*2 < hi {
				ticks = append(ticks, d*2)
			}
			if d*5 < hi {
				ticks = append(ticks, d*5)
			}
		}
	} else {
		lo = 0
		step := niceStep(hi / 5)
		hi = math.Ceil(hi*1.05/step) * step
		y = func(v float64) int { return top + plotH - int(float64(plotH)*v/hi) }
		for t := 0.0; t <= hi*1.0001; t += step {
			ticks = append(ticks, t)
		}
	}
	grid := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	black := color.RGBA{0, 0, 0, 0xff}
	for _, t := range ticks {
		yy := y(t)
		hline(img, left, left+plotW, yy, grid)
		s := fmtNum(t)
		text(img, left-6-len(s)*charW, yy+4, s, black, 1)
	}
	vline(img, left, top, top+plotH, black)
	hline(img, left, left+plotW, top+plotH, black)
	text(img, left, 28, b.Title, black, 2)
	text(img, 8, top-12, b.YLabel, black, 1)

	for gi, g := range b.Groups {
		x0 := left + gi*groupW + (groupW-ns*barW)/2
		for si := range b.Series {
			v := math.NaN()
			if gi < len(b.Values[si]) {
				v = b.Values[si][gi]
			}
			if math.IsNaN(v) || (b.Log && v <= 0) {
				if b.Missing != "" {
					textVertical(img, x0+si*barW+barW/2-6, top+plotH-3, b.Missing, palette[si%len(palette)])
				}
				continue
			}
			yy := max(y(v), top)
			fill(img, image.Rect(x0+si*barW, yy, x0+(si+1)*barW-2, top+plotH), palette[si%len(palette)])
			if b.Labels {
				s := fmtNum(v)
				textVertical(img, x0+si*barW+barW/2-6, yy-3, s, black)
			}
		}
		for li, line := range strings.Split(g, "\n") {
			cx := x0 + ns*barW/2 - len(line)*charW/2
			text(img, cx, top+plotH+14+li*lineH, line, black, 1)
		}
	}
	// legend
	ly := top + plotH + 10 + labelLines*lineH + 16
	colW := (plotW + left) / 3
	for si, s := range b.Series {
		lx := 10 + (si%3)*colW
		yy := ly + (si/3)*legRow
		fill(img, image.Rect(lx, yy-10, lx+12, yy+2), palette[si%len(palette)])
		text(img, lx+18, yy, s, black, 1)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e6:
		return trim(fmt.Sprintf("%.1fM", v/1e6))
	case v >= 1e4:
		return trim(fmt.Sprintf("%.0fk", v/1e3))
	case v >= 1e3:
		return trim(fmt.Sprintf("%.1fk", v/1e3))
	case v >= 10 || v == 0:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return trim(fmt.Sprintf("%.1f", v))
	}
	return trim(fmt.Sprintf("%.2f", v))
}

func trim(s string) string {
	if i := strings.Index(s, ".0"); i >= 0 && (i+2 == len(s) || s[i+2] < '0' || s[i+2] > '9') {
		return s[:i] + s[i+2:]
	}
	return s
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}
func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	fill(img, image.Rect(x0, y, x1, y+1), c)
}
func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	fill(img, image.Rect(x, y0, x+1, y1), c)
}

// text draws s with its baseline at y, scaled by an integer factor.
func text(img *image.RGBA, x, y int, s string, c color.Color, scale int) {
	if scale == 1 {
		d := font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
		return
	}
	w := len(s)*charW + 2
	small := image.NewRGBA(image.Rect(0, 0, w, 16))
	d := font.Drawer{Dst: small, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(0, 12)}
	d.DrawString(s)
	for sy := 0; sy < 16; sy++ {
		for sx := 0; sx < w; sx++ {
			if _, _, _, a := small.At(sx, sy).RGBA(); a > 0x8000 {
				fill(img, image.Rect(x+sx*scale, y-12*scale+sy*scale, x+(sx+1)*scale, y-12*scale+(sy+1)*scale), c)
			}
		}
	}
}

// textVertical draws s rotated a quarter turn anticlockwise, ending at y.
func textVertical(img *image.RGBA, x, y int, s string, c color.Color) {
	w := len(s)*charW + 2
	small := image.NewRGBA(image.Rect(0, 0, w, 14))
	d := font.Drawer{Dst: small, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(0, 11)}
	d.DrawString(s)
	for sy := 0; sy < 14; sy++ {
		for sx := 0; sx < w; sx++ {
			if _, _, _, a := small.At(sx, sy).RGBA(); a > 0x8000 {
				img.Set(x+sy, y-sx, c)
			}
		}
	}
}
