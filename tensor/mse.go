package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// mseAttr is the attrs of FusedMSELoss's node.
type mseAttr struct{ Mean bool }

// mseLossOff makes FusedMSELoss decline and the recorded op's backward
// compose, so that callers compose; tests set it to compare the two.
var mseLossOff bool

// FusedMSELoss is the squared error (input − target)² summed over every
// element, or with mean averaged, as a 0-d tensor of their dtype: torch's
// mse_loss with reduction "mean" or "sum", computed and recorded as one
// op. Forward is one pass over both tensors (the squares summed as Sum
// sums, in float64 for Float32, without a temporary); backward one pass
// writing (2/n·(input − target))·g (2 for the sum), torch's rounding,
// and its negation for the target, each only where it needs a gradient.
// When the backward pass is itself recorded (double backward) its rule
// is that product composed of differentiable ops. A mean over no
// elements is NaN, as torch's.
//
// It returns false, having done nothing, where it does not apply: the
// backend has no such kernel (backend.MSELosser), input and target differ
// in shape, dtype or device, or their dtype is not Float32 or Float64.
// The caller then composes Sub, Square and Mean or Sum, as
// nn/functional.MSELoss does (and as its reduction "none" always does).
func FusedMSELoss(input, target *Tensor, mean bool) (*Tensor, bool) {
	const op = "mse_loss"
	k, ok := input.be().(backend.MSELosser)
	dt := input.DType()
	if mseLossOff || !ok || !sameShape(input.shape, target.shape) || target.DType() != dt ||
		(dt != Float32 && dt != Float64) || target.Device() != input.Device() {
		return nil, false
	}
	// copies of strided operands, not recorded: the node saves the
	// tensors themselves
	x, y := input, target
	if !x.IsContiguous() {
		x = x.Detach().Contiguous()
	}
	if !y.IsContiguous() {
		y = y.Detach().Contiguous()
	}
	out := emptyOn(op, x.be(), dt, nil)
	k.MSELoss(out.view(), x.view(), y.view(), mean)
	runtime.KeepAlive(x)
	runtime.KeepAlive(y)
	if needsGrad(input, target) {
		record(opMSELoss, mseAttr{mean}, []*Tensor{input, target}, []*Tensor{out}, input, target)
	}
	return out, true
}

// mseLossGrad is FusedMSELoss's rule: with d = input − target and norm
// 2/n (mean) or 2, the input's gradient (norm·d)·g and the target's its
// negation, in one pass where the backend has it and the pass is not
// recorded, else composed in that order.
func mseLossGrad(c *gradCtx, g []*Tensor) []*Tensor {
	a := c.n.attrs.(mseAttr)
	x, y, gg := c.saved(0), c.saved(1), g[0]
	norm := 2.0
	if a.Mean {
		norm = 2 / float64(x.Numel())
	}
	out := make([]*Tensor, 2)
	dt := x.DType()
	if k, ok := x.be().(backend.MSELosser); ok && !c.create && !mseLossOff && gg.DType() == dt && gg.Device() == x.Device() {
		if !x.IsContiguous() {
			x = x.Detach().Contiguous()
		}
		if !y.IsContiguous() {
			y = y.Detach().Contiguous()
		}
		var dx, dy backend.View
		if c.needs(0) {
			out[0] = emptyLike("mse_loss_backward", x, dt)
			dx = out[0].view()
		}
		if c.needs(1) {
			out[1] = emptyLike("mse_loss_backward", x, dt)
			dy = out[1].view()
		}
		k.MSELossBackward(dx, dy, x.view(), y.view(), gg.view(), norm)
		runtime.KeepAlive(x)
		runtime.KeepAlive(y)
		runtime.KeepAlive(gg)
		return out
	}
	d := x.Sub(y).MulScalar(norm).Mul(gg)
	if c.needs(0) {
		out[0] = d
	}
	if c.needs(1) {
		out[1] = d.Neg()
	}
	return out
}
