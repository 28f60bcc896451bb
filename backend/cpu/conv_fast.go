package cpu

import (
	"github.com/tapir-ml/tapir/backend"
)

// Fast paths of Unfold and Fold.
//
// Fold with stride 1 and dilation 1 (the input gradient of a stride-1
// convolution) is done as a gather: each output row iy takes, for each
// kernel row ki, the column rows of taps (ki, 0…kw−1) at window row
// iy + py − ki, and each output element adds its kw contributions in tap
// order. Every element so receives the same additions in the same order
// as in the generic scatter loop (kernel row-major), so the results are
// identical, without the generic loop's per-(tap, row) overhead on short
// rows.
//
// Unfold of a 1×1 window with stride 1 and no padding is a copy of each
// plane.

// foldFast runs the fast path of fold2 if the window and layout allow it
// and reports whether it did.
func foldFast[T float](d []T, sh [4]int, s []T, off int, ss [3]int, g geom2, par splitter) bool {
	if !fastKernels || g.sy != 1 || g.sx != 1 || g.dy != 1 || g.dx != 1 {
		return false
	}
	n, c, h, wd := sh[0], sh[1], sh[2], sh[3]
	oh, ow := h+2*g.py-g.kh+1, wd+2*g.px-g.kw+1
	if oh <= 0 || ow < 24 || n*c*h*wd == 0 {
		return false // short rows: the generic loop does as well
	}
	k := g.kh * g.kw
	if ss[2] != 1 && oh*ow > 1 {
		return false
	}
	plane := h * wd
	par(n*c, max(1, grain/max(plane*k, 1)), func(p0, p1 int) {
		cols := make([][]T, g.kw)
		for pl := p0; pl < p1; pl++ {
			b, ch := pl/c, pl%c
			out := d[pl*plane : (pl+1)*plane]
			clear(out)
			for iy := 0; iy < h; iy++ {
				orow := out[iy*wd : (iy+1)*wd]
				for ki := 0; ki < g.kh; ki++ {
					oy := iy + g.py - ki
					if oy < 0 || oy >= oh {
						continue
					}
					for kj := range cols {
						q := off + b*ss[0] + (ch*k+ki*g.kw+kj)*ss[1] + oy*ow
						cols[kj] = s[q : q+ow]
					}
					foldRow(orow, cols, g.px)
				}
			}
		}
	})
	return true
}

// foldRow adds to each orow[ix], in tap order kj, cols[kj][ix + px − kj]
// where that lies inside the window row.
func foldRow[T float](orow []T, cols [][]T, px int) {
	kw, ow, wd := len(cols), len(cols[0]), len(orow)
	// every tap lands inside for ix in [lo, hi)
	lo, hi := max(0, kw-1-px), min(wd, ow-px)
	edge := func(ix int) {
		v := orow[ix]
		for kj, cr := range cols {
			if ox := ix + px - kj; ox >= 0 && ox < ow {
				v += cr[ox]
			}
		}
		orow[ix] = v
	}
	if lo >= hi {
		for ix := range orow {
			edge(ix)
		}
		return
	}
	for ix := 0; ix < lo; ix++ {
		edge(ix)
	}
	switch kw {
	case 1:
		c0 := cols[0][lo+px : hi+px]
		o := orow[lo:hi]
		o = o[:len(c0)]
		for i, v := range c0 {
			o[i] += v
		}
	case 3:
		// x = ix + px runs over [lo+px, hi+px); tap kj reads x − kj
		c0 := cols[0][lo+px : hi+px]
		c1 := cols[1][lo+px-1 : hi+px-1]
		c2 := cols[2][lo+px-2 : hi+px-2]
		o := orow[lo:hi]
		c1, c2, o = c1[:len(c0)], c2[:len(c0)], o[:len(c0)]
		for i := range c0 {
			o[i] = ((o[i] + c0[i]) + c1[i]) + c2[i]
		}
	default:
		for ix := lo; ix < hi; ix++ {
			v, x := orow[ix], ix+px
			for kj, cr := range cols {
				v += cr[x-kj]
			}
			orow[ix] = v
		}
	}
	for ix := hi; ix < wd; ix++ {
		edge(ix)
	}
}

// unfoldFast runs the fast path if the window and layout allow it and
// reports whether it did.
func unfoldFast[T float](dst, src backend.View, g geom2) bool {
	if !fastKernels || g.kh != 1 || g.kw != 1 || g.sy != 1 || g.sx != 1 || g.py != 0 || g.px != 0 {
		return false
	}
	sh, st := spatial4("unfold", src.Layout)
	n, c, h, wd := sh[0], sh[1], sh[2], sh[3]
	l := h * wd
	if len(dst.Shape) != 3 || dst.Shape[0] != n || dst.Shape[1] != c || dst.Shape[2] != l || l == 0 {
		return false
	}
	if !(st[3] == 1 || wd == 1) || !(st[2] == wd || h == 1) {
		return false // planes not contiguous
	}
	d, s := slice[T](dst.Storage)[dst.Offset:], slice[T](src.Storage)
	parallelFor(n*c, max(1, grain/l), func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			p := src.Offset + (r/c)*st[0] + (r%c)*st[1]
			copy(d[r*l:(r+1)*l], s[p:p+l])
		}
	})
	return true
}
