package cpu

import (
	"fmt"

	"github.com/tapir-ml/tapir/backend"
)

// InterpolateLinear resamples the spatial dims of src, [N, C, W] or
// [N, C, H, W] with any strides, into dst, a contiguous [N, C, O…], by
// linear interpolation along each spatial dim: along spatial dim d,
// output index o blends the input indices index[d][2o] and
// index[d][2o+1] with the weights weight[d][2o] and weight[d][2o+1]
// (converted to the element type), so len(index[d]) = len(weight[d]) =
// 2·O_d. The last dim is blended first, then H, and each blend is
// w0·a + w1·b with both products rounded before the sum (never a fused
// multiply-add): the values of package tensor's composition of
// IndexSelect, Mul and Add, bit for bit. Each output row along W is built
// from one input row, each row of a 4-d output from two of those rows,
// kept while the next output rows need them; planes are split over
// threads. Float types only. With InterpolateLinearBackward it
// implements backend.LinearInterpolater; package tensor composes the op
// where a backend lacks it.
func (*CPU) InterpolateLinear(dst, src backend.View, index [][]int, weight [][]float64) {
	checkInterp("interpolate linear", dst, src, index, weight)
	switch src.DType() {
	case backend.Float32:
		interpLinearT[float32](dst, src, index, weight)
	case backend.Float64:
		interpLinearT[float64](dst, src, index, weight)
	default:
		panic(badDType("interpolate linear", src.DType()))
	}
}

// InterpolateLinearBackward is InterpolateLinear's adjoint: it sets dst,
// a contiguous [N, C, S…] of the forward's input shape, to the gradient
// of that input for g, the gradient of the output ([N, C, O…], any
// strides): every output index o of a spatial dim sends g·w0 to input
// index i0 and g·w1 to i1. It goes H first, summing the gradients of the
// W-blended input rows a few rows at a time, then W, where each input
// element sums its taps in the order of the output indices; float
// arithmetic of the element type. Float types only.
func (*CPU) InterpolateLinearBackward(dst, g backend.View, index [][]int, weight [][]float64) {
	checkInterp("interpolate linear backward", g, dst, index, weight)
	switch g.DType() {
	case backend.Float32:
		interpLinearBackwardT[float32](dst, g, index, weight)
	case backend.Float64:
		interpLinearBackwardT[float64](dst, g, index, weight)
	default:
		panic(badDType("interpolate linear backward", g.DType()))
	}
}

// checkInterp panics unless out ([N, C, O…]) and in ([N, C, S…]) fit
// the coefficients: a bug in the caller, which has checked the user's
// arguments.
func checkInterp(op string, out, in backend.View, index [][]int, weight [][]float64) {
	nsp := len(index)
	ok := (nsp == 1 || nsp == 2) && len(weight) == nsp && len(out.Shape) == nsp+2 && len(in.Shape) == nsp+2 &&
		out.Shape[0] == in.Shape[0] && out.Shape[1] == in.Shape[1] && out.DType() == in.DType()
	for d := 0; ok && d < nsp; d++ {
		ok = len(index[d]) == 2*out.Shape[2+d] && len(weight[d]) == len(index[d])
		for _, i := range index[d] {
			ok = ok && i >= 0 && i < in.Shape[2+d]
		}
	}
	if !ok {
		panic(fmt.Sprintf("cpu: %s: output %v and input %v do not fit %d dims of coefficients", op, out.Shape, in.Shape, nsp))
	}
}

// linTaps are the coefficients of one spatial dim: output index o blends
// the elements at offsets i0[o] and i1[o] (input indices times a
// stride) with weights w0[o] and w1[o].
type linTaps[T float] struct {
	i0, i1 []int
	w0, w1 []T
}

func makeTaps[T float](index []int, weight []float64, stride int) linTaps[T] {
	n := len(index) / 2
	t := linTaps[T]{make([]int, n), make([]int, n), make([]T, n), make([]T, n)}
	for o := range n {
		t.i0[o], t.i1[o] = index[2*o]*stride, index[2*o+1]*stride
		t.w0[o], t.w1[o] = T(weight[2*o]), T(weight[2*o+1])
	}
	return t
}

// planeBase is the offset of plane p (= n·C + c) of v, [N, C, …].
func planeBase(v backend.View, p int) int {
	c := v.Shape[1]
	return v.Offset + p/c*v.Strides[0] + p%c*v.Strides[1]
}

// rowRing holds up to three rows of one plane, each tagged with the input
// row it belongs to (−1: none): the forward's rows blended along W, or
// the backward's gradients of them being summed.
type rowRing[T float] struct {
	rows [3][]T
	tag  [3]int
	tmp  []T // scratch for blendRows
}

