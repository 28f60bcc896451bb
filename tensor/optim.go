package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// Fused optimizer updates: torch._fused_sgd_ and torch._fused_adam_ for
// one parameter. Package optim calls them; they are exported for training
// loops that keep their own optimizer state.

// SGDHyper holds the options of one [FusedSGD] step (backend.SGDHyper).
type SGDHyper = backend.SGDHyper

// AdamHyper holds the options of one [FusedAdam] step (backend.AdamHyper).
type AdamHyper = backend.AdamHyper

// FusedSGD runs one step of torch.optim.SGD on parameter p, with gradient
// grad and momentum buffer buf (nil when h.Momentum is 0), in a single
// pass of the device's fused kernel; the formulas, and the order in which
// they round, are [backend.FusedOptimizer]'s. On success it writes p and
// buf, bumps their version counters as in-place ops do, and returns true.
//
// It returns false, having written nothing, when the fused path does not
// apply: the backend has no fused kernel, a tensor is not contiguous, the
// dtypes differ or are not ones the backend handles, or two of the
// tensors share storage. The caller then composes the update from
// in-place ops, which gives the same result.
//
// Like torch's optimizer steps, which run under torch.no_grad, it records
// nothing for autograd, whatever requires grad. It panics with ErrDevice
// or ErrShape when the tensors are on different devices or have different
// shapes, and with ErrDType when p is not a floating-point tensor.
func FusedSGD(p, grad, buf *Tensor, h SGDHyper) bool {
	const op = "fused_sgd"
	if h.Momentum != 0 && buf == nil {
		fail(op, ErrShape, "momentum %v needs a momentum buffer", h.Momentum)
	}
	if h.Momentum == 0 {
		buf = nil
	}
	fo, ok := fusedCheck(op, p, grad, buf, nil, nil)
	if !ok {
		return false
	}
	var bv backend.View
	if buf != nil {
		bv = buf.view()
	}
	if !fo.SGDStep(p.view(), grad.view(), bv, h) {
		return false
	}
	runtime.KeepAlive(grad)
	p.st.version.Add(1)
	if buf != nil {
		buf.st.version.Add(1)
	}
	return true
}

// FusedAdam runs one step of torch.optim.Adam (or AdamW, with
// h.Decoupled) on parameter p, with gradient grad, moments expAvg and
// expAvgSq, and, with h.AMSGrad, maxExpAvgSq (nil otherwise), in a single
// pass of the device's fused kernel; h.Step counts this step (1 on the
// first). The formulas and their rounding are [backend.FusedOptimizer]'s.
// It writes p and the state, bumps their version counters, and returns
// true, or returns false having written nothing, as [FusedSGD] does; it
// records nothing for autograd and panics as FusedSGD does.
func FusedAdam(p, grad, expAvg, expAvgSq, maxExpAvgSq *Tensor, h AdamHyper) bool {
	const op = "fused_adam"
	if expAvg == nil || expAvgSq == nil || (h.AMSGrad && maxExpAvgSq == nil) {
		fail(op, ErrShape, "missing state tensors (exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad)")
	}
	if !h.AMSGrad {
		maxExpAvgSq = nil
	}
	fo, ok := fusedCheck(op, p, grad, expAvg, expAvgSq, maxExpAvgSq)
	if !ok {
		return false
	}
	var xv backend.View
	if maxExpAvgSq != nil {
		xv = maxExpAvgSq.view()
	}
	if !fo.AdamStep(p.view(), grad.view(), expAvg.view(), expAvgSq.view(), xv, h) {
		return false
	}
	runtime.KeepAlive(grad)
	p.st.version.Add(1)
	expAvg.st.version.Add(1)
	expAvgSq.st.version.Add(1)
	if maxExpAvgSq != nil {
		maxExpAvgSq.st.version.Add(1)
	}
	return true
}

// fusedCheck checks the operands of a fused step (p, grad and up to three
// state tensors, nil ones absent) and returns the backend's fused kernels,
// or false when the step must be composed instead.
func fusedCheck(op string, p, grad, s1, s2, s3 *Tensor) (backend.FusedOptimizer, bool) {
	if p == nil || grad == nil {
		fail(op, ErrShape, "nil parameter or gradient")
	}
	if !p.DType().IsFloat() {
		fail(op, ErrDType, "parameter of dtype %v; optimizers update floating-point tensors", p.DType())
	}
	ts := [5]*Tensor{p, grad, s1, s2, s3}
	ok := true
	for i, t := range ts[1:] {
		if t == nil {
			continue
		}
		if t.Device() != p.Device() {
			fail(op, ErrDevice, "tensors on %v and %v", p.Device(), t.Device())
		}
		if !sameShape(t.shape, p.shape) {
			fail(op, ErrShape, "parameter of shape %v and %s of shape %v", p.shape, fusedNames[i], t.shape)
		}
		if t.DType() != p.DType() {
			ok = false
		}
		for _, o := range ts[:i+1] {
			if o != nil && o.st == t.st {
				ok = false // aliased operands: leave them to the composed update
			}
		}
	}
	if !ok {
		return nil, false
	}
	fo, ok := p.be().(backend.FusedOptimizer)
	return fo, ok
}

var fusedNames = [4]string{"gradient", "state", "state", "state"}
