package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// nearestFused switches InterpolateNearest's kernels off (tests only), so
// that the composed ops, their oracle, run instead.
var nearestFused = true

// InterpolateNearest resamples x, [N, C, W] or [N, C, H, W], by taking
// for output index o of spatial dim d the input element at index[d][o]
// (one index list per spatial dim, each index within x's size along the
// dim, the list's length the output's size): nearest-neighbour
// interpolation, with nn/functional's Interpolate computing torch's
// indices for its nearest modes.
//
// For float32 and float64 on a backend with its kernels (the CPU's) it
// is one recorded op: the forward gathers each output row from its input
// row in one pass, and the backward sums the output gradient's elements
// into the input elements they read (the adjoint), recording the
// forward as its own derivative, so gradients of any order work.
// Elsewhere it is one IndexSelect per spatial dim, the last first, with
// the same values (the gradients' sums in the same order). Input that
// does not fit the indices panics with ErrShape; an integer x with
// ErrDType.
func InterpolateNearest(x *Tensor, index [][]int) *Tensor {
	const op = "interpolate_nearest"
	nsp := len(index)
	if x.Dim() != nsp+2 || (nsp != 1 && nsp != 2) {
		fail(op, ErrShape, "input %v does not fit indices for %d spatial dims: want a 3-d [N, C, W] input with 1 or a 4-d [N, C, H, W] with 2", x.shape, nsp)
	}
	dt := x.DType()
	if !dt.IsFloat() {
		fail(op, ErrDType, "%v input is not supported; convert it to a floating type", dt)
	}
	out := append([]int(nil), x.shape...)
	for d, idx := range index {
		out[2+d] = len(idx)
		for o, i := range idx {
			if i < 0 || i >= x.shape[2+d] {
				fail(op, ErrShape, "index %d of output index %d of spatial dim %d is out of range for input %v", i, o, d, x.shape)
			}
		}
	}
	k, ok := x.be().(backend.NearestInterpolater)
	if !ok || !nearestFused || (dt != Float32 && dt != Float64) {
		return nearestComposed(x, index)
	}
	fwd, adj := "UpsampleNearest1DBackward0", "UpsampleNearest1DBackwardBackward0"
	if nsp == 2 {
		fwd, adj = "UpsampleNearest2DBackward0", "UpsampleNearest2DBackwardBackward0"
	}
	c := &nearestCall{k: k, index: index, in: x.Shape(), out: out, fwdName: fwd, adjName: adj}
	return c.forward(x)
}

// nearestCall is one InterpolateNearest on a backend with the kernels:
// its indices, the input and output shapes and the recorded names, which
// its forward and adjoint share.
type nearestCall struct {
	k                backend.NearestInterpolater
	index            [][]int
	in, out          []int
	fwdName, adjName string
}

// forward runs the kernel on x and records the adjoint as its backward.
func (c *nearestCall) forward(x *Tensor) *Tensor {
	y := empty("interpolate_nearest", x.Device(), x.DType(), c.out)
	c.k.InterpolateNearest(y.view(), x.view(), c.index)
	runtime.KeepAlive(x)
	return RecordFunction(c.fwdName, []*Tensor{x}, []*Tensor{y}, nil, func(_, g []*Tensor) []*Tensor {
		return []*Tensor{c.adjoint(g[0])}
	})[0]
}

// adjoint is the gradient of the input for the output gradient g; it is
// linear in g, and its own gradient is the forward again.
func (c *nearestCall) adjoint(g *Tensor) *Tensor {
	gc := contiguousData(g)
	dx := empty("interpolate_nearest backward", g.Device(), g.DType(), c.in)
	c.k.InterpolateNearestBackward(dx.view(), gc.view(), c.index)
	runtime.KeepAlive(gc)
	return RecordFunction(c.adjName, []*Tensor{g}, []*Tensor{dx}, nil, func(_, h []*Tensor) []*Tensor {
		return []*Tensor{c.forward(h[0])}
	})[0]
}

// nearestComposed is InterpolateNearest from one IndexSelect per spatial
// dim, the last first: the path of backends and dtypes without the
// kernels, and the kernels' test oracle.
func nearestComposed(x *Tensor, index [][]int) *Tensor {
	y := x
	for d := len(index) - 1; d >= 0; d-- {
		idx := make([]int64, len(index[d]))
		for o, i := range index[d] {
			idx[o] = int64(i)
		}
		y = y.IndexSelect(2+d, FromSlice(idx).ToDevice(x.Device()))
	}
	return y
}
