package backend

import "math"

// FusedOptimizer is an optional interface of a [Backend]: one-pass
// optimizer updates that read and write every element of a parameter and
// its state once, instead of the dozen elementwise kernels the same update
// takes as a composition of Unary and Binary calls. Package tensor finds it
// with a type assertion (tensor.FusedSGD, tensor.FusedAdam) and package
// optim uses it when a parameter qualifies, so a backend without it keeps
// working: the optimizers fall back to the composed update.
//
// Every operand is a view of the same shape and DType over storage of this
// backend; no two operands overlap. A method returns false, having written
// nothing, when it does not handle the operands (a DType it has no kernel
// for, a non-contiguous view); the caller then composes the update from
// other methods. It panics, as Backend methods do, only on a bug in its
// caller (shapes or DTypes that differ).
//
// The formulas below are torch 1.13's single-tensor (non-foreach)
// implementations, _single_tensor_sgd and _single_tensor_adam/adamw, in
// the order torch evaluates them. In them T(x) is x rounded to the
// operands' type: every arithmetic operation is one rounding in that type
// (no fused multiply-add, no reassociation), and each hyper-parameter is
// first converted from float64 to that type, as torch converts a Python
// scalar for a kernel of that type. A backend that keeps to this order
// gives, in float32 and float64, the same bits as the composed update that
// package optim runs when this interface is absent, which makes each
// in-place op round its result.
type FusedOptimizer interface {
	// SGDStep is one step of torch.optim.SGD on p with gradient g and
	// momentum buffer buf. buf is read and written only when h.Momentum
	// is not 0, and read only when h.First is false; otherwise its
	// Storage may be nil. Per element, with lr, μ, τ (dampening) and λ
	// (weight decay) converted to T:
	//
	//	d = g                       (−g when Maximize)
	//	d = d + λ·p                 if λ ≠ 0
	//	if μ ≠ 0:
	//	    buf = d                                  if First
	//	    buf = μ·buf + T(1−τ)·d                   otherwise
	//	    d = d + μ·buf  if Nesterov, else d = buf
	//	p = p + (−lr)·d
	//
	// where a·b + c·d is (a·b) + (c·d), each product rounded.
	SGDStep(p, g, buf View, h SGDHyper) bool

	// AdamStep is one step of torch.optim.Adam (Decoupled false) or
	// torch.optim.AdamW (Decoupled true) on p with gradient g, first and
	// second moments m and v and, with AMSGrad, the running maximum vmax
	// of v (otherwise vmax's Storage may be nil). h.Step is the step
	// count after this step's increment (1 on the first step). Per
	// element, with β1, β2, lr, ε, λ converted to T and the float64
	// scalars c1 = 1 − β1^Step, c2 = 1 − β2^Step ([AdamHyper.BiasCorrections]):
	//
	//	d = g                              (−g when Maximize)
	//	p = T(1 − lr·λ)·p                  if Decoupled and λ ≠ 0 (lr·λ in float64)
	//	d = d + λ·p                        if not Decoupled and λ ≠ 0
	//	m = β1·m + T(1−β1)·d
	//	v = β2·v + (T(1−β2)·d)·d
	//	vmax = maximum(vmax, v)            if AMSGrad (NaN propagates)
	//	den = sqrt(v or vmax) / T(√c2) + ε
	//	p = p + (T(−lr/c1)·m) / den
	//
	// The products and quotients are rounded as they are grouped.
	AdamStep(p, g, m, v, vmax View, h AdamHyper) bool
}

// SGDHyper holds the hyper-parameters of one [FusedOptimizer.SGDStep]:
// torch.optim.SGD's options and whether this is the parameter's first
// step with momentum.
type SGDHyper struct {
	LR          float64 // learning rate
	Momentum    float64 // momentum factor μ; 0 for plain SGD (buf unused)
	Dampening   float64 // dampening τ of the momentum
	WeightDecay float64 // L2 penalty λ added to the gradient
	Nesterov    bool    // Nesterov momentum
	Maximize    bool    // ascend: use −g
	// First says the momentum buffer does not exist yet: it is set to
	// the (decayed, possibly negated) gradient, as torch clones d_p into
	// a new momentum_buffer, and not read.
	First bool
}

// AdamHyper holds the hyper-parameters of one [FusedOptimizer.AdamStep]:
// torch.optim.Adam's and AdamW's options and the step count.
type AdamHyper struct {
	LR           float64 // learning rate
	Beta1, Beta2 float64 // decay rates of the moments
	Eps          float64 // added to the denominator
	// WeightDecay is λ: an L2 penalty added to the gradient (Adam), or,
	// with Decoupled, a decay of the parameter by lr·λ (AdamW).
	WeightDecay float64
	Decoupled   bool    // AdamW's decoupled weight decay
	AMSGrad     bool    // use the running maximum of v
	Maximize    bool    // ascend: use −g
	Step        float64 // step count including this step: 1 on the first
}

// BiasCorrections returns torch's scalars for step h.Step: the step size
// lr/(1 − β1^Step) and √(1 − β2^Step), both in float64. Backends convert
// them to the operands' type (the step size negated) as
// [FusedOptimizer.AdamStep] states.
func (h AdamHyper) BiasCorrections() (stepSize, bc2Sqrt float64) {
	bc1 := 1 - math.Pow(h.Beta1, h.Step)
	bc2 := 1 - math.Pow(h.Beta2, h.Step)
	return h.LR / bc1, math.Sqrt(bc2)
}
