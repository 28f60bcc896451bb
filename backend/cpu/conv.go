package cpu

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// The sliding-window kernels: Unfold (im2col), its adjoint Fold (col2im)
// and MaxPool. A one-dim window is run as a two-dim one whose first
// spatial dim has size 1, so each kernel has one loop nest; windows over
// other numbers of spatial dims take the n-dim loops of conv_nd.go. Work splits
// over the rows of the column matrix (Unfold) or over the N·C planes
// (Fold, MaxPool), which never write to the same element.

// geom2 is a window over two spatial dims.
type geom2 struct {
	kh, kw, sy, sx, py, px, dy, dx int
}

func geomOf(op string, w backend.Window) geom2 {
	switch len(w.Kernel) {
	case 1:
		return geom2{1, w.Kernel[0], 1, w.Stride[0], 0, w.Padding[0], 1, w.Dilation[0]}
	case 2:
		return geom2{w.Kernel[0], w.Kernel[1], w.Stride[0], w.Stride[1], w.Padding[0], w.Padding[1], w.Dilation[0], w.Dilation[1]}
	}
	panic(fmt.Sprintf("cpu: %s: a window over %d spatial dims (the CPU backend handles 1 or 2)", op, len(w.Kernel)))
}

// spatial4 sees an [N, C, S…] layout with one or two spatial dims as
// [N, C, H, W].
func spatial4(op string, l backend.Layout) (sh, st [4]int) {
	switch len(l.Shape) {
	case 3:
		return [4]int{l.Shape[0], l.Shape[1], 1, l.Shape[2]}, [4]int{l.Strides[0], l.Strides[1], 0, l.Strides[2]}
	case 4:
		return [4]int(l.Shape), [4]int(l.Strides)
	}
	panic(fmt.Sprintf("cpu: %s: operand of shape %v is not [N, C, spatial…] with 1 or 2 spatial dims", op, l.Shape))
}

// validRange returns the window positions [lo, hi) among [0, on) whose
// tap j (at o·s − p + j·d) lies inside [0, n).
func validRange(j, n, on, s, p, d int) (lo, hi int) {
	off := j*d - p
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if n-1-off >= 0 {
		hi = (n-1-off)/s + 1
	}
	hi = min(hi, on)
	lo = min(lo, hi)
	return lo, hi
}

// Unfold implements backend.Backend.
func (*CPU) Unfold(dst, src backend.View, w backend.Window) {
	switch src.DType() {
	case backend.Float32:
		unfoldT[float32](dst, src, w)
	case backend.Float64:
		unfoldT[float64](dst, src, w)
	default:
		panic(badDType("unfold", src.DType()))
	}
}

func unfoldT[T float](dst, src backend.View, w backend.Window) {
	if sd := len(w.Kernel); sd != 1 && sd != 2 {
		unfoldND[T](dst, src, w)
		return
	}
	g := geomOf("unfold", w)
	if unfoldFast[T](dst, src, g) {
		return
	}
	sh, st := spatial4("unfold", src.Layout)
	n, c := sh[0], sh[1]
	oh, ow := g.outSize(sh[2], sh[3])
	if want := []int{n, c * g.kh * g.kw, oh * ow}; len(dst.Shape) != 3 || dst.Shape[0] != want[0] || dst.Shape[1] != want[1] || dst.Shape[2] != want[2] {
		panic(fmt.Sprintf("cpu: unfold: destination of shape %v for columns %v", dst.Shape, want))
	}
	unfold2(slice[T](dst.Storage)[dst.Offset:], slice[T](src.Storage), src.Offset, sh, st, g, parallelFor)
}

// outSize is the number of window positions along each spatial dim of
// an h×wd input, both 0 when the padded input is smaller than a window.
func (g geom2) outSize(h, wd int) (oh, ow int) {
	if h+2*g.py < g.dy*(g.kh-1)+1 || wd+2*g.px < g.dx*(g.kw-1)+1 {
		return 0, 0
	}
	return (h+2*g.py-g.dy*(g.kh-1)-1)/g.sy + 1, (wd+2*g.px-g.dx*(g.kw-1)-1)/g.sx + 1
}

// splitter runs fn over [0, n) in chunks of at least minChunk: parallelFor,
// or serialFor inside a kernel that already splits its work otherwise
// (the convolutions, one image per goroutine).
type splitter func(n, minChunk int, fn func(lo, hi int))

