package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// softmaxFused switches the fused softmax backward off (tests only), so
// that the composed rule, its oracle, runs instead.
var softmaxFused = true

// softmaxBackwardFused is the gradient of Softmax (LogSoftmax with log)
// along dim from its output y and the output's gradient g in one kernel
// call, where it applies: the backward pass is not recorded (the
// composed rule stays for gradients of gradients), dim is the last,
// both operands are contiguous float32 or float64 of one shape, and the
// backend has the kernel. Otherwise it returns nil and the caller runs
// the composed rule. For attention's [N, heads, L, S] scores this is one
// pass per row instead of four tensor ops and three temporaries.
func softmaxBackwardFused(c *gradCtx, y, g *Tensor, dim int, log bool) *Tensor {
	if c.create || !softmaxFused || dim != y.Dim()-1 || !sameShape(y.shape, g.shape) ||
		y.DType() != g.DType() || (y.DType() != Float32 && y.DType() != Float64) ||
		!y.IsContiguous() || !g.IsContiguous() || y.Device() != g.Device() {
		return nil
	}
	k, ok := y.be().(backend.SoftmaxBackwarder)
	if !ok {
		return nil
	}
	out := emptyLike("softmax backward", y, y.DType())
	k.SoftmaxBackward(out.view(), y.view(), g.view(), log)
	runtime.KeepAlive(y)
	runtime.KeepAlive(g)
	return out
}