func newRowRing[T float](n int) *rowRing[T] {
	buf := make([]T, 4*n)
	r := &rowRing[T]{tmp: buf[3*n:]}
	for i := range r.rows {
		r.rows[i] = buf[i*n : (i+1)*n]
	}
	r.reset()
	return r
}

func (r *rowRing[T]) reset() { r.tag = [3]int{-1, -1, -1} }

// slot returns the slot holding row, or else, with fresh set, the slot to
// put it in: the one with the lowest tag (empty first) other than keep,
// the slot of the other row the current output row needs. Tags grow with
// the output rows in linear interpolation, so the lowest is the one no
// longer needed; any choice would still be correct.
func (r *rowRing[T]) slot(row, keep int) (s int, fresh bool) {
	s = -1
	for i, t := range r.tag {
		if t == row {
			return i, false
		}
		if i != keep && (s < 0 || t < r.tag[s]) {
			s = i
		}
	}
	return s, true
}

func interpLinearT[T float](dst, src backend.View, index [][]int, weight [][]float64) {
	nsp := len(index)
	planes := src.Shape[0] * src.Shape[1]
	n := dst.Numel()
	if n == 0 {
		return
	}
	xs, ys := slice[T](src.Storage), slice[T](dst.Storage)[dst.Offset:dst.Offset+n]
	wt := makeTaps[T](index[nsp-1], weight[nsp-1], src.Strides[nsp+1])
	wo := len(wt.w0)
	if nsp == 1 {
		parallelFor(planes, max(1, grain/4/wo), func(lo, hi int) {
			for p := lo; p < hi; p++ {
				blendW(ys[p*wo:(p+1)*wo], xs, planeBase(src, p), wt)
			}
		})
		return
	}
	ht := makeTaps[T](index[0], weight[0], 1)
	ho, rs := len(ht.w0), src.Strides[2]
	plane := ho * wo
	parallelFor(planes, max(1, grain/4/plane), func(lo, hi int) {
		ring := newRowRing[T](wo)
		// row returns input row r of the plane at base blended along W,
		// blending it unless the ring holds it
		row := func(base, r, keep int) int {
			s, fresh := ring.slot(r, keep)
			if fresh {
				blendW(ring.rows[s], xs, base+r*rs, wt)
				ring.tag[s] = r
			}
			return s
		}
		for p := lo; p < hi; p++ {
			base, out := planeBase(src, p), ys[p*plane:(p+1)*plane]
			ring.reset()
			for oh := range ho {
				a := row(base, ht.i0[oh], -1)
				b := row(base, ht.i1[oh], a)
				blendRows(out[oh*wo:(oh+1)*wo], ring.rows[a], ring.rows[b], ring.tmp, ht.w0[oh], ht.w1[oh])
			}
		}
	})
}

// blendW sets out[o] = w0[o]·x[base + i0[o]] + w1[o]·x[base + i1[o]]:
// one output row along W from the input row at base. Inlined into its
// caller's closure, the loop spilled its slices to the stack: 0.95 ns
// per output element of a 2× bilinear upsampling, against 0.71.
//
//go:noinline
func blendW[T float](out, x []T, base int, t linTaps[T]) {
	i0, i1, w0, w1 := t.i0[:len(out)], t.i1[:len(out)], t.w0[:len(out)], t.w1[:len(out)]
	for o := range out {
		// the conversions round each product: no fused multiply-add
		out[o] = T(w0[o]*x[base+i0[o]]) + T(w1[o]*x[base+i1[o]])
	}
}

// blendRows sets out = wa·a + wb·b, rounding each product; tmp is
// scratch of out's length. Float32 rows take the vector kernels, as
// Mul, Mul and Add would (at 112 floats, 2.3 times as fast as the loop).
func blendRows[T float](out, a, b, tmp []T, wa, wb T) {
	if o32, ok := any(out).([]float32); ok && !vecOff {
		k := vec32
		k.un[vuMuls](o32, any(a).([]float32), float32(wa), 0)
		k.un[vuMuls](any(tmp).([]float32), any(b).([]float32), float32(wb), 0)
		k.bin[vbAdd](o32, o32, any(tmp).([]float32))
		return
	}
	a, b = a[:len(out)], b[:len(out)]
	for j := range out {
		out[j] = T(wa*a[j]) + T(wb*b[j])
	}
}

