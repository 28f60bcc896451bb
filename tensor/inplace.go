package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// In-place ops write into t's own storage (and so into every view of
// it), bump its version counter so that backward notices if something it
// saved was overwritten, and return t.
//
// When the op must be recorded (grad mode is on and t or an operand
// requires grad) the result is computed out of place, copied into t, and
// t takes the new node as its grad_fn, as torch rebases an in-place
// result. A leaf that requires grad cannot be written this way (do it
// inside autograd.NoGrad, or on Detach()); neither can a view, since
// Tapir does not rebase the graph of the tensor a view came from.

func (t *Tensor) inplace(name string, others []*Tensor, savesSelf bool, compute func(self *Tensor) *Tensor, direct func() bool) *Tensor {
	for _, o := range others {
		sameDevice(name, t, o)
	}
	rec := (t.RequiresGrad() || anyRequiresGrad(others)) && GradEnabled() // the goroutine lookup last: it costs ~1µs while any scope is active
	if !rec && direct != nil && direct() {
		t.st.version.Add(1)
		return t
	}
	if rec {
		if t.gradFn == nil && t.requiresGrad {
			fail(name, ErrAutograd, "a leaf tensor that requires grad is used in an in-place operation; run it inside autograd.NoGrad or on t.Detach()")
		}
		if t.isView {
			fail(name, ErrAutograd, "in-place operation on a view while recording for autograd is not supported; Clone the view first")
		}
	}
	self := t
	if rec && savesSelf {
		// the op saves its input for the other operands' gradients
		// (buf.MulIn(w) needs the old buf for w's): keep the old values
		self = t.Clone()
	}
	r := compute(self)
	if !sameShape(r.shape, t.shape) {
		fail(name, ErrShape, "output of shape %v does not fit the in-place target of shape %v", r.shape, t.shape)
	}
	if !canCast(r.DType(), t.DType()) {
		fail(name, ErrDType, "result type %v can't be cast to the in-place target's %v", r.DType(), t.DType())
	}
	t.be().Copy(t.view(), r.view())
	runtime.KeepAlive(r)
	t.st.version.Add(1)
	if rec && r.gradFn != nil {
		t.gradFn, t.outIdx = r.gradFn, r.outIdx
	} else if rec {
		t.gradFn = nil
	}
	return t
}

func anyRequiresGrad(ts []*Tensor) bool {
	for _, t := range ts {
		if t != nil && t.RequiresGrad() {
			return true
		}
	}
	return false
}

// canCast reports whether an in-place op may write a from-typed result
// into a to-typed tensor: never into a lower category (float into int,
// int into bool).
func canCast(from, to DType) bool { return category(from) <= category(to) }

// directBinary runs a binary kernel straight into t when o broadcasts to
// t's shape and needs no promotion beyond t's own type.
func (t *Tensor) directBinary(bop backend.BinaryOp, o *Tensor) bool {
	dt := t.DType()
	if dt.IsHalf() || dt == Bool || !canCast(resultType(t, o), dt) || (bop == backend.Div && !dt.IsFloat()) {
		return false
	}
	if sh := broadcastShapes(bop.String(), t.shape, o.shape); !sameShape(sh, t.shape) {
		return false
	}
	x := o.To(dt)
	t.be().Binary(bop, t.view(), t.view(), x.broadcastView(t.shape))
	runtime.KeepAlive(x)
	return true
}

// directUnary runs a unary kernel straight into t when t's type allows.
func (t *Tensor) directUnary(bop backend.UnaryOp, a, b float64) bool {
	dt := t.DType()
	if dt.IsHalf() || dt == Bool {
		return false
	}
	if !dt.IsFloat() && !intScalars(bop, a, b) {
		return false
	}
	t.be().Unary(bop, t.view(), t.view(), backend.Scalars{A: a, B: b})
	return true
}

// AddIn adds o into t in place (t += o) and returns t.
func (t *Tensor) AddIn(o *Tensor) *Tensor {
	return t.inplace("add_", []*Tensor{o}, false, func(s *Tensor) *Tensor { return s.Add(o) },
		func() bool { return t.directBinary(backend.Add, o) })
}

