package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// linearOff makes Linear compose MatMul and Add; tests set it to compare
// the two.
var linearOff bool

// Linear is x·weightᵀ + bias (torch.nn.functional.linear) for a 2-d x
// [N, in], weight [out, in] and bias [out] or nil, giving [N, out]. For
// float32 and float64 operands of one dtype on one device it is one
// recorded op: the product is written and the bias added into it in
// place (in the same call, by a backend.BiasMatMuler), and backward
// computes x's gradient as g·weight, weight's as gᵀ·x
// (contiguous, in weight's own layout) and bias's as g's column sums,
// with the same products the composed ops run. Otherwise (other dtypes,
// mixed ones) it is x.MatMul(weight.T()).Add(bias). Shapes that do not
// fit panic with ErrShape.
func Linear(x, weight, bias *Tensor) *Tensor {
	const op = "linear"
	if x.Dim() != 2 || weight.Dim() != 2 || x.shape[1] != weight.shape[1] {
		fail(op, ErrShape, "input %v and weight %v: want [N, in] and [out, in]", x.shape, weight.shape)
	}
	if bias != nil && (bias.Dim() != 1 || bias.shape[0] != weight.shape[0]) {
		fail(op, ErrShape, "bias %v does not fit weight %v: want [%d]", bias.shape, weight.shape, weight.shape[0])
	}
	sameDevice(op, x, weight)
	dt := x.DType()
	fused := !linearOff && (dt == Float32 || dt == Float64) && weight.DType() == dt
	if bias != nil {
		sameDevice(op, x, bias)
		fused = fused && bias.DType() == dt
	}
	if !fused {
		y := x.MatMul(weight.T())
		if bias != nil {
			y = y.Add(bias)
		}
		return y
	}
	wt := weight.T()
	y := empty(op, x.Device(), dt, []int{x.shape[0], weight.shape[0]})
	lay := new([20]int) // the product's three 3-d layouts and the bias's strides, in one allocation
	be := x.be()
	bm, withBias := be.(backend.BiasMatMuler)
	withBias = withBias && bias != nil
	if withBias {
		bm.MatMulBias(as3d(y, lay[0:6]), as3d(x, lay[6:12]), as3d(wt, lay[12:18]), bias.view())
	} else {
		be.MatMul(as3d(y, lay[0:6]), as3d(x, lay[6:12]), as3d(wt, lay[12:18]))
	}
	if bias != nil && !withBias && y.Numel() > 0 {
		// the bias broadcast down the rows, added into the product
		st := lay[18:20]
		st[0], st[1] = 0, bias.strides[0]
		y.be().Binary(backend.Add, y.view(), y.view(), bias.viewAs(y.shape, st, bias.offset))
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(weight)
	runtime.KeepAlive(bias)
	if needsGrad(x, weight, bias) {
		record(opLinear, nil, []*Tensor{x, weight, bias}, []*Tensor{y}, x, weight)
	}
	return y
}

// linearGrad is Linear's backward: g·weight for x, gᵀ·x for weight and
// the column sums of g for bias. The products are mm's, so a recorded
// backward pass (CreateGraph) records them and can be differentiated
// again.
func linearGrad(c *gradCtx, g []*Tensor) []*Tensor {
	x, w := c.saved(0), c.saved(1)
	gy := g[0]
	out := make([]*Tensor, 3)
	if c.needs(2) {
		// first, while g is still in cache from the op that made it (a
		// ReLU's backward): the weight's product streams x and writes
		// the weight-sized gradient, which evicts it (in the MLP step the
		// three column sums took 47–56 µs last and 35–41 µs first)
		out[2] = gy.Sum(0)
	}
	if c.needs(0) {
		out[0] = mm(gy, w)
	}
	if c.needs(1) {
		out[1] = mm(gy.T(), x)
	}
	return out
}