func interpLinearBackwardT[T float](dst, g backend.View, index [][]int, weight [][]float64) {
	nsp := len(index)
	planes := dst.Shape[0] * dst.Shape[1]
	n := dst.Numel()
	if n == 0 {
		return
	}
	gs, dx := slice[T](g.Storage), slice[T](dst.Storage)[dst.Offset:dst.Offset+n]
	wi, wo, gsw := dst.Shape[nsp+1], g.Shape[nsp+1], g.Strides[nsp+1]
	if g.Numel() == 0 {
		clear(dx) // no output: the gradient is zero
		return
	}
	if nsp == 1 {
		at := makeAdjTaps[T](index[0], weight[0], wi, gsw)
		parallelFor(planes, max(1, grain/4/wo), func(lo, hi int) {
			for p := lo; p < hi; p++ {
				gatherW(dx[p*wi:(p+1)*wi], gs, planeBase(g, p), at, false)
			}
		})
		return
	}
	at := makeAdjTaps[T](index[1], weight[1], wi, 1)
	ht := makeTaps[T](index[0], weight[0], 1)
	hIn, ho, gsh := dst.Shape[2], g.Shape[2], g.Strides[2]
	plane := hIn * wi
	parallelFor(planes, max(1, grain/4/(ho*wo)), func(lo, hi int) {
		ring := newRowRing[T](wo)
		written := make([]bool, hIn) // input rows given their gradient
		for p := lo; p < hi; p++ {
			gbase, dp := planeBase(g, p), dx[p*plane:(p+1)*plane]
			// flush sets (or, the second time, adds) the gradient of the
			// input row whose W-blend's gradient is summed in slot s
			flush := func(s int) {
				if r := ring.tag[s]; r >= 0 {
					gatherW(dp[r*wi:(r+1)*wi], ring.rows[s], 0, at, written[r])
					written[r] = true
				}
			}
			// acc sums w·(output row oh of g) into the gradient of the
			// W-blended input row r
			acc := func(r, keep, oh int, w T) int {
				s, fresh := ring.slot(r, keep)
				if fresh {
					flush(s)
					ring.tag[s] = r
				}
				axpyRow(ring.rows[s], gs, ring.tmp, gbase+oh*gsh, gsw, w, fresh)
				return s
			}
			ring.reset()
			clear(written)
			for oh := range ho {
				a := acc(ht.i0[oh], -1, oh, ht.w0[oh])
				acc(ht.i1[oh], a, oh, ht.w1[oh])
			}
			for s := range ring.tag {
				flush(s)
			}
			for r, ok := range written {
				if !ok {
					clear(dp[r*wi : (r+1)*wi])
				}
			}
		}
	})
}

// adjTaps are the taps of one spatial dim turned around, for the
// adjoint: input index i gathers w[k]·g[off[k]] for k in
// [start[i], start[i+1]), off being the output index times a stride, in
// the order a scatter over the output indices would add them (output
// index ascending, the i0 tap before the i1 tap). Gathering each
// input's sum in a register, rather than scattering into memory, leaves
// no chain of stores and loads of one element between neighbouring
// outputs.
type adjTaps[T float] struct {
	start, off []int
	w          []T
}

func makeAdjTaps[T float](index []int, weight []float64, in, stride int) adjTaps[T] {
	a := adjTaps[T]{start: make([]int, in+1), off: make([]int, len(index)), w: make([]T, len(index))}
	for _, i := range index {
		a.start[i+1]++
	}
	for i := range in {
		a.start[i+1] += a.start[i]
	}
	next := append([]int(nil), a.start[:in]...)
	for k, i := range index {
		a.off[next[i]], a.w[next[i]] = k/2*stride, T(weight[k])
		next[i]++
	}
	return a
}

// gatherW sets (or with add, adds to) each dx[i] the sum of its taps'
// w·g[base + off]: the adjoint of blendW, into the input row dx.
//
//go:noinline
func gatherW[T float](dx, g []T, base int, a adjTaps[T], add bool) {
	start := a.start[:len(dx)+1]
	k, end := start[0], start[len(dx)]
	off, w := a.off[:end], a.w[:end]
	for i := range dx {
		var s T
		for e := start[i+1]; k < e; k++ {
			s += T(w[k] * g[base+off[k]])
		}
		if add {
			s += dx[i]
		}
		dx[i] = s
	}
}

// axpyRow sets (with set) or adds w·g[base + j·gs] to acc[j]: a row of
// the H adjoint. Contiguous float32 rows take the vector kernels; tmp is
// scratch of acc's length.
//
//go:noinline
func axpyRow[T float](acc, g, tmp []T, base, gs int, w T, set bool) {
	if a32, ok := any(acc).([]float32); ok && gs == 1 && !vecOff {
		k, g32 := vec32, any(g[base:base+len(acc)]).([]float32)
		if set {
			k.un[vuMuls](a32, g32, float32(w), 0)
			return
		}
		t32 := any(tmp).([]float32)
		k.un[vuMuls](t32, g32, float32(w), 0)
		k.bin[vbAdd](a32, a32, t32)
		return
	}
	if set {
		for j := range acc {
			acc[j] = w * g[base+j*gs]
		}
		return
	}
	for j := range acc {
		acc[j] += T(w * g[base+j*gs])
	}
}
