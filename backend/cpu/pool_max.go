package cpu

import (
	"math"
	"math/bits"

	"github.com/tapir-ml/tapir/backend"
)

// Fast paths of MaxPool for windows with dilation 1 over a source whose
// last dim has unit stride (any [N, C, H, W] layout with contiguous rows).
//
// Each window is done in two branch-free passes instead of one compare
// and branch per tap, whose outcome on real data is a coin toss:
//
//  1. m, the window's maximum, by the builtin max (no branches; NaN
//     propagates, so a window holding a NaN is found by m != m and then
//     walked by the exact sequential rule of the generic kernel: the last
//     NaN wins);
//  2. the first tap, in row-major tap order, that equals m, by a reverse
//     walk whose selects compile to conditional moves.
//
// The first tap equal to m is exactly the generic kernel's winner (it
// replaces its best only on a strictly greater value, starting from −∞
// with the first tap), and the value is read back from that tap, so
// −0 and +0 come out as the generic kernel gives them.
//
// The 2×2, stride-2 window (LeNet's, VGG's) has float32 kernels in
// assembly (pool_amd64.s, from _gen/pool), which run the same rule on 16
// windows per AVX-512 vector; maxPool2x2Plane is their pure-Go twin.

// poolAsmOff (tests and benchmarks only) sends the float32 2×2 windows
// down maxPool2x2Plane and maxPool2x2GradPlane, the pure-Go twins of the
// assembly kernels.
var poolAsmOff bool

// maxPoolFast runs the fast path if the window and layout allow it and
// reports whether it did.
func maxPoolFast[T float](values, indices, src backend.View, g geom2) bool {
	if !fastKernels || g.dy != 1 || g.dx != 1 || g.kw >= 1<<16 {
		return false
	}
	sh, st := spatial4("max_pool", src.Layout)
	osh, _ := spatial4("max_pool", values.Layout)
	n, c, h, wd := sh[0], sh[1], sh[2], sh[3]
	oh, ow := osh[2], osh[3]
	if osh[0] != n || osh[1] != c || n*c*oh*ow == 0 || (st[3] != 1 && wd > 1) {
		return false
	}
	rs := st[2]
	if h == 1 {
		rs = 0
	}
	vd, id := slice[T](values.Storage)[values.Offset:], slice[int64](indices.Storage)[indices.Offset:]
	s := slice[T](src.Storage)
	oplane := oh * ow
	// (a ceil-mode output has a last, partial window: the general path)
	simple2 := g.kh == 2 && g.kw == 2 && g.sy == 2 && g.sx == 2 && g.py == 0 && g.px == 0 && 2*oh <= h && 2*ow <= wd
	// the assembly kernel keeps the indices of a plane in int32 lanes
	_, f32 := any(vd).([]float32)
	asm := simple2 && f32 && hasPoolAsm && !poolAsmOff && rs >= 0 && h*wd <= math.MaxInt32-64
	var ys, xs []poolSpan
	if !simple2 {
		ys, xs = poolSpans(oh, h, g.kh, g.sy, g.py), poolSpans(ow, wd, g.kw, g.sx, g.px)
	}
	parallelFor(n*c, max(1, grain/max(oplane*g.kh*g.kw, 1)), func(p0, p1 int) {
		for pl := p0; pl < p1; pl++ {
			base := src.Offset + (pl/c)*st[0] + (pl%c)*st[1]
			vo, io := vd[pl*oplane:(pl+1)*oplane], id[pl*oplane:(pl+1)*oplane]
			switch {
			case asm:
				maxPool2x2AsmF32(any(vo).([]float32), io, any(s).([]float32), base, rs, wd, oh, ow)
			case simple2:
				maxPool2x2Plane(vo, io, s, base, rs, wd, oh, ow)
			default:
				maxPoolPlane(vo, io, s, base, rs, wd, ow, ys, xs, g.kh <= 8 && g.kw <= 8)
			}
		}
	})
	return true
}

// poolSpan is the taps [lo, hi) of one window position (starting at
// input position start) that lie inside the input.
type poolSpan struct{ start, lo, hi int }

func poolSpans(on, n, k, s, p int) []poolSpan {
	out := make([]poolSpan, on)
	for o := range out {
		start := o*s - p
		lo, hi := max(0, -start), min(k, n-start)
		out[o] = poolSpan{start, lo, max(lo, hi)}
	}
	return out
}

// maxPool2x2Plane pools one plane with a 2×2 window, stride 2, no
// padding: the oh×ow windows over rows rs apart from s[base], into vo and
// the row-major indices io of rows wd long. It is the pure-Go twin of
// maxPool2x2AVX512.
func maxPool2x2Plane[T float](vo []T, io []int64, s []T, base, rs, wd, oh, ow int) {
	for oy := 0; oy < oh; oy++ {
		p := base + 2*oy*rs
		r0 := s[p : p+2*ow]
		r1 := s[p+rs : p+rs+2*ow]
		vr, ir := vo[oy*ow:(oy+1)*ow], io[oy*ow:(oy+1)*ow]
		ir = ir[:len(vr)]
		i0 := 2 * oy * wd
		for ox := range vr {
			j := 2 * ox
			a, b := r0[j], r0[j+1]
			c, d := r1[j], r1[j+1]
			// a tournament in which the earlier tap wins ties is the
			// sequential first-maximum; comparing the builtin maxima (±0
			// compare equal) keeps every select branch-free
			k01 := b2i(b > a)
			k23 := 2 + b2i(d > c)
			m01, m23 := max(a, b), max(c, d)
			k := k01 + b2i(m23 > m01)*(k23-k01)
			if m := max(m01, m23); m != m {
				vr[ox], ir[ox] = maxPoolNaN2x2(a, b, c, d, i0+j, wd)
				continue
			}
			hi, lo := k>>1, k&1
			vr[ox] = s[p+j+hi*rs+lo]
			ir[ox] = int64(i0 + j + hi*wd + lo)
		}
	}
}