// SubIn subtracts o from t in place.
func (t *Tensor) SubIn(o *Tensor) *Tensor {
	return t.inplace("sub_", []*Tensor{o}, false, func(s *Tensor) *Tensor { return s.Sub(o) },
		func() bool { return t.directBinary(backend.Sub, o) })
}

// MulIn multiplies t by o in place.
func (t *Tensor) MulIn(o *Tensor) *Tensor {
	return t.inplace("mul_", []*Tensor{o}, true, func(s *Tensor) *Tensor { return s.Mul(o) },
		func() bool { return t.directBinary(backend.Mul, o) })
}

// DivIn divides t by o in place.
func (t *Tensor) DivIn(o *Tensor) *Tensor {
	return t.inplace("div_", []*Tensor{o}, true, func(s *Tensor) *Tensor { return s.Div(o) },
		func() bool { return t.directBinary(backend.Div, o) })
}

// AddScaledIn adds alpha·o into t in place (torch's add_(o, alpha=…)).
func (t *Tensor) AddScaledIn(o *Tensor, alpha float64) *Tensor {
	return t.inplace("add_", []*Tensor{o}, false, func(s *Tensor) *Tensor { return s.Add(o.MulScalar(alpha)) },
		func() bool {
			if alpha == 1 {
				return t.directBinary(backend.Add, o)
			}
			if !t.DType().IsFloat() || t.DType().IsHalf() {
				return false
			}
			if t.axpy(o, alpha) {
				return true
			}
			return t.directBinary(backend.Add, o.MulScalar(alpha))
		})
}

// axpy adds alpha·o into t in one pass where it can: t += alpha·o is
// the update of plain SGD, p = p + (−lr)·g, which the backend's fused SGD
// kernel (backend.FusedOptimizer) computes with the same two roundings,
// the product then the sum, as the composed Add(o.MulScalar(alpha)). The
// composed update reads o, writes a temporary, then reads it and t and
// writes t; a training loop's parameter update (p.AddScaledIn(p.Grad(),
// −lr)) spends twice the memory traffic that way. It reports false,
// having written nothing, when the operands are not the fused kernel's
// (different shapes or dtypes, shared storage, non-contiguous views, no
// fused kernel).
func (t *Tensor) axpy(o *Tensor, alpha float64) bool {
	if o.DType() != t.DType() || !sameShape(o.shape, t.shape) || o.st == t.st {
		return false
	}
	fo, ok := t.be().(backend.FusedOptimizer)
	if !ok || !fo.SGDStep(t.view(), o.view(), backend.View{}, backend.SGDHyper{LR: -alpha}) {
		return false
	}
	runtime.KeepAlive(o)
	return true
}

// scalarIn runs a scalar op in place.
func (t *Tensor) scalarIn(name string, bop backend.UnaryOp, a, b float64, savesSelf bool, compute func(s *Tensor) *Tensor) *Tensor {
	return t.inplace(name, nil, savesSelf, compute, func() bool { return t.directUnary(bop, a, b) })
}

// AddScalarIn adds v to t in place.
func (t *Tensor) AddScalarIn(v float64) *Tensor {
	return t.scalarIn("add_", backend.AddScalar, v, 0, false, func(s *Tensor) *Tensor { return s.AddScalar(v) })
}

// SubScalarIn subtracts v from t in place.
func (t *Tensor) SubScalarIn(v float64) *Tensor {
	return t.scalarIn("sub_", backend.AddScalar, -v, 0, false, func(s *Tensor) *Tensor { return s.SubScalar(v) })
}

// MulScalarIn multiplies t by v in place.
func (t *Tensor) MulScalarIn(v float64) *Tensor {
	return t.scalarIn("mul_", backend.MulScalar, v, 0, false, func(s *Tensor) *Tensor { return s.MulScalar(v) })
}

