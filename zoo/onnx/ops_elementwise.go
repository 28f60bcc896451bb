package onnx

import (
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// Elementwise operators: arithmetic, comparisons, logic, unary math and
// activations. They broadcast with NumPy's rules (opset 7 and later) and
// keep the element type ONNX specifies, converting where Tapir's own
// promotion differs (integer division, integer powers).

func init() {
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Add(b) }), "Add")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Sub(b) }), "Sub")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Mul(b) }), "Mul")
	register(binaryOp(divOp), "Div")
	register(opPow, "Pow")
	register(opMod, "Mod")
	register(opBitShift, "BitShift")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Eq(b) }), "Equal")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Gt(b) }), "Greater")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Lt(b) }), "Less")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Ge(b) }), "GreaterOrEqual")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.Le(b) }), "LessOrEqual")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.LogicalAnd(b) }), "And")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.LogicalOr(b) }), "Or")
	register(binaryOp(func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor { return a.LogicalXor(b) }), "Xor")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor { return x.LogicalNot() }), "Not")
	register(opWhere, "Where")
	register(variadic(func(a, b *tensor.Tensor) *tensor.Tensor { return a.Maximum(b) }, false), "Max")
	register(variadic(func(a, b *tensor.Tensor) *tensor.Tensor { return a.Minimum(b) }, false), "Min")
	register(variadic(func(a, b *tensor.Tensor) *tensor.Tensor { return a.Add(b) }, false), "Sum")
	register(variadic(func(a, b *tensor.Tensor) *tensor.Tensor { return a.Add(b) }, true), "Mean")

	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor { return x.Abs() }), "Abs")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor { return x.Neg() }), "Neg")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor { return x.Sign().To(x.DType()) }), "Sign")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Exp() }), "Exp")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Log() }), "Log")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Sqrt() }), "Sqrt")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Reciprocal() }), "Reciprocal")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Sin() }), "Sin")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Cos() }), "Cos")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Sin().Div(x.Cos()) }), "Tan")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Tanh() }), "Tanh")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Sigmoid() }), "Sigmoid")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Erf() }), "Erf")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Floor() }), "Floor")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Ceil() }), "Ceil")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Round() }), "Round")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		return x.Exp().Sub(x.Neg().Exp()).MulScalar(0.5)
	}), "Sinh")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		return x.Exp().Add(x.Neg().Exp()).MulScalar(0.5)
	}), "Cosh")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		// sign(x)·log(|x| + √(x²+1)), accurate for negative x too.
		a := x.Abs()
		return a.Add(a.Square().AddScalar(1).Sqrt()).Log().Mul(x.Sign())
	}), "Asinh")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		return x.Add(x.Square().SubScalar(1).Sqrt()).Log()
	}), "Acosh")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		return x.AddScalar(1).Div(x.RSubScalar(1)).Log().MulScalar(0.5)
	}), "Atanh")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		return hostUnary(x, math.Asin, func(v float64) float64 { return 1 / math.Sqrt(1-v*v) })
	}), "Asin")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		return hostUnary(x, math.Acos, func(v float64) float64 { return -1 / math.Sqrt(1-v*v) })
	}), "Acos")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor {
		return hostUnary(x, math.Atan, func(v float64) float64 { return 1 / (1 + v*v) })
	}), "Atan")
	register(opIsNaN, "IsNaN")
	register(opIsInf, "IsInf")
	register(opClip, "Clip")

	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor { return x.ReLU() }), "Relu")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Softplus() }), "Softplus")
	register(floatUnary(func(x *tensor.Tensor) *tensor.Tensor { return x.Div(x.Abs().AddScalar(1)) }), "Softsign")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		return x.LeakyReLU(c.float("alpha", 0.01))
	}), "LeakyRelu")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		return elu(x, c.float("alpha", 1))
	}), "Elu")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		alpha := c.float("alpha", 1.67326319217681884765625)
		gamma := c.float("gamma", 1.05070102214813232421875)
		return elu(x, alpha).MulScalar(gamma)
	}), "Selu")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		alpha := c.float("alpha", 1)
		// max(0, x) + min(0, α·(exp(x/α) − 1))
		neg := x.DivScalar(alpha).Exp().SubScalar(1).MulScalar(alpha).ClampMax(0)
		return x.ReLU().Add(neg)
	}), "Celu")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		return x.MulScalar(c.float("alpha", 0.2)).AddScalar(c.float("beta", 0.5)).Clamp(0, 1)
	}), "HardSigmoid")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		return x.Mul(x.MulScalar(1.0/6).AddScalar(0.5).Clamp(0, 1))
	}), "HardSwish")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		alpha := c.float("alpha", 1)
		return x.Mul(x.GtScalar(alpha).To(x.DType()))
	}), "ThresholdedRelu")
	register(unaryOp(func(c *opCtx, x *tensor.Tensor) *tensor.Tensor {
		bias, lambd := c.float("bias", 0), c.float("lambd", 0.5)
		lo := x.AddScalar(bias).Mul(x.LtScalar(-lambd).To(x.DType()))
		hi := x.SubScalar(bias).Mul(x.GtScalar(lambd).To(x.DType()))
		return lo.Add(hi).To(x.DType())
	}), "Shrink")
	register(opPRelu, "PRelu")
}

