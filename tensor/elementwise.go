package tensor

import (
	"math"
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

type saveWhat uint8

const (
	saveNone saveWhat = iota
	saveIn
	saveOut
)

// unary runs a backend unary op and records it. Integer inputs to float
// ops are promoted to Float32; half types compute in Float32.
func (t *Tensor) unary(name string, bop backend.UnaryOp, id opID, p backend.Scalars, attrs any, save saveWhat) *Tensor {
	dt := t.DType()
	switch {
	case dt == Bool:
		return t.To(Int64).unary(name, bop, id, p, attrs, save)
	case dt.IsHalf():
		return t.To(Float32).unary(name, bop, id, p, attrs, save).To(dt)
	case bop.FloatOnly() && !dt.IsFloat():
		return t.To(Float32).unary(name, bop, id, p, attrs, save)
	}
	rec := needsGrad(t)
	saves := 1
	if save == saveNone {
		saves = 0
	}
	out, pre := emptyFor(name, t.be(), dt, t.shape, rec, saves)
	t.be().Unary(bop, out.view(), t.view(), p)
	runtime.KeepAlive(t)
	if rec {
		switch save {
		case saveIn:
			recordIn(pre, id, attrs, []*Tensor{t}, []*Tensor{out}, t)
		case saveOut:
			recordIn(pre, id, attrs, []*Tensor{t}, []*Tensor{out}, out)
		default:
			recordIn(pre, id, attrs, []*Tensor{t}, []*Tensor{out})
		}
	}
	return out
}

// Neg returns −t.
func (t *Tensor) Neg() *Tensor {
	return t.unary("neg", backend.Neg, opNeg, backend.Scalars{}, nil, saveNone)
}

// Abs returns |t|.
func (t *Tensor) Abs() *Tensor {
	return t.unary("abs", backend.Abs, opAbs, backend.Scalars{}, nil, saveIn)
}

// Sign returns −1, 0 or 1 by the sign of each element.
func (t *Tensor) Sign() *Tensor {
	return t.unary("sign", backend.Sign, opSign, backend.Scalars{}, nil, saveNone)
}

// Square returns t².
func (t *Tensor) Square() *Tensor {
	return t.unary("square", backend.Square, opSquare, backend.Scalars{}, nil, saveIn)
}

// ReLU returns max(t, 0).
func (t *Tensor) ReLU() *Tensor {
	return t.unary("relu", backend.ReLU, opReLU, backend.Scalars{}, nil, saveOut)
}

// Exp returns eᵗ.
func (t *Tensor) Exp() *Tensor {
	return t.unary("exp", backend.Exp, opExp, backend.Scalars{}, nil, saveOut)
}

// Log returns the natural logarithm.
func (t *Tensor) Log() *Tensor {
	return t.unary("log", backend.Log, opLog, backend.Scalars{}, nil, saveIn)
}

// Log1p returns log(1+t), accurate for small t.
func (t *Tensor) Log1p() *Tensor {
	return t.unary("log1p", backend.Log1p, opLog1p, backend.Scalars{}, nil, saveIn)
}

// Sqrt returns √t.
func (t *Tensor) Sqrt() *Tensor {
	return t.unary("sqrt", backend.Sqrt, opSqrt, backend.Scalars{}, nil, saveOut)
}

// Rsqrt returns 1/√t.
func (t *Tensor) Rsqrt() *Tensor {
	return t.unary("rsqrt", backend.Rsqrt, opRsqrt, backend.Scalars{}, nil, saveOut)
}

// Reciprocal returns 1/t.
func (t *Tensor) Reciprocal() *Tensor {
	return t.unary("reciprocal", backend.Reciprocal, opReciprocal, backend.Scalars{}, nil, saveOut)
}

// Sin returns sin t.
func (t *Tensor) Sin() *Tensor {
	return t.unary("sin", backend.Sin, opSin, backend.Scalars{}, nil, saveIn)
}

// Cos returns cos t.
func (t *Tensor) Cos() *Tensor {
	return t.unary("cos", backend.Cos, opCos, backend.Scalars{}, nil, saveIn)
}

// Tanh returns tanh t.
func (t *Tensor) Tanh() *Tensor {
	return t.unary("tanh", backend.Tanh, opTanh, backend.Scalars{}, nil, saveOut)
}

// Sigmoid returns 1/(1+e⁻ᵗ).
func (t *Tensor) Sigmoid() *Tensor {
	return t.unary("sigmoid", backend.Sigmoid, opSigmoid, backend.Scalars{}, nil, saveOut)
}

// GELU returns t·Φ(t) with the exact (erf) Φ, torch's default.
func (t *Tensor) GELU() *Tensor {
	return t.unary("gelu", backend.GELU, opGELU, backend.Scalars{}, nil, saveIn)
}

// GELUTanh returns GELU's tanh approximation
// ½·t·(1 + tanh(√(2/π)·(t + 0.044715·t³))), torch's
// F.gelu(t, approximate="tanh") (GPT-2's gelu_new), for which
// nn/functional.GELU(x, "tanh") is the usual entry point. The CPU
// computes it as t·σ(2·√(2/π)·(t + 0.044715·t³)), the same value, which
// keeps its relative accuracy for t ≪ 0 where torch's float32 1 + tanh(·)
// cancels; −Inf gives NaN, as torch's. Its gradient is torch's
// gelu_backward (NaN at ±Inf, as there).
func (t *Tensor) GELUTanh() *Tensor {
	return t.unary("gelu_tanh", backend.GELUTanh, opGELUTanh, backend.Scalars{}, nil, saveIn)
}

// SiLU returns t·σ(t) (swish).
func (t *Tensor) SiLU() *Tensor {
	return t.unary("silu", backend.SiLU, opSiLU, backend.Scalars{}, nil, saveIn)
}

// Softplus returns log(1+eᵗ), and t itself above 20 (torch's defaults).
func (t *Tensor) Softplus() *Tensor { return t.SoftplusWith(1, 20) }

// SoftplusWith returns log(1+e^(β·t))/β, and t where β·t > threshold.
func (t *Tensor) SoftplusWith(beta, threshold float64) *Tensor {
	p := backend.Scalars{A: beta, B: threshold}
	return t.unary("softplus", backend.Softplus, opSoftplus, p, scalarAttr{beta, threshold}, saveIn)
}

// Erf returns the error function of t.
func (t *Tensor) Erf() *Tensor {
	return t.unary("erf", backend.Erf, opErf, backend.Scalars{}, nil, saveIn)
}

// Floor rounds down; its gradient is zero.
func (t *Tensor) Floor() *Tensor {
	if !t.DType().IsFloat() {
		return t.Clone()
	}
	return t.unary("floor", backend.Floor, opFloor, backend.Scalars{}, nil, saveNone)
}

// Ceil rounds up; its gradient is zero.
func (t *Tensor) Ceil() *Tensor {
	if !t.DType().IsFloat() {
		return t.Clone()
	}
	return t.unary("ceil", backend.Ceil, opCeil, backend.Scalars{}, nil, saveNone)
}

// Round rounds half to even, as torch.round; its gradient is zero.
func (t *Tensor) Round() *Tensor {
	if !t.DType().IsFloat() {
		return t.Clone()
	}
	return t.unary("round", backend.Round, opRound, backend.Scalars{}, nil, saveNone)
}

// LeakyReLU returns t where t > 0 and slope·t elsewhere.
func (t *Tensor) LeakyReLU(slope float64) *Tensor {
	return t.unary("leaky_relu", backend.LeakyReLU, opLeakyReLU, backend.Scalars{A: slope}, scalarAttr{A: slope}, saveIn)
}

// Hardsigmoid returns min(max(t + 3, 0), 6)/6
// (torch.nn.functional.hardsigmoid). Its gradient is 1/6 strictly
// inside (−3, 3) and 0 elsewhere, as torch's.
func (t *Tensor) Hardsigmoid() *Tensor {
	return t.unary("hardsigmoid", backend.Hardsigmoid, opHardsigmoid, backend.Scalars{}, nil, saveIn)
}

// Hardswish returns t·min(max(t + 3, 0), 6)/6
// (torch.nn.functional.hardswish). Its gradient is torch's: 0 below −3,
// t/3 + ½ on [−3, 3] (the ends included) and 1 above.
func (t *Tensor) Hardswish() *Tensor {
	return t.unary("hardswish", backend.Hardswish, opHardswish, backend.Scalars{}, nil, saveIn)
}

// ELU returns scale·t where t > 0 and scale·alpha·(eᵗ − 1) elsewhere
// (torch.nn.functional.elu is scale 1; SELU is alpha ≈ 1.6733 and scale
// ≈ 1.0507). eᵗ − 1 keeps its relative accuracy near 0. The gradient at
// 0 is alpha·scale, as torch's.
func (t *Tensor) ELU(alpha, scale float64) *Tensor {
	p := backend.Scalars{A: alpha, B: scale}
	return t.unary("elu", backend.ELU, opELU, p, scalarAttr{alpha, scale}, saveIn)
}

// Clamp limits every element to [min, max]; pass ±math.Inf for a
// one-sided clamp. The gradient passes where min ≤ t ≤ max.
func (t *Tensor) Clamp(min, max float64) *Tensor {
	return t.scalarOp("clamp", backend.Clamp, opClamp, min, max, saveIn, false)
}

// ClampMin limits every element to at least min.
func (t *Tensor) ClampMin(min float64) *Tensor { return t.Clamp(min, math.Inf(1)) }

// ClampMax limits every element to at most max.
func (t *Tensor) ClampMax(max float64) *Tensor { return t.Clamp(math.Inf(-1), max) }

// scalarOp runs an op with scalar arguments. An integer tensor keeps its
// type when the scalars are whole numbers (and the op is not floatOnly),
// else it is promoted to Float32, as torch does for a Python float.
func (t *Tensor) scalarOp(name string, bop backend.UnaryOp, id opID, a, b float64, save saveWhat, floatOnly bool) *Tensor {
	if !t.DType().IsFloat() && (floatOnly || !intScalars(bop, a, b)) {
		return t.To(Float32).scalarOp(name, bop, id, a, b, save, floatOnly)
	}
	return t.unary(name, bop, id, backend.Scalars{A: a, B: b}, scalarAttr{a, b}, save)
}

// intScalars reports whether an integer tensor keeps its type under op
// with scalars a, b: they must be whole numbers. Clamp's bounds may also
// be infinite (a one-sided clamp); the kernel saturates them to the type.
func intScalars(op backend.UnaryOp, a, b float64) bool {
	whole := func(v float64) bool {
		if math.IsInf(v, 0) {
			return op == backend.Clamp
		}
		return v == math.Trunc(v) // false for NaN
	}
	return !op.FloatOnly() && whole(a) && whole(b)
}

// AddScalar returns t + v.
func (t *Tensor) AddScalar(v float64) *Tensor {
	return t.scalarOp("add", backend.AddScalar, opAddScalar, v, 0, saveNone, false)
}

// SubScalar returns t − v.
func (t *Tensor) SubScalar(v float64) *Tensor {
	return t.scalarOp("sub", backend.AddScalar, opAddScalar, -v, 0, saveNone, false)
}

// RSubScalar returns v − t.
func (t *Tensor) RSubScalar(v float64) *Tensor {
	return t.scalarOp("rsub", backend.RSubScalar, opRSubScalar, v, 0, saveNone, false)
}

// MulScalar returns t·v.
func (t *Tensor) MulScalar(v float64) *Tensor {
	return t.scalarOp("mul", backend.MulScalar, opMulScalar, v, 0, saveNone, false)
}

// DivScalar returns t/v (true division: integers become Float32).
func (t *Tensor) DivScalar(v float64) *Tensor {
	return t.scalarOp("div", backend.DivScalar, opDivScalar, v, 0, saveNone, true)
}

// RDivScalar returns v/t.
func (t *Tensor) RDivScalar(v float64) *Tensor {
	return t.scalarOp("rdiv", backend.RDivScalar, opRDivScalar, v, 0, saveIn, true)
}

// PowScalar returns tᵖ.
func (t *Tensor) PowScalar(p float64) *Tensor {
	return t.scalarOp("pow", backend.PowScalar, opPowScalar, p, 0, saveIn, true)
}

// binary runs a backend binary op with broadcasting and type promotion,
// and records it (comparisons never record).
//
// Tiny ops are dominated by this function's fixed cost, so the common
// case (one backend, one dtype, one shape) takes no detours: a backend
// serves one device, so equal backends need no device check; equal
// dtypes promote to themselves; equal shapes need no broadcasting.
func binary(name string, bop backend.BinaryOp, id opID, a, b *Tensor, save bool) *Tensor {
	if !sameBackend(a, b) {
		sameDevice(name, a, b)
	}
	shape := a.shape // read only: empty copies it
	if !sameShape(a.shape, b.shape) {
		shape = broadcastShapes(name, a.shape, b.shape)
	}
	dt := a.st.dt
	if b.st.dt != dt {
		dt = resultType(a, b)
	}
	outDT := dt
	switch {
	case bop == backend.Div && !dt.IsFloat():
		dt, outDT = Float32, Float32
	case dt == Bool && !bop.IsComparison():
		if bop == backend.Sub {
			fail(name, ErrDType, "subtracting bool tensors is not supported; use LogicalXor or convert to an integer type")
		}
		dt = Uint8
	case dt.IsHalf():
		dt = Float32
	}
	x, y := a.To(dt), b.To(dt)
	resDT := dt
	if bop.IsComparison() {
		resDT, outDT = Bool, Bool
	}
	rec := !bop.IsComparison() && needsGrad(x, y)
	saves := 0
	if save {
		saves = 2
	}
	out, pre := emptyFor(name, a.be(), resDT, shape, rec, saves)
	if len(x.shape) == len(shape) && sameShape(x.shape, y.shape) {
		// no broadcasting: the views as they are, built in place
		if !binaryDense(bop, out, x, y) {
			x.be().Binary(bop, out.view(), x.view(), y.view())
		}
	} else {
		x.be().Binary(bop, out.view(), x.broadcastView(shape), y.broadcastView(shape))
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(y)
	if rec {
		if save {
			recordIn(pre, id, nil, []*Tensor{x, y}, []*Tensor{out}, x, y)
		} else {
			recordIn(pre, id, nil, []*Tensor{x, y}, []*Tensor{out})
		}
	}
	if outDT != resDT {
		out = out.To(outDT)
	}
	return out
}

// Add returns t + o, broadcasting.
func (t *Tensor) Add(o *Tensor) *Tensor { return binary("add", backend.Add, opAdd, t, o, false) }

// Sub returns t − o, broadcasting.
func (t *Tensor) Sub(o *Tensor) *Tensor { return binary("sub", backend.Sub, opSub, t, o, false) }

// Mul returns t·o, broadcasting.
func (t *Tensor) Mul(o *Tensor) *Tensor { return binary("mul", backend.Mul, opMul, t, o, true) }

// Div returns t/o, broadcasting (true division).
func (t *Tensor) Div(o *Tensor) *Tensor { return binary("div", backend.Div, opDiv, t, o, true) }

// Pow returns tᵒ, broadcasting.
func (t *Tensor) Pow(o *Tensor) *Tensor { return binary("pow", backend.Pow, opPow, t, o, true) }

// Maximum returns the elementwise maximum, propagating NaN.
func (t *Tensor) Maximum(o *Tensor) *Tensor {
	return binary("maximum", backend.Maximum, opMaximum, t, o, true)
}

// Minimum returns the elementwise minimum, propagating NaN.
func (t *Tensor) Minimum(o *Tensor) *Tensor {
	return binary("minimum", backend.Minimum, opMinimum, t, o, true)
}

// Eq returns t == o as Bool.
func (t *Tensor) Eq(o *Tensor) *Tensor { return binary("eq", backend.Eq, 0, t, o, false) }

// Ne returns t ≠ o as Bool.
func (t *Tensor) Ne(o *Tensor) *Tensor { return binary("ne", backend.Ne, 0, t, o, false) }

// Lt returns t < o as Bool.
func (t *Tensor) Lt(o *Tensor) *Tensor { return binary("lt", backend.Lt, 0, t, o, false) }

// Le returns t ≤ o as Bool.
func (t *Tensor) Le(o *Tensor) *Tensor { return binary("le", backend.Le, 0, t, o, false) }

// Gt returns t > o as Bool.
func (t *Tensor) Gt(o *Tensor) *Tensor { return binary("gt", backend.Gt, 0, t, o, false) }

// Ge returns t ≥ o as Bool.
func (t *Tensor) Ge(o *Tensor) *Tensor { return binary("ge", backend.Ge, 0, t, o, false) }

// scalarLike is v as a 0-d tensor of the type t would be promoted to by a
// Python scalar: t's own type, or Float32 for a fractional v and an integer t.
func scalarLike(t *Tensor, v float64) *Tensor {
	dt := t.DType()
	if !dt.IsFloat() && v != math.Trunc(v) {
		dt = Float32
	}
	if dt == Bool && v != 0 && v != 1 {
		dt = Int64
	}
	return fullOf(dt, t.Device(), v, nil)
}

// EqScalar returns t == v as Bool.
func (t *Tensor) EqScalar(v float64) *Tensor { return t.Eq(scalarLike(t, v)) }

// NeScalar returns t ≠ v as Bool.
func (t *Tensor) NeScalar(v float64) *Tensor { return t.Ne(scalarLike(t, v)) }

// LtScalar returns t < v as Bool.
func (t *Tensor) LtScalar(v float64) *Tensor { return t.Lt(scalarLike(t, v)) }

// LeScalar returns t ≤ v as Bool.
func (t *Tensor) LeScalar(v float64) *Tensor { return t.Le(scalarLike(t, v)) }

// GtScalar returns t > v as Bool.
func (t *Tensor) GtScalar(v float64) *Tensor { return t.Gt(scalarLike(t, v)) }

// GeScalar returns t ≥ v as Bool.
func (t *Tensor) GeScalar(v float64) *Tensor { return t.Ge(scalarLike(t, v)) }

// IsNaN returns where t is NaN, as Bool.
func (t *Tensor) IsNaN() *Tensor { return t.Ne(t) }

// logical runs a Bool op on t and o seen as booleans (x ≠ 0).
func logical(name string, bop backend.BinaryOp, a, b *Tensor) *Tensor {
	sameDevice(name, a, b)
	shape := broadcastShapes(name, a.shape, b.shape)
	x, y := a.To(Bool), b.To(Bool)
	out := empty(name, a.Device(), Bool, shape)
	if len(x.shape) == len(shape) && sameShape(x.shape, y.shape) {
		// no broadcasting: the views as they are, built in place
		x.be().Binary(bop, out.view(), x.view(), y.view())
	} else {
		x.be().Binary(bop, out.view(), x.broadcastView(shape), y.broadcastView(shape))
	}
	runtime.KeepAlive(x)
	runtime.KeepAlive(y)
	return out
}

// LogicalAnd returns t ∧ o as Bool.
func (t *Tensor) LogicalAnd(o *Tensor) *Tensor { return logical("logical_and", backend.Minimum, t, o) }

// LogicalOr returns t ∨ o as Bool.
func (t *Tensor) LogicalOr(o *Tensor) *Tensor { return logical("logical_or", backend.Maximum, t, o) }

// LogicalXor returns t ⊕ o as Bool.
func (t *Tensor) LogicalXor(o *Tensor) *Tensor { return logical("logical_xor", backend.Ne, t, o) }

// LogicalNot returns ¬t as Bool.
func (t *Tensor) LogicalNot() *Tensor { return t.To(Bool).Eq(fullOf(Bool, t.Device(), 0, nil)) }

// Where picks a where cond is true and b elsewhere, broadcasting all three.
// cond must be Bool (or Uint8).
func Where(cond, a, b *Tensor) *Tensor {
	const name = "where"
	sameDevice(name, cond, a, b)
	if cond.DType() == Uint8 {
		cond = cond.To(Bool)
	}
	if cond.DType() != Bool {
		fail(name, ErrDType, "condition must be bool, not %v", cond.DType())
	}
	shape := broadcastShapes(name, cond.shape, a.shape, b.shape)
	dt := resultType(a, b)
	x, y := a.To(dt), b.To(dt)
	out := empty(name, a.Device(), dt, shape)
	x.be().Where(out.view(), cond.broadcastView(shape), x.broadcastView(shape), y.broadcastView(shape))
	runtime.KeepAlive(cond)
	runtime.KeepAlive(x)
	runtime.KeepAlive(y)
	if needsGrad(x, y) {
		record(opWhere, nil, []*Tensor{cond, x, y}, []*Tensor{out}, cond)
	}
	return out
}

// MaskedFill returns t with v written where mask (Bool, broadcastable to
// t's shape) is true.
func (t *Tensor) MaskedFill(mask *Tensor, v float64) *Tensor {
	const name = "masked_fill"
	sameDevice(name, t, mask)
	if mask.DType() != Bool {
		fail(name, ErrDType, "mask must be bool, not %v", mask.DType())
	}
	if sh := broadcastShapes(name, t.shape, mask.shape); !sameShape(sh, t.shape) {
		fail(name, ErrShape, "mask of shape %v does not broadcast to %v", mask.shape, t.shape)
	}
	out := emptyLike(name, t, t.DType())
	val := fullOf(t.DType(), t.Device(), v, nil)
	t.be().Where(out.view(), mask.broadcastView(t.shape), val.broadcastView(t.shape), t.view())
	runtime.KeepAlive(t)
	runtime.KeepAlive(mask)
	if needsGrad(t) {
		record(opMaskedFill, nil, []*Tensor{t}, []*Tensor{out}, mask)
	}
	return out
}
