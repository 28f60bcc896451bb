package cpu

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// Unfold, Fold and MaxPool over any number of spatial dims other than 1
// and 2 (which conv.go runs as two-dim windows): 0 or 3 and more. Each
// walks its taps and its window positions row-major with odometers, one
// element at a time, in the same orders as the two-dim loops: Fold adds
// tap by tap, MaxPool scans a window's taps row-major, so the first
// maximum wins and a NaN wins over numbers.

// ndWin is a window over the spatial dims of an [N, C, S…] operand.
type ndWin struct {
	w       backend.Window
	in, out []int // spatial sizes of the input and of the window grid
	taps    int   // taps per window, ∏ Kernel
	l       int   // window positions, ∏ out
}

func newNDWin(op string, w backend.Window, in, out []int) ndWin {
	if len(in) != len(w.Kernel) {
		panic(fmt.Sprintf("cpu: %s: %d spatial dims for a window over %d", op, len(in), len(w.Kernel)))
	}
	if out == nil {
		out = make([]int, len(in))
		for d := range in {
			out[d] = w.OutSize(d, in[d])
		}
	}
	return ndWin{w: w, in: in, out: out, taps: w.KernelSize(), l: backend.Numel(out)}
}

// tapIndex sets tap to the row-major multi-index of tap k.
func (g *ndWin) tapIndex(tap []int, k int) {
	for d := len(tap) - 1; d >= 0; d-- {
		tap[d] = k % g.w.Kernel[d]
		k /= g.w.Kernel[d]
	}
}

// at returns the offset (by strides st) and the row-major spatial index of
// the input element under tap of window position o, and whether it lies
// inside the input.
func (g *ndWin) at(o, tap, st []int) (off, lin int, ok bool) {
	for d := range o {
		i := o[d]*g.w.Stride[d] - g.w.Padding[d] + tap[d]*g.w.Dilation[d]
		if i < 0 || i >= g.in[d] {
			return 0, 0, false
		}
		off += i * st[d]
		lin = lin*g.in[d] + i
	}
	return off, lin, true
}

// step advances the row-major multi-index o within sizes.
func step(o, sizes []int) {
	for d := len(o) - 1; d >= 0; d-- {
		o[d]++
		if o[d] < sizes[d] {
			return
		}
		o[d] = 0
	}
}

func checkNCS(op string, l backend.Layout, sd int) {
	if len(l.Shape) != sd+2 {
		panic(fmt.Sprintf("cpu: %s: operand of shape %v is not [N, C, spatial…] with %d spatial dims", op, l.Shape, sd))
	}
}

func unfoldND[T float](dst, src backend.View, w backend.Window) {
	sd := len(w.Kernel)
	checkNCS("unfold", src.Layout, sd)
	n, c := src.Shape[0], src.Shape[1]
	g := newNDWin("unfold", w, src.Shape[2:], nil)
	k, l := g.taps, g.l
	if len(dst.Shape) != 3 || dst.Shape[0] != n || dst.Shape[1] != c*k || dst.Shape[2] != l {
		panic(fmt.Sprintf("cpu: unfold: destination of shape %v for columns %v", dst.Shape, []int{n, c * k, l}))
	}
	d, s := slice[T](dst.Storage)[dst.Offset:], slice[T](src.Storage)
	st := src.Strides[2:]
	parallelFor(n*c*k, max(1, grain/max(l, 1)), func(r0, r1 int) {
		tap, o := make([]int, sd), make([]int, sd)
		for r := r0; r < r1; r++ {
			g.tapIndex(tap, r%k)
			ch, b := (r/k)%c, r/(k*c)
			base := src.Offset + b*src.Strides[0] + ch*src.Strides[1]
			out := d[r*l : (r+1)*l]
			clear(o)
			for pos := range out {
				if off, _, ok := g.at(o, tap, st); ok {
					out[pos] = s[base+off]
				} else {
					out[pos] = 0
				}
				step(o, g.out)
			}
		}
	})
}

func foldND[T float](dst, src backend.View, w backend.Window) {
	sd := len(w.Kernel)
	checkNCS("fold", dst.Layout, sd)
	n, c := dst.Shape[0], dst.Shape[1]
	g := newNDWin("fold", w, dst.Shape[2:], nil)
	k, l := g.taps, g.l
	if len(src.Shape) != 3 || src.Shape[0] != n || src.Shape[1] != c*k || src.Shape[2] != l {
		panic(fmt.Sprintf("cpu: fold: columns of shape %v for an output of shape %v (want %v)", src.Shape, dst.Shape, []int{n, c * k, l}))
	}
	d, s := slice[T](dst.Storage)[dst.Offset:], slice[T](src.Storage)
	ss := src.Strides
	plane := backend.Numel(g.in)
	unit := make([]int, sd) // offsets of the row-major index are unused
	parallelFor(n*c, max(1, grain/max(plane*k, 1)), func(p0, p1 int) {
		tap, o := make([]int, sd), make([]int, sd)
		for pl := p0; pl < p1; pl++ {
			b, ch := pl/c, pl%c
			out := d[pl*plane : (pl+1)*plane]
			clear(out)
			for kk := 0; kk < k; kk++ {
				g.tapIndex(tap, kk)
				q := src.Offset + b*ss[0] + (ch*k+kk)*ss[1]
				clear(o)
				for pos := 0; pos < l; pos, q = pos+1, q+ss[2] {
					if _, lin, ok := g.at(o, tap, unit); ok {
						out[lin] += s[q]
					}
					step(o, g.out)
				}
			}
		}
	})
}

func maxPoolND[T float](values, indices, src backend.View, w backend.Window) {
	sd := len(w.Kernel)
	checkNCS("max_pool", src.Layout, sd)
	checkNCS("max_pool", values.Layout, sd)
	n, c := src.Shape[0], src.Shape[1]
	if values.Shape[0] != n || values.Shape[1] != c {
		panic(fmt.Sprintf("cpu: max_pool: output of shape %v for input %v", values.Shape, src.Shape))
	}
	g := newNDWin("max_pool", w, src.Shape[2:], values.Shape[2:])
	k, l := g.taps, g.l
	vd, id := slice[T](values.Storage)[values.Offset:], slice[int64](indices.Storage)[indices.Offset:]
	s := slice[T](src.Storage)
	st := src.Strides[2:]
	inf := T(math.Inf(-1))
	parallelFor(n*c, max(1, grain/max(l*k, 1)), func(p0, p1 int) {
		tap, o := make([]int, sd), make([]int, sd)
		for pl := p0; pl < p1; pl++ {
			base := src.Offset + (pl/c)*src.Strides[0] + (pl%c)*src.Strides[1]
			vo, io := vd[pl*l:(pl+1)*l], id[pl*l:(pl+1)*l]
			clear(o)
			for pos := 0; pos < l; pos++ {
				best, bi := inf, -1
				for kk := 0; kk < k; kk++ {
					g.tapIndex(tap, kk)
					off, lin, ok := g.at(o, tap, st)
					if !ok {
						continue
					}
					if bi < 0 {
						bi = lin
					}
					if v := s[base+off]; v > best || v != v {
						best, bi = v, lin
					}
				}
				vo[pos], io[pos] = best, int64(max(bi, 0))
				step(o, g.out)
			}
		}
	})
}
