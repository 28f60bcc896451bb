package cpu

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/tapir-ml/tapir/backend"
)

// The gradient of MaxPool in one pass. The composed form (zeros of the
// input's shape, copied by ScatterAdd's out-of-place result, then a
// scatter of the output gradient through the indices) reads and writes
// the input-sized buffer three times; here each plane is cleared and
// added to while it is in cache, and a 2×2, stride-2 window grid, the
// common case, writes every element of its rows once: the gradient where
// the index points and 0 at the window's three other taps.

// MaxPoolBackward sets dst, a contiguous [N, C, H, W] (or [N, C, W])
// float tensor, to the gradient of a max pool whose input had dst's
// shape: each element of g, the output gradient [N, C, spatial…], is
// added to the position within its [N, C] plane that the same element
// of indices (Int64, g's shape, as MaxPool writes them) names, and every
// other element is 0. It equals ScatterAdd of g into zeros along the
// flattened plane, with the same sums in the same order. g and indices
// must be contiguous. An index outside the plane is an error wrapping
// backend.ErrIndex.
func (*CPU) MaxPoolBackward(dst, g, indices backend.View) error {
	const op = "max_pool_backward"
	if indices.DType() != backend.Int64 {
		panic(fmt.Sprintf("cpu: %s: indices of dtype %v, want int64", op, indices.DType()))
	}
	if dst.DType() != g.DType() {
		panic(fmt.Sprintf("cpu: %s: gradient of dtype %v for an output of dtype %v", op, g.DType(), dst.DType()))
	}
	nd := len(dst.Shape)
	if (nd != 3 && nd != 4) || len(g.Shape) != nd || !slices.Equal(g.Shape, indices.Shape) || g.Shape[0] != dst.Shape[0] || g.Shape[1] != dst.Shape[1] {
		panic(fmt.Sprintf("cpu: %s: output %v, gradient %v and indices %v are not [N, C, spatial…] alike with 1 or 2 spatial dims", op, dst.Shape, g.Shape, indices.Shape))
	}
	if !dst.IsContiguous() || !g.IsContiguous() || !indices.IsContiguous() {
		panic(fmt.Sprintf("cpu: %s: output, gradient and indices must be contiguous (strides %v, %v, %v)", op, dst.Strides, g.Strides, indices.Strides))
	}
	switch dst.DType() {
	case backend.Float32:
		return maxPoolBackwardT[float32](dst, g, indices)
	case backend.Float64:
		return maxPoolBackwardT[float64](dst, g, indices)
	}
	panic(badDType(op, dst.DType()))
}

func maxPoolBackwardT[T float](dst, g, indices backend.View) error {
	sh, _ := spatial4("max_pool_backward", dst.Layout)
	osh, _ := spatial4("max_pool_backward", g.Layout)
	n, c, h, wd := sh[0], sh[1], sh[2], sh[3]
	oh, ow := osh[2], osh[3]
	plane, oplane := h*wd, oh*ow
	d := slice[T](dst.Storage)[dst.Offset:][:n*c*plane]
	gs := slice[T](g.Storage)[g.Offset:][:n*c*oplane]
	ix := slice[int64](indices.Storage)[indices.Offset:][:n*c*oplane]
	// a grid of 2×2, stride-2 windows: the rows past the last window row
	// are cleared, a column past the last window column is written by
	// the row kernel. Each gradient is written as 0 + g, the sum that the
	// scatter into zeros makes (−0 becomes +0).
	grid2 := fastKernels && oh >= 1 && ow >= 1 && 2*oh <= h && 2*ow <= wd && wd-2*ow <= 1
	_, f32 := any(d).([]float32)
	asm := grid2 && f32 && hasPoolAsm && !poolAsmOff && plane <= math.MaxInt32-64
	var bad atomic.Bool
	parallelFor(n*c, max(1, grain/max(plane, 1)), func(p0, p1 int) {
		for pl := p0; pl < p1; pl++ {
			dp := d[pl*plane : (pl+1)*plane]
			gp, ip := gs[pl*oplane:(pl+1)*oplane], ix[pl*oplane:(pl+1)*oplane]
			if grid2 {
				var ok bool
				if asm {
					ok = maxPool2x2GradAsmF32(any(dp).([]float32), any(gp).([]float32), ip, wd, oh, ow)
				} else {
					ok = maxPool2x2GradPlane(dp, gp, ip, wd, oh, ow)
				}
				if ok {
					clear(dp[2*oh*wd:])
					continue
				}
			}
			if !scatterPlane(dp, gp, ip) {
				bad.Store(true)
			}
		}
	})
	if bad.Load() {
		// the first bad index in row-major order, as ScatterAdd reports it
		for _, i := range ix {
			if uint64(i) >= uint64(plane) {
				return indexErr("max_pool_backward", i, plane)
			}
		}
	}
	return nil
}

// scatterPlane sets d to 0 and adds each g[j] to d[idx[j]], in order; it
// reports false, skipping them, if an index is outside d.
func scatterPlane[T float](d, g []T, idx []int64) bool {
	clear(d)
	ok := true
	g = g[:len(idx)]
	for j, i := range idx {
		if uint64(i) >= uint64(len(d)) {
			ok = false
			continue
		}
		d[i] += g[j]
	}
	return ok
}

// maxPool2x2GradPlane writes rows 0 to 2·oh−1 of the plane d, rows of wd
// values with wd = 2·ow or 2·ow+1, for the oh×ow windows of a 2×2,
// stride-2 max pool: window (oy, ox)'s gradient 0 + g[oy·ow+ox] at the tap
// its index names, 0 at its other taps and in a last odd column. It
// reports false, leaving d partly written, if an index is not one of its
// window's taps. It is the pure-Go twin of maxPool2x2GradAVX512.
func maxPool2x2GradPlane[T float](d, g []T, idx []int64, wd, oh, ow int) bool {
	clear(d[:2*oh*wd])
	w := uint64(wd)
	for oy := 0; oy < oh; oy++ {
		// the row pair; a window's taps are r[j], r[j+1], r[j+wd], r[j+wd+1]
		r := d[2*oy*wd : (2*oy+2)*wd]
		gr, ir := g[oy*ow:(oy+1)*ow], idx[oy*ow:(oy+1)*ow]
		ir = ir[:len(gr)]
		base := int64(2 * oy * wd)
		for ox, v := range gr {
			j := 2 * ox
			k := uint64(ir[ox] - base - int64(j))
			if min(k, k-w) >= 2 { // neither 0, 1 nor wd, wd+1 (one compare: no branch on the tap)
				return false
			}
			r[j+int(k)] = v + 0 // as in 0 + v: −0 becomes +0
		}
	}
	return true
}
