package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// interpFused switches InterpolateLinear's kernels off (tests only), so
// that the composed ops, their oracle, run instead.
var interpFused = true

// LinearTaps are the coefficients of linear interpolation along one dim:
// output index o of the dim is W0[o]·x[I0[o]] + W1[o]·x[I1[o]], so the
// output has len(I0) elements along it. I0, I1, W0 and W1 have one
// length.
type LinearTaps struct {
	I0, I1 []int
	W0, W1 []float64
}

// InterpolateLinear resamples x, [N, C, W] or [N, C, H, W], by linear
// interpolation along each spatial dim, taps[d] holding the coefficients
// of spatial dim d (one LinearTaps per spatial dim; indices must lie in
// x's size along it). It blends along the last dim first, then along H,
// the order of torch's upsample_bilinear2d, and rounds each blend
// w0·a + w1·b as Mul, Mul and Add would, its two products and then their
// sum (no fused multiply-add); nn/functional's Interpolate computes
// torch's taps for its linear modes.
//
// For float32 and float64 on a backend with its kernels (the CPU's) it is
// one recorded op: the forward builds each output row along W from one
// input row, and each output row of a 4-d x from two such rows, without
// materializing the intermediate; the backward adds g·w0 and g·w1 into
// the two taps of each output element (the adjoint), and records itself
// with InterpolateLinear as its own derivative, so gradients of any
// order work. Elsewhere it is composed of IndexSelect, Mul and Add, with
// the same values bit for bit. Input that does not fit the taps panics
// with ErrShape; an integer x with ErrDType.
func InterpolateLinear(x *Tensor, taps []LinearTaps) *Tensor {
	const op = "interpolate_linear"
	nsp := len(taps)
	if x.Dim() != nsp+2 || (nsp != 1 && nsp != 2) {
		fail(op, ErrShape, "input %v does not fit taps for %d spatial dims: want a 3-d [N, C, W] input with 1 or a 4-d [N, C, H, W] with 2", x.shape, nsp)
	}
	dt := x.DType()
	if !dt.IsFloat() {
		fail(op, ErrDType, "%v input is not supported; convert it to a floating type", dt)
	}
	out := append([]int(nil), x.shape...)
	index, weight := make([][]int, nsp), make([][]float64, nsp)
	for d, t := range taps {
		n, in := len(t.I0), x.shape[2+d]
		if len(t.I1) != n || len(t.W0) != n || len(t.W1) != n {
			fail(op, ErrShape, "taps of spatial dim %d have %d, %d, %d and %d entries; want one length", d, n, len(t.I1), len(t.W0), len(t.W1))
		}
		out[2+d] = n
		index[d], weight[d] = make([]int, 2*n), make([]float64, 2*n)
		for o := range n {
			i0, i1 := t.I0[o], t.I1[o]
			if i0 < 0 || i0 >= in || i1 < 0 || i1 >= in {
				fail(op, ErrShape, "tap (%d, %d) of output index %d of spatial dim %d is out of range for input %v", i0, i1, o, d, x.shape)
			}
			index[d][2*o], index[d][2*o+1] = i0, i1
			weight[d][2*o], weight[d][2*o+1] = t.W0[o], t.W1[o]
		}
	}
	k, ok := x.be().(backend.LinearInterpolater)
	if !ok || !interpFused || (dt != Float32 && dt != Float64) {
		return interpLinearComposed(x, index, weight)
	}
	c := &interpCall{k: k, index: index, weight: weight, in: x.Shape(), out: out}
	return c.forward(x)
}

// interpCall is one InterpolateLinear on a backend with the kernels: its
// coefficients in both forms and the input and output shapes, which its
// forward and adjoint share.
type interpCall struct {
	k       backend.LinearInterpolater
	index   [][]int
	weight  [][]float64
	in, out []int
}

// names are the recorded names of the forward's and the adjoint's
// backward, torch's for the forward.
func (c *interpCall) names() (fwd, adj string) {
	if len(c.index) == 1 {
		return "UpsampleLinear1DBackward0", "UpsampleLinear1DBackwardBackward0"
	}
	return "UpsampleBilinear2DBackward0", "UpsampleBilinear2DBackwardBackward0"
}

// forward runs the kernel on x and records the adjoint as its backward.
func (c *interpCall) forward(x *Tensor) *Tensor {
	y := empty("interpolate_linear", x.Device(), x.DType(), c.out)
	c.k.InterpolateLinear(y.view(), x.view(), c.index, c.weight)
	runtime.KeepAlive(x)
	name, _ := c.names()
	return RecordFunction(name, []*Tensor{x}, []*Tensor{y}, nil, func(_, g []*Tensor) []*Tensor {
		return []*Tensor{c.adjoint(g[0])}
	})[0]
}

// adjoint is the gradient of the input for the output gradient g; it is
// linear in g, and its own gradient is the forward again.
func (c *interpCall) adjoint(g *Tensor) *Tensor {
	dx := empty("interpolate_linear backward", g.Device(), g.DType(), c.in)
	c.k.InterpolateLinearBackward(dx.view(), g.view(), c.index, c.weight)
	runtime.KeepAlive(g)
	_, name := c.names()
	return RecordFunction(name, []*Tensor{g}, []*Tensor{dx}, nil, func(_, h []*Tensor) []*Tensor {
		return []*Tensor{c.forward(h[0])}
	})[0]
}

// interpLinearComposed is InterpolateLinear from IndexSelect, Mul and Add,
// one spatial dim at a time, the last first: the path of backends and
// dtypes without the kernels, and the kernels' test oracle.
func interpLinearComposed(x *Tensor, index [][]int, weight [][]float64) *Tensor {
	y := x
	for d := len(index) - 1; d >= 0; d-- {
		n := len(index[d]) / 2
		i0, i1 := make([]int64, n), make([]int64, n)
		w0, w1 := make([]float64, n), make([]float64, n)
		for o := range n {
			i0[o], i1[o] = int64(index[d][2*o]), int64(index[d][2*o+1])
			w0[o], w1[o] = weight[d][2*o], weight[d][2*o+1]
		}
		// the weights broadcast along dim 2+d
		wsh := make([]int, y.Dim()-2-d)
		for i := range wsh {
			wsh[i] = 1
		}
		wsh[0] = n
		wt := func(w []float64) *Tensor {
			return FromSlice(w).Reshape(wsh...).To(x.DType()).ToDevice(x.Device())
		}
		x0 := y.IndexSelect(2+d, FromSlice(i0).ToDevice(x.Device()))
		x1 := y.IndexSelect(2+d, FromSlice(i1).ToDevice(x.Device()))
		y = x0.Mul(wt(w0)).Add(x1.Mul(wt(w1)))
	}
	return y
}