// unaryOp wraps a function of the node's single input.
func unaryOp(f func(c *opCtx, x *tensor.Tensor) *tensor.Tensor) opFunc {
	return func(c *opCtx) []*tensor.Tensor { return one(f(c, c.x(0))) }
}

// floatUnary wraps a function of a floating-point input; ONNX defines
// these operators on floating types only.
func floatUnary(f func(x *tensor.Tensor) *tensor.Tensor) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		x := c.x(0)
		if !x.DType().IsFloat() {
			c.fail("input is %v; the operator takes floating-point tensors", x.DType())
		}
		return one(f(x).To(x.DType()))
	}
}

// binaryOp wraps a function of the node's two inputs.
func binaryOp(f func(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		a, b := c.x(0), c.x(1)
		return one(f(c, a, c.legacyBroadcast(a, b)))
	}
}

// legacyBroadcast applies the broadcast and axis attributes of the
// binary operators before opset 7: b's dims align with a's from axis.
// From opset 7 on, broadcasting is NumPy's and b is returned as is.
func (c *opCtx) legacyBroadcast(a, b *tensor.Tensor) *tensor.Tensor {
	if c.opset >= 7 || c.int("broadcast", 0) != 1 || !c.has("axis") {
		return b
	}
	ax := c.axis(c.int("axis", 0), a.Dim())
	trail := a.Dim() - ax - b.Dim()
	if trail < 0 {
		c.fail("B of shape %v does not fit A %v from axis %d", b.Shape(), a.Shape(), ax)
	}
	sh := b.Shape()
	for i := 0; i < trail; i++ {
		sh = append(sh, 1)
	}
	return b.Reshape(sh...)
}

// variadic folds f over the inputs (Max, Min, Sum, Mean).
func variadic(f func(a, b *tensor.Tensor) *tensor.Tensor, mean bool) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		acc := c.x(0)
		for i := 1; i < len(c.in); i++ {
			acc = f(acc, c.x(i))
		}
		if mean {
			acc = acc.DivScalar(float64(len(c.in))).To(c.x(0).DType())
		}
		return one(acc)
	}
}

// divOp is Div: integer division truncates toward zero, as in C.
func divOp(c *opCtx, a, b *tensor.Tensor) *tensor.Tensor {
	if a.DType().IsFloat() {
		return a.Div(b)
	}
	q := a.To(tensor.Float64).Div(b.To(tensor.Float64))
	return trunc(q).To(a.DType())
}

// trunc rounds toward zero.
func trunc(x *tensor.Tensor) *tensor.Tensor {
	return x.Abs().Floor().Mul(x.Sign())
}

// opPow is Pow: the result has the base's type.
func opPow(c *opCtx) []*tensor.Tensor {
	a := c.x(0)
	b := c.legacyBroadcast(a, c.x(1))
	dt := a.DType()
	if dt.IsFloat() {
		return one(a.Pow(b.To(dt)))
	}
	return one(a.To(tensor.Float64).Pow(b.To(tensor.Float64)).Round().To(dt))
}

// opMod is Mod: with fmod=0 (integers only) the remainder takes the
// divisor's sign, as Python's %; with fmod=1 the dividend's, as C's fmod.
// Floating types are computed in float64, where a − b·trunc(a/b) is exact
// enough for every float32 input.
func opMod(c *opCtx) []*tensor.Tensor {
	a, b := c.x(0), c.x(1)
	fmod := c.int("fmod", 0) == 1
	dt := a.DType()
	if dt.IsFloat() {
		if !fmod {
			c.fail("fmod=0 is defined for integer types only, the input is %v", dt)
		}
		x, y := a.To(tensor.Float64), b.To(tensor.Float64)
		return one(x.Sub(y.Mul(trunc(x.Div(y)).Detach())).To(dt))
	}
	return one(hostBinaryInt(c, a, b, func(x, y int64) int64 {
		if y == 0 {
			return 0
		}
		r := x % y
		if !fmod && r != 0 && (r < 0) != (y < 0) {
			r += y
		}
		return r
	}))
}