// DivScalarIn divides t by v in place (floating t only).
func (t *Tensor) DivScalarIn(v float64) *Tensor {
	return t.scalarIn("div_", backend.DivScalar, v, 0, false, func(s *Tensor) *Tensor { return s.DivScalar(v) })
}

// PowScalarIn raises t to the power p in place.
func (t *Tensor) PowScalarIn(p float64) *Tensor {
	return t.scalarIn("pow_", backend.PowScalar, p, 0, true, func(s *Tensor) *Tensor { return s.PowScalar(p) })
}

// ClampIn limits t to [min, max] in place.
func (t *Tensor) ClampIn(min, max float64) *Tensor {
	return t.scalarIn("clamp_", backend.Clamp, min, max, true, func(s *Tensor) *Tensor { return s.Clamp(min, max) })
}

// unaryIn runs a unary op in place.
func (t *Tensor) unaryIn(name string, bop backend.UnaryOp, savesSelf bool, compute func(s *Tensor) *Tensor) *Tensor {
	return t.inplace(name, nil, savesSelf, compute, func() bool { return t.directUnary(bop, 0, 0) })
}

// NegIn negates t in place.
func (t *Tensor) NegIn() *Tensor { return t.unaryIn("neg_", backend.Neg, false, (*Tensor).Neg) }

// ReLUIn applies ReLU in place.
func (t *Tensor) ReLUIn() *Tensor { return t.unaryIn("relu_", backend.ReLU, false, (*Tensor).ReLU) }

// ExpIn applies exp in place.
func (t *Tensor) ExpIn() *Tensor { return t.unaryIn("exp_", backend.Exp, false, (*Tensor).Exp) }

// LogIn applies log in place.
func (t *Tensor) LogIn() *Tensor { return t.unaryIn("log_", backend.Log, true, (*Tensor).Log) }

// SqrtIn applies sqrt in place.
func (t *Tensor) SqrtIn() *Tensor { return t.unaryIn("sqrt_", backend.Sqrt, false, (*Tensor).Sqrt) }

// TanhIn applies tanh in place.
func (t *Tensor) TanhIn() *Tensor { return t.unaryIn("tanh_", backend.Tanh, false, (*Tensor).Tanh) }

// SigmoidIn applies the logistic sigmoid in place.
func (t *Tensor) SigmoidIn() *Tensor {
	return t.unaryIn("sigmoid_", backend.Sigmoid, false, (*Tensor).Sigmoid)
}

// MaskedFillIn writes v where mask is true, in place.
func (t *Tensor) MaskedFillIn(mask *Tensor, v float64) *Tensor {
	return t.inplace("masked_fill_", []*Tensor{mask}, false, func(s *Tensor) *Tensor { return s.MaskedFill(mask, v) }, nil)
}

// FillIn sets every element of t to v.
func (t *Tensor) FillIn(v float64) *Tensor {
	return t.inplace("fill_", nil, false, func(s *Tensor) *Tensor { return fullOf(t.DType(), t.Device(), v, t.shape) },
		func() bool { t.fill(v); return true })
}

// ZeroIn sets every element of t to zero.
func (t *Tensor) ZeroIn() *Tensor { return t.FillIn(0) }

// CopyIn copies src (broadcast to t's shape, converted to t's dtype,
// possibly from another device) into t; gradients flow back to src.
func (t *Tensor) CopyIn(src *Tensor) *Tensor {
	const name = "copy_"
	if sh := broadcastShapes(name, t.shape, src.shape); !sameShape(sh, t.shape) {
		fail(name, ErrShape, "source of shape %v does not broadcast to %v", src.shape, t.shape)
	}
	s := src
	if s.Device() != t.Device() {
		s = s.ToDevice(t.Device())
	}
	return t.inplace(name, []*Tensor{s}, false,
		func(_ *Tensor) *Tensor { return s.To(t.DType()).Expand(t.shape...).Clone() },
		func() bool {
			t.be().Copy(t.view(), s.broadcastView(t.shape))
			runtime.KeepAlive(s)
			return true
		})
}