func serialFor(n, _ int, fn func(lo, hi int)) {
	if n > 0 {
		fn(0, n)
	}
}

// unfold2 writes the contiguous columns [N, C·kh·kw, oh·ow] of the
// [N, C, H, W] input at s[off:] with shape sh and strides st to d,
// splitting the rows with par.
func unfold2[T float](d, s []T, off int, sh, st [4]int, g geom2, par splitter) {
	n, c, h, wd := sh[0], sh[1], sh[2], sh[3]
	oh, ow := g.outSize(h, wd)
	l, k := oh*ow, g.kh*g.kw
	xlo, xhi := make([]int, g.kw), make([]int, g.kw)
	for kj := range xlo {
		xlo[kj], xhi[kj] = validRange(kj, wd, ow, g.sx, g.px, g.dx)
	}
	rows := n * c * k
	par(rows, max(1, grain/max(l, 1)), func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			kj, ki, ch, b := r%g.kw, (r/g.kw)%g.kh, (r/k)%c, r/(k*c)
			out := d[r*l : (r+1)*l]
			base := off + b*st[0] + ch*st[1]
			x0 := kj*g.dx - g.px
			lo, hi := xlo[kj], xhi[kj]
			step := g.sx * st[3]
			for oy := 0; oy < oh; oy++ {
				o := out[oy*ow : (oy+1)*ow]
				iy := oy*g.sy - g.py + ki*g.dy
				if iy < 0 || iy >= h || lo >= hi {
					clear(o)
					continue
				}
				clear(o[:lo])
				clear(o[hi:])
				p := base + iy*st[2] + (lo*g.sx+x0)*st[3]
				if step == 1 {
					copy(o[lo:hi], s[p:p+hi-lo])
					continue
				}
				for ox := lo; ox < hi; ox++ {
					o[ox] = s[p]
					p += step
				}
			}
		}
	})
}

// Fold implements backend.Backend.
func (*CPU) Fold(dst, src backend.View, w backend.Window) {
	switch src.DType() {
	case backend.Float32:
		foldT[float32](dst, src, w)
	case backend.Float64:
		foldT[float64](dst, src, w)
	default:
		panic(badDType("fold", src.DType()))
	}
}

func foldT[T float](dst, src backend.View, w backend.Window) {
	if sd := len(w.Kernel); sd != 1 && sd != 2 {
		foldND[T](dst, src, w)
		return
	}
	g := geomOf("fold", w)
	sh, _ := spatial4("fold", dst.Layout)
	n, c := sh[0], sh[1]
	oh, ow := g.outSize(sh[2], sh[3])
	if want := []int{n, c * g.kh * g.kw, oh * ow}; len(src.Shape) != 3 || src.Shape[0] != want[0] || src.Shape[1] != want[1] || src.Shape[2] != want[2] {
		panic(fmt.Sprintf("cpu: fold: columns of shape %v for an output of shape %v (want %v)", src.Shape, dst.Shape, want))
	}
	fold2(slice[T](dst.Storage)[dst.Offset:], sh, slice[T](src.Storage), src.Offset, [3]int(src.Strides), g, parallelFor)
}

