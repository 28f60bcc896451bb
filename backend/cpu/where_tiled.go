package cpu

import (
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// Where on short rows with an operand not contiguous along them (a row
// broadcast, where(c, bias[16], y) over [65536, 16]; a transposed or
// stepped operand) took whereRun's loop one row at a time, paying the
// iterator's step per row. Here it takes strided.go's tiles: each such
// operand is gathered into scratch in output order and the select loops
// of binary.go run once over a tile of rows. Where only moves bits, so
// the result is the element loop's.

// whereStrided runs Where on the tiled path when stridedIter takes its
// operands and the rows are short (≤ shortRun), and reports whether it
// did. Long rows are left to whereRun: its select loop reading a
// transposed operand in place, or writing a transposed dst, measured as
// fast as the tiles ([1024, 1024], ns per element: where(c, x.T, y) 1.77
// and 1.73, into dst.T 3.74 and 3.75), where a tile of short rows is one
// select loop instead of an iterator step per row.
func whereStrided[T word](dst, cond, a, b backend.View) bool {
	it, ok := stridedIter(dst, cond, a, b)
	if !ok {
		return false
	}
	n, st := it.inner()
	if n > shortRun {
		return false
	}
	t := whereTile[T]{d: slice[T](dst.Storage), c: u8(cond.Storage), x: slice[T](a.Storage), y: slice[T](b.Storage), st: st}
	eachBlock[T](it, grain, t)
	return true
}

// whereTile is the tiled body of Where: dst d (operand 0), condition c
// (1), values x and y (2, 3) with inner strides st.
type whereTile[T word] struct {
	d    []T
	c    []uint8
	x, y []T
	st   [maxOps]int
}

// block walks the block's tiles. Tiles get half the usual elements, so
// that y's scratch holds y's tile and, after it, the condition's.
func (t whereTile[T]) block(off [maxOps]int, rows, cols int, ost [maxOps]int, xb, yb []T) {
	var z T
	esz := int(unsafe.Sizeof(z))
	tr, tc := tileShape(rows, cols, esz, 2, isTransposed(t.st[1], ost[1]) ||
		isTransposed(t.st[2], ost[2]) || isTransposed(t.st[3], ost[3]))
	n := tr * tc
	cb := unsafe.Slice((*uint8)(unsafe.Pointer(&yb[n])), (len(yb)-n)*esz)
	yb = yb[:n]
	for r0 := 0; r0 < rows; r0 += tr {
		rr := min(tr, rows-r0)
		for c0 := 0; c0 < cols; c0 += tc {
			cc := min(tc, cols-c0)
			var at [maxOps]int
			at[0] = off[0] + r0*ost[0] + c0
			for j := 1; j < maxOps; j++ {
				at[j] = off[j] + r0*ost[j] + c0*t.st[j]
			}
			t.tile(at, rr, cc, ost, cb, xb, yb)
		}
	}
}

// tile selects over one rr×cc tile whose first elements are at[j] in
// operand j.
func (t whereTile[T]) tile(at [maxOps]int, rr, cc int, ost [maxOps]int, cb []uint8, xb, yb []T) {
	st := t.st
	if rr == 1 || ost[0] == cc {
		// the output's tile is one run: one select loop
		m := rr * cc
		c, cs := flatTile(t.c, cb, at[1], st[1], ost[1], rr, cc)
		x, xs := flatTile(t.x, xb, at[2], st[2], ost[2], rr, cc)
		y, ys := flatTile(t.y, yb, at[3], st[3], ost[3], rr, cc)
		whereSeg(t.d[at[0]:at[0]+m], c, cs, x, xs, y, ys)
		return
	}
	cg, xg, yg := st[1] > 1, st[2] > 1, st[3] > 1
	if cg {
		gatherTile(cb, t.c, at[1], st[1], ost[1], rr, cc)
	}
	if xg {
		gatherTile(xb, t.x, at[2], st[2], ost[2], rr, cc)
	}
	if yg {
		gatherTile(yb, t.y, at[3], st[3], ost[3], rr, cc)
	}
	for r := 0; r < rr; r++ {
		c, cs := rowOf(t.c, cb, cg, at[1]+r*ost[1], st[1], r, cc)
		x, xs := rowOf(t.x, xb, xg, at[2]+r*ost[2], st[2], r, cc)
		y, ys := rowOf(t.y, yb, yg, at[3]+r*ost[3], st[3], r, cc)
		d := at[0] + r*ost[0]
		whereSeg(t.d[d:d+cc], c, cs, x, xs, y, ys)
	}
}

// whereSeg sets d[i] = c[i] ? x[i] : y[i] over one segment, where each of
// c, x, y is len(d) elements (stride 1) or one value (stride 0).
func whereSeg[T word](d []T, c []uint8, cs int, x []T, xs int, y []T, ys int) {
	if cs == 0 {
		// one condition: a copy or a fill of the side it picks
		s, ss := y, ys
		if c[0] != 0 {
			s, ss = x, xs
		}
		if ss == 1 {
			copy(d, s[:len(d)])
		} else {
			fillSlice(d, s[0])
		}
		return
	}
	c = c[:len(d)]
	switch {
	case xs == 1 && ys == 1:
		whereVV(d, c, x, y)
	case xs == 1:
		whereVS(d, c, x, y[0])
	case ys == 1:
		whereSV(d, c, x[0], y)
	default:
		whereSS(d, c, x[0], y[0])
	}
}