// opBitShift shifts unsigned integers left or right.
func opBitShift(c *opCtx) []*tensor.Tensor {
	a, b := c.x(0), c.x(1)
	left := false
	switch c.str("direction", "") {
	case "LEFT":
		left = true
	case "RIGHT":
	default:
		c.fail("direction must be LEFT or RIGHT")
	}
	return one(hostBinaryInt(c, a, b, func(x, y int64) int64 {
		if y < 0 || y >= 64 {
			return 0
		}
		if left {
			return int64(uint64(x) << uint(y))
		}
		return int64(uint64(x) >> uint(y))
	}))
}

// hostBinaryInt applies f to broadcast integer operands on the host and
// returns a's dtype on the run's device.
func hostBinaryInt(c *opCtx, a, b *tensor.Tensor, f func(x, y int64) int64) *tensor.Tensor {
	if a.DType().IsFloat() || b.DType().IsFloat() {
		c.fail("expected integer inputs, got %v and %v", a.DType(), b.DType())
	}
	ab := c.bcast(a, b)
	x, y := ab[0].Contiguous().Int64s(), ab[1].Contiguous().Int64s()
	out := make([]int64, len(x))
	for i := range x {
		out[i] = f(x[i], y[i])
	}
	return c.dev(tensor.FromSlice(out, ab[0].Shape()...)).To(a.DType())
}

// hostUnary computes f on the host for an op Tapir has no kernel for. The
// value is exact; when x requires grad, the result carries the gradient
// df(x)·dx to first order (a straight-through term), so training through
// it works, though gradients of gradients do not.
func hostUnary(x *tensor.Tensor, f, df func(float64) float64) *tensor.Tensor {
	v := x.Float64s()
	out := make([]float64, len(v))
	for i, e := range v {
		out[i] = f(e)
	}
	y := tensor.FromSlice(out, x.Shape()...).ToDevice(x.Device()).To(x.DType())
	if !x.RequiresGrad() {
		return y
	}
	d := make([]float64, len(v))
	for i, e := range v {
		d[i] = df(e)
	}
	g := tensor.FromSlice(d, x.Shape()...).ToDevice(x.Device()).To(x.DType())
	return y.Add(x.Sub(x.Detach()).Mul(g))
}

func elu(x *tensor.Tensor, alpha float64) *tensor.Tensor {
	neg := x.ClampMax(0).Exp().SubScalar(1).MulScalar(alpha)
	return tensor.Where(x.GtScalar(0), x, neg)
}

func opWhere(c *opCtx) []*tensor.Tensor {
	cond, a, b := c.x(0), c.x(1), c.x(2)
	if cond.DType() != tensor.Bool {
		cond = cond.NeScalar(0)
	}
	return one(tensor.Where(cond, a, b))
}

func opIsNaN(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if !x.DType().IsFloat() {
		return one(c.full(tensor.Bool, 0, x.Shape()...))
	}
	return one(x.IsNaN())
}

func opIsInf(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if !x.DType().IsFloat() {
		return one(c.full(tensor.Bool, 0, x.Shape()...))
	}
	pos, neg := c.int("detect_positive", 1) == 1, c.int("detect_negative", 1) == 1
	out := c.full(tensor.Bool, 0, x.Shape()...)
	if pos {
		out = out.LogicalOr(x.EqScalar(math.Inf(1)))
	}
	if neg {
		out = out.LogicalOr(x.EqScalar(math.Inf(-1)))
	}
	return one(out)
}

// opClip is Clip: bounds are attributes before opset 11, optional inputs
// from then on.
func opClip(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	lo, hi := math.Inf(-1), math.Inf(1)
	if c.opset < 11 {
		lo, hi = c.float("min", lo), c.float("max", hi)
		return one(x.Clamp(lo, hi))
	}
	out := x
	if t := c.opt(1); t != nil {
		out = out.Maximum(t.To(x.DType()))
	}
	if t := c.opt(2); t != nil {
		out = out.Minimum(t.To(x.DType()))
	}
	return one(out)
}

// opPRelu is PRelu: slope broadcasts to x (unidirectionally).
func opPRelu(c *opCtx) []*tensor.Tensor {
	x, slope := c.x(0), c.x(1)
	if c.opset < 7 && slope.Numel() > 1 && x.Dim() > 1 && slope.Numel() == x.Size(1) {
		slope = channelView(slope, x.Dim()) // one slope per channel
	}
	return one(tensor.Where(x.LtScalar(0), x.Mul(slope.To(x.DType())), x))
}