// fold2 sets the contiguous [N, C, H, W] output d of shape sh to the fold
// of the columns [N, C·kh·kw, oh·ow] at s[off:] with strides ss,
// splitting the N·C planes with par.
func fold2[T float](d []T, sh [4]int, s []T, off int, ss [3]int, g geom2, par splitter) {
	if foldFast(d, sh, s, off, ss, g, par) {
		return
	}
	n, c, h, wd := sh[0], sh[1], sh[2], sh[3]
	oh, ow := g.outSize(h, wd)
	k := g.kh * g.kw
	xlo, xhi := make([]int, g.kw), make([]int, g.kw)
	for kj := range xlo {
		xlo[kj], xhi[kj] = validRange(kj, wd, ow, g.sx, g.px, g.dx)
	}
	plane := h * wd
	var add func(dst, x, y []T)
	if !vecOff && fastKernels {
		add = vecFor[T]().bin[vbAdd]
	}
	par(n*c, max(1, grain/max(plane*k, 1)), func(p0, p1 int) {
		for pl := p0; pl < p1; pl++ {
			b, ch := pl/c, pl%c
			out := d[pl*plane : (pl+1)*plane]
			clear(out)
			for ki := 0; ki < g.kh; ki++ {
				for kj := 0; kj < g.kw; kj++ {
					lo, hi := xlo[kj], xhi[kj]
					if lo >= hi {
						continue
					}
					rb := off + b*ss[0] + (ch*k+ki*g.kw+kj)*ss[1]
					x0 := kj*g.dx - g.px
					for oy := 0; oy < oh; oy++ {
						iy := oy*g.sy - g.py + ki*g.dy
						if iy < 0 || iy >= h {
							continue
						}
						q := rb + (oy*ow+lo)*ss[2]
						ob := iy*wd + lo*g.sx + x0
						if g.sx == 1 && ss[2] == 1 {
							o, v := out[ob:ob+hi-lo], s[q:q+hi-lo]
							if add != nil {
								add(o, o, v) // the same additions, vectorized
								continue
							}
							for i := range o {
								o[i] += v[i]
							}
							continue
						}
						if g.sx == 2 && ss[2] == 1 { // a transposed convolution's stride
							v := s[q : q+hi-lo]
							o := out[ob : ob+2*len(v)-1]
							for i, x := range v {
								o[2*i] += x
							}
							continue
						}
						for ox := lo; ox < hi; ox++ {
							out[ob] += s[q]
							ob += g.sx
							q += ss[2]
						}
					}
				}
			}
		}
	})
}

// MaxPool implements backend.Backend.
func (*CPU) MaxPool(values, indices, src backend.View, w backend.Window) {
	switch src.DType() {
	case backend.Float32:
		maxPoolT[float32](values, indices, src, w)
	case backend.Float64:
		maxPoolT[float64](values, indices, src, w)
	default:
		panic(badDType("max_pool", src.DType()))
	}
}

func maxPoolT[T float](values, indices, src backend.View, w backend.Window) {
	if sd := len(w.Kernel); sd != 1 && sd != 2 {
		maxPoolND[T](values, indices, src, w)
		return
	}
	g := geomOf("max_pool", w)
	if maxPoolFast[T](values, indices, src, g) {
		return
	}
	sh, st := spatial4("max_pool", src.Layout)
	osh, _ := spatial4("max_pool", values.Layout)
	n, c, h, wd := sh[0], sh[1], sh[2], sh[3]
	oh, ow := osh[2], osh[3]
	if osh[0] != n || osh[1] != c {
		panic(fmt.Sprintf("cpu: max_pool: output of shape %v for input %v", values.Shape, src.Shape))
	}
	vd, id := slice[T](values.Storage)[values.Offset:], slice[int64](indices.Storage)[indices.Offset:]
	s := slice[T](src.Storage)
	// the taps [lo, hi) of each window position that fall inside the input
	type span struct{ start, lo, hi int }
	spans := func(on, n, k, s, p, d int) []span {
		out := make([]span, on)
		for o := range out {
			start := o*s - p
			lo, hi := 0, k
			if start < 0 {
				lo = (-start + d - 1) / d
			}
			if last := n - 1 - start; last < 0 {
				hi = 0
			} else {
				hi = min(k, last/d+1)
			}
			out[o] = span{start, lo, max(lo, hi)}
		}
		return out
	}
	ys, xs := spans(oh, h, g.kh, g.sy, g.py, g.dy), spans(ow, wd, g.kw, g.sx, g.px, g.dx)
	inf := T(math.Inf(-1))
	oplane := oh * ow
	parallelFor(n*c, max(1, grain/max(oplane*g.kh*g.kw, 1)), func(p0, p1 int) {
		for pl := p0; pl < p1; pl++ {
			base := src.Offset + (pl/c)*st[0] + (pl%c)*st[1]
			vo, io := vd[pl*oplane:(pl+1)*oplane], id[pl*oplane:(pl+1)*oplane]
			for oy, y := range ys {
				for ox, x := range xs {
					best := inf
					bi := (y.start+y.lo*g.dy)*wd + x.start + x.lo*g.dx
					for ki := y.lo; ki < y.hi; ki++ {
						iy := y.start + ki*g.dy
						row := base + iy*st[2]
						for kj := x.lo; kj < x.hi; kj++ {
							ix := x.start + kj*g.dx
							v := s[row+ix*st[3]]
							if v > best || v != v {
								best, bi = v, iy*wd+ix
							}
						}
					}
					vo[oy*ow+ox] = best
					io[oy*ow+ox] = int64(bi)
				}
			}
		}
	})
}