// maxPoolNaN2x2 is the sequential rule on a window holding a NaN: the last
// NaN wins.
func maxPoolNaN2x2[T float](a, b, c, d T, i, wd int) (T, int64) {
	best, bi := T(math.Inf(-1)), i
	for k, v := range [4]T{a, b, c, d} {
		if v > best || v != v {
			best, bi = v, i+(k>>1)*wd+k&1
		}
	}
	return best, int64(bi)
}

// maxPoolPlane pools one plane with any window of dilation 1.
func maxPoolPlane[T float](vo []T, io []int64, s []T, base, rs, wd, ow int, ys, xs []poolSpan, small bool) {
	for oy, y := range ys {
		vr, ir := vo[oy*ow:(oy+1)*ow], io[oy*ow:(oy+1)*ow]
		ir = ir[:len(vr)]
		for ox, x := range xs[:len(vr)] {
			// the window's taps inside the input: rows y0..y1-1, columns
			// x0..x1-1, the first at storage position p
			y0, y1 := y.start+y.lo, y.start+y.hi
			x0, x1 := x.start+x.lo, x.start+x.hi
			nx := x1 - x0
			p := base + y0*rs + x0
			if nx == 3 && y1-y0 == 3 {
				// a whole 3×3 window: a max tree and a 9-bit mask
				r0, r1, r2 := s[p:p+3], s[p+rs:p+rs+3], s[p+2*rs:p+2*rs+3]
				a0, a1, a2 := r0[0], r0[1], r0[2]
				b0, b1, b2 := r1[0], r1[1], r1[2]
				c0, c1, c2 := r2[0], r2[1], r2[2]
				m := max(max(max(a0, a1), max(a2, b0)), max(max(b1, b2), max(c0, c1)), c2)
				if m == m {
					mask := b2i(a0 == m) | b2i(a1 == m)<<1 | b2i(a2 == m)<<2 |
						b2i(b0 == m)<<3 | b2i(b1 == m)<<4 | b2i(b2 == m)<<5 |
						b2i(c0 == m)<<6 | b2i(c1 == m)<<7 | b2i(c2 == m)<<8
					t := bits.TrailingZeros(uint(mask))
					r := (t * 11) >> 5 // t/3 for t < 9
					j := t - 3*r
					vr[ox] = s[p+r*rs+j]
					ir[ox] = int64((y0+r)*wd + x0 + j)
					continue
				}
			}
			// two running maxima, to halve the chain of dependent maxes
			m0, m1 := T(math.Inf(-1)), T(math.Inf(-1))
			for iy, q := y0, p; iy < y1; iy, q = iy+1, q+rs {
				row := s[q : q+nx]
				j := 0
				for ; j+1 < len(row); j += 2 {
					m0, m1 = max(m0, row[j]), max(m1, row[j+1])
				}
				if j < len(row) {
					m0 = max(m0, row[j])
				}
			}
			m := max(m0, m1)
			if m != m {
				best, bi := T(math.Inf(-1)), y0*wd+x0
				for iy, q := y0, p; iy < y1; iy, q = iy+1, q+rs {
					for j, v := range s[q : q+nx] {
						if v > best || v != v {
							best, bi = v, iy*wd+x0+j
						}
					}
				}
				vr[ox], ir[ox] = best, int64(bi)
				continue
			}
			// the first tap equal to m: a bit per tap (row r, column j at
			// bit 8r+j) for windows of up to 8×8, else a backward walk
			var r, j int
			if small {
				var mask uint64
				for r, q := 0, p; r < y1-y0; r, q = r+1, q+rs {
					row := s[q : q+nx]
					for j, v := range row {
						mask |= uint64(b2i(v == m)) << (8*r + j)
					}
				}
				t := bits.TrailingZeros64(mask)
				r, j = t>>3, t&7
			} else {
				hit := 0
				for r, q := y1-1-y0, p+(y1-1-y0)*rs; r >= 0; r, q = r-1, q-rs {
					row := s[q : q+nx]
					for j := nx - 1; j >= 0; j-- {
						if row[j] == m {
							hit = r<<16 | j
						}
					}
				}
				r, j = hit>>16, hit&0xffff
			}
			vr[ox] = s[p+r*rs+j]
			ir[ox] = int64((y0+r)*wd + x0 + j)
		}
	}
}

// b2i is 1 for true, 0 for false; it compiles to a flag set, no branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
