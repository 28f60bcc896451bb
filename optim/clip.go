package optim

import (
	"errors"
	"math"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// ClipGradNorm scales the gradients of params in place so that their
// total norm, taken over all of them together as if concatenated, is at
// most maxNorm, and returns that total norm as it was before clipping:
// torch.nn.utils.clip_grad_norm_. normType is the p of the p-norm, 2 by
// default; math.Inf(1) gives the largest absolute value. Each gradient is
// multiplied by maxNorm/(total+1e-6) when that is below 1 (torch's
// epsilon). Parameters without a gradient are ignored; with none the
// total is 0. A non-finite total is returned as it is, and leaves NaN
// gradients, as in torch (whose error_if_nonfinite is off by default).
// It panics on a normType that is not positive.
func ClipGradNorm(params []*nn.Parameter, maxNorm float64, normType ...float64) float64 {
	p := 2.0
	if len(normType) > 0 {
		p = normType[0]
	}
	if !(p > 0) {
		panic(errors.New("optim: ClipGradNorm: norm type must be positive or +Inf"))
	}
	grads := detachedGrads(params)
	if len(grads) == 0 {
		return 0
	}
	var total float64
	if math.IsInf(p, 1) {
		for _, g := range grads {
			if g.Numel() > 0 {
				total = math.Max(total, g.Abs().Amax().Item())
			}
		}
	} else {
		for _, g := range grads {
			total += math.Pow(vectorNorm(g, p), p)
		}
		total = math.Pow(total, 1/p)
	}
	coef := maxNorm / (total + 1e-6)
	if !(coef >= 1) { // multiplying by 1 changes nothing; NaN goes through
		for _, g := range grads {
			g.MulScalarIn(coef)
		}
	}
	return total
}

// detachedGrads returns the gradients of params that have one, detached
// (sharing storage) where they require grad, so that nothing done to them
// is recorded.
func detachedGrads(params []*nn.Parameter) []*tensor.Tensor {
	var grads []*tensor.Tensor
	for _, q := range params {
		if g := q.Grad(); g != nil {
			if g.RequiresGrad() {
				g = g.Detach()
			}
			grads = append(grads, g)
		}
	}
	return grads
}

// vectorNorm is torch.norm(g, p) for one tensor, computed in g's dtype.
func vectorNorm(g *tensor.Tensor, p float64) float64 {
	if g.Numel() == 0 {
		return 0
	}
	switch p {
	case 1:
		return g.Abs().Sum().Item()
	case 2:
		return math.Sqrt(g.Square().Sum().Item())
	}
	return math.Pow(g.Abs().PowScalar(p).Sum().Item(), 1/p)
}

// ClipGradValue clamps every gradient of params to [-clip, clip] in
// place: torch.nn.utils.clip_grad_value_. Parameters without a gradient
// are ignored.
func ClipGradValue(params []*nn.Parameter, clip float64) {
	for _, g := range detachedGrads(params) {
		g.ClampIn(-clip, clip)
	}
}
