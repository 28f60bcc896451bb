package backendtest

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// ---------------------------------------------------------------- unary

// unaryCase is one op with one set of scalars.
type unaryCase struct {
	op     backend.UnaryOp
	tag    string // tells apart cases of one op in the subtest name
	p      backend.Scalars
	lo, hi float64 // float inputs are uniform in [lo, hi)
	// f is the float64 reference; fi the integer one (nil: float types
	// only), computed in int64 and wrapped to the type's width.
	f  func(x float64, p backend.Scalars) float64
	fi func(x int64, p backend.Scalars) int64
	// transc marks the transcendental family (2·Tol per element); floor
	// is the magnitude below which the per-element bound stops shrinking
	// with |want| (ops whose relative error is ill-conditioned near a
	// zero of the function, or that subtract nearly equal numbers in any
	// fast implementation).
	transc bool
	floor  float64
	// ties mixes exact halves and integers into the inputs (rounding ops).
	ties bool
}

func (u unaryCase) name() string { return u.op.String() + u.tag }

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

var unaryCases = []unaryCase{
	{op: backend.Neg, lo: -3, hi: 3, f: func(x float64, _ backend.Scalars) float64 { return -x },
		fi: func(x int64, _ backend.Scalars) int64 { return -x }},
	{op: backend.Abs, lo: -3, hi: 3, f: func(x float64, _ backend.Scalars) float64 { return math.Abs(x) },
		fi: func(x int64, _ backend.Scalars) int64 { return max(x, -x) }},
	{op: backend.Sign, lo: -3, hi: 3, f: func(x float64, _ backend.Scalars) float64 { return float64(sign(x)) },
		fi: func(x int64, _ backend.Scalars) int64 { return sign(float64(x)) }},
	{op: backend.Square, lo: -3, hi: 3, f: func(x float64, _ backend.Scalars) float64 { return x * x },
		fi: func(x int64, _ backend.Scalars) int64 { return x * x }},
	{op: backend.ReLU, lo: -3, hi: 3, f: func(x float64, _ backend.Scalars) float64 { return max(x, 0) },
		fi: func(x int64, _ backend.Scalars) int64 { return max(x, 0) }},
	{op: backend.Exp, lo: -6, hi: 6, transc: true, f: func(x float64, _ backend.Scalars) float64 { return math.Exp(x) }},
	{op: backend.Log, lo: 0.01, hi: 8, transc: true, floor: 1, f: func(x float64, _ backend.Scalars) float64 { return math.Log(x) }},
	{op: backend.Log1p, lo: -0.9, hi: 5, transc: true, f: func(x float64, _ backend.Scalars) float64 { return math.Log1p(x) }},
	{op: backend.Sqrt, lo: 0, hi: 9, f: func(x float64, _ backend.Scalars) float64 { return math.Sqrt(x) }},
	{op: backend.Rsqrt, lo: 0.01, hi: 9, f: func(x float64, _ backend.Scalars) float64 { return 1 / math.Sqrt(x) }},
	{op: backend.Reciprocal, tag: "_pos", lo: 0.1, hi: 4, f: func(x float64, _ backend.Scalars) float64 { return 1 / x }},
	{op: backend.Reciprocal, tag: "_neg", lo: -4, hi: -0.1, f: func(x float64, _ backend.Scalars) float64 { return 1 / x }},
	{op: backend.Sin, lo: -5, hi: 5, transc: true, floor: 1, f: func(x float64, _ backend.Scalars) float64 { return math.Sin(x) }},
	{op: backend.Cos, lo: -5, hi: 5, transc: true, floor: 1, f: func(x float64, _ backend.Scalars) float64 { return math.Cos(x) }},
	{op: backend.Tanh, lo: -4, hi: 4, transc: true, f: func(x float64, _ backend.Scalars) float64 { return math.Tanh(x) }},
	{op: backend.Sigmoid, lo: -8, hi: 8, transc: true, f: func(x float64, _ backend.Scalars) float64 { return sigmoid64(x) }},
	// x·Φ(x) with Φ through erfc, which keeps its relative accuracy for x < 0
	{op: backend.GELU, lo: -4, hi: 4, transc: true, floor: 1, f: func(x float64, _ backend.Scalars) float64 { return x * math.Erfc(-x/math.Sqrt2) / 2 }},
	{op: backend.SiLU, lo: -6, hi: 6, transc: true, f: func(x float64, _ backend.Scalars) float64 { return x * sigmoid64(x) }},
	{op: backend.Softplus, p: backend.Scalars{A: 1, B: 20}, lo: -6, hi: 6, transc: true, floor: 1,
		f: func(x float64, p backend.Scalars) float64 { return softplus64(x, p) }},
	// beta 2, threshold 3: inputs above 1.5 pass through unchanged
	{op: backend.Softplus, tag: "_beta2", p: backend.Scalars{A: 2, B: 3}, lo: -4, hi: 4, transc: true, floor: 1,
		f: func(x float64, p backend.Scalars) float64 { return softplus64(x, p) }},
	{op: backend.Erf, lo: -3, hi: 3, transc: true, f: func(x float64, _ backend.Scalars) float64 { return math.Erf(x) }},
	{op: backend.Floor, lo: -4, hi: 4, ties: true, f: func(x float64, _ backend.Scalars) float64 { return math.Floor(x) }},
	{op: backend.Ceil, lo: -4, hi: 4, ties: true, f: func(x float64, _ backend.Scalars) float64 { return math.Ceil(x) }},
	{op: backend.Round, lo: -4, hi: 4, ties: true, f: func(x float64, _ backend.Scalars) float64 { return roundEven(x) }},
	{op: backend.AddScalar, p: backend.Scalars{A: 1.25}, lo: -3, hi: 3,
		f: func(x float64, p backend.Scalars) float64 { return x + p.A }},
	{op: backend.AddScalar, tag: "_int", p: backend.Scalars{A: -3}, lo: -3, hi: 3,
		f:  func(x float64, p backend.Scalars) float64 { return x + p.A },
		fi: func(x int64, p backend.Scalars) int64 { return x + int64(p.A) }},
	{op: backend.MulScalar, p: backend.Scalars{A: -2.5}, lo: -3, hi: 3,
		f: func(x float64, p backend.Scalars) float64 { return x * p.A }},
	{op: backend.MulScalar, tag: "_int", p: backend.Scalars{A: 3}, lo: -3, hi: 3,
		f:  func(x float64, p backend.Scalars) float64 { return x * p.A },
		fi: func(x int64, p backend.Scalars) int64 { return x * int64(p.A) }},
	{op: backend.RSubScalar, p: backend.Scalars{A: 0.75}, lo: -3, hi: 3,
		f: func(x float64, p backend.Scalars) float64 { return p.A - x }},
	{op: backend.RSubScalar, tag: "_int", p: backend.Scalars{A: 4}, lo: -3, hi: 3,
		f:  func(x float64, p backend.Scalars) float64 { return p.A - x },
		fi: func(x int64, p backend.Scalars) int64 { return int64(p.A) - x }},
	{op: backend.DivScalar, p: backend.Scalars{A: 1.5}, lo: -3, hi: 3,
		f: func(x float64, p backend.Scalars) float64 { return x / p.A }},
	{op: backend.RDivScalar, p: backend.Scalars{A: -2}, lo: 0.1, hi: 4,
		f: func(x float64, p backend.Scalars) float64 { return p.A / x }},
	{op: backend.PowScalar, tag: "_2", p: backend.Scalars{A: 2}, lo: -3, hi: 3, transc: true,
		f: func(x float64, p backend.Scalars) float64 { return x * x }},
	{op: backend.PowScalar, tag: "_3", p: backend.Scalars{A: 3}, lo: -3, hi: 3, transc: true,
		f: func(x float64, p backend.Scalars) float64 { return x * x * x }},
	{op: backend.PowScalar, tag: "_half", p: backend.Scalars{A: 0.5}, lo: 0, hi: 9, transc: true,
		f: func(x float64, p backend.Scalars) float64 { return math.Sqrt(x) }},
	{op: backend.PowScalar, tag: "_m1", p: backend.Scalars{A: -1}, lo: 0.1, hi: 4, transc: true,
		f: func(x float64, p backend.Scalars) float64 { return 1 / x }},
	{op: backend.PowScalar, tag: "_1.7", p: backend.Scalars{A: 1.7}, lo: 0.05, hi: 4, transc: true,
		f: func(x float64, p backend.Scalars) float64 { return math.Exp(p.A * math.Log(x)) }},
	{op: backend.Clamp, p: backend.Scalars{A: -1, B: 1.5}, lo: -3, hi: 3,
		f: func(x float64, p backend.Scalars) float64 { return min(max(x, p.A), p.B) }},
	{op: backend.Clamp, tag: "_int", p: backend.Scalars{A: 5, B: 40}, lo: 0, hi: 50,
		f:  func(x float64, p backend.Scalars) float64 { return min(max(x, p.A), p.B) },
		fi: func(x int64, p backend.Scalars) int64 { return min(max(x, int64(p.A)), int64(p.B)) }},
	{op: backend.LeakyReLU, p: backend.Scalars{A: 0.01}, lo: -3, hi: 3,
		f: func(x float64, p backend.Scalars) float64 {
			if x > 0 {
				return x
			}
			return p.A * x
		}},
	{op: backend.LeakyReLU, tag: "_neg", p: backend.Scalars{A: -0.5}, lo: -3, hi: 3,
		f: func(x float64, p backend.Scalars) float64 {
			if x > 0 {
				return x
			}
			return p.A * x
		}},
	{op: backend.Hardsigmoid, lo: -5, hi: 5, f: func(x float64, _ backend.Scalars) float64 { return min(max(x+3, 0), 6) / 6 }},
	{op: backend.Hardswish, lo: -5, hi: 5, f: func(x float64, _ backend.Scalars) float64 { return x * min(max(x+3, 0), 6) / 6 }},
	{op: backend.ELU, p: backend.Scalars{A: 1, B: 1}, lo: -4, hi: 3, transc: true, f: elu64},
	// SELU's constants; and a negative alpha, whose negative side is positive
	{op: backend.ELU, tag: "_selu", p: backend.Scalars{A: 1.6732632423543772848, B: 1.0507009873554804934}, lo: -4, hi: 3, transc: true, f: elu64},
	{op: backend.ELU, tag: "_negalpha", p: backend.Scalars{A: -0.5, B: 2}, lo: -4, hi: 3, transc: true, f: elu64},
	// ½·x·(1 + tanh u) as x·σ(2u), the same value without the cancellation
	// of 1 + tanh u for x < 0
	{op: backend.GELUTanh, lo: -6, hi: 4, transc: true, f: func(x float64, _ backend.Scalars) float64 {
		return x * sigmoid64(2*math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))
	}},
}

// elu64 is torch's elu with alpha p.A and scale p.B.
func elu64(x float64, p backend.Scalars) float64 {
	if x > 0 {
		return p.B * x
	}
	return p.A * p.B * math.Expm1(x)
}

func sign(x float64) int64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func softplus64(x float64, p backend.Scalars) float64 {
	if p.A*x > p.B {
		return x
	}
	// log(1+e^y)/β written so that it neither overflows nor cancels
	y := p.A * x
	return (max(y, 0) + math.Log1p(math.Exp(-math.Abs(y)))) / p.A
}

// roundEven rounds half to even, by hand.
func roundEven(x float64) float64 {
	f := math.Floor(x)
	switch d := x - f; {
	case d < 0.5:
		return f
	case d > 0.5:
		return f + 1
	}
	if math.Mod(f, 2) == 0 {
		return f
	}
	return f + 1
}

// elemTol is the per-element bound and the norm bound of an elementwise
// float result: Tol·|want| for ops a backend rounds once (arithmetic,
// sqrt, rounding functions), 2·Tol·max(|want|, floor) for the
// transcendental family, and Tol for the relative norm of both.
func (c *ctx) elemTol(dt backend.DType, want []float64, transc bool, floor float64) (bound, float64) {
	r := c.tol(dt)
	if transc {
		return relTol(want, 2*r, floor), r
	}
	return relTol(want, r, floor), r
}

// toInts converts float64 values known to be integers.
func toInts(v []float64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// unaryVariants are the (dst, src) layouts of the Unary tests.
var unaryVariants = []struct {
	name     string
	dst, src kind
}{
	{"contig", kContig, kContig},
	{"perm", kContig, kPerm},
	{"gap", kGap, kGap},
	{"broadcast", kPerm, kBcastFirst},
	{"broadcast_last", kContig, kBcastLast},
}

func testUnary(c *ctx) {
	for _, u := range unaryCases {
		c.run(u.name(), func(c *ctx) {
			for _, dt := range c.types(numericTypes...) {
				if !dt.IsFloat() && u.fi == nil {
					continue
				}
				c.run(dt.String(), func(c *ctx) { c.unaryDType(u, dt) })
			}
		})
	}
	c.run("special", testUnarySpecial)
}

// unaryGen draws inputs for u on dt.
func (c *ctx) unaryGen(u unaryCase, dt backend.DType) func() float64 {
	if !dt.IsFloat() {
		lo, hi := -50, 50
		if dt == u8 || u.lo >= 0 {
			lo, hi = 0, 60
		}
		return c.intsIn(lo, hi)
	}
	g := c.uniform(u.lo, u.hi)
	if !u.ties {
		return g
	}
	return func() float64 {
		if c.rng.IntN(3) == 0 {
			return float64(int(2*u.lo)+c.rng.IntN(int(2*(u.hi-u.lo))+1)) / 2
		}
		return g()
	}
}

func (c *ctx) unaryDType(u unaryCase, dt backend.DType) {
	checkU := func(c *ctx, what string, dst *operand, in []float64) {
		if !dt.IsFloat() {
			want := make([]int64, len(in))
			for i, x := range toInts(in) {
				want[i] = wrap(dt, u.fi(x, u.p))
			}
			c.checkInts(what, dst, want)
			return
		}
		want := make([]float64, len(in))
		for i, x := range in {
			want[i] = u.f(x, u.p)
		}
		tol, norm := c.elemTol(dt, want, u.transc, u.floor)
		c.check(what, dst, want, tol, norm)
	}
	for _, v := range unaryVariants {
		c.run(v.name, func(c *ctx) {
			gen := c.unaryGen(u, dt)
			for _, sh := range c.shapes(v.name == "contig" || v.name == "broadcast") {
				what := fmt.Sprintf("%v %v dst=%v src=%v", u.op, sh, v.dst, v.src)
				src := c.input(dt, v.src, sh, gen)
				dst := c.output(dt, v.dst, sh)
				c.s.be.Unary(u.op, dst.view(), src.view(), u.p)
				c.unchanged(what, src)
				if c.written(what, dst) {
					checkU(c, what, dst, src.values())
				}
			}
		})
	}
	c.run("inplace", func(c *ctx) {
		gen := c.unaryGen(u, dt)
		for _, k := range []kind{kContig, kGap, kPerm} {
			for _, sh := range c.shapes(k == kGap) {
				what := fmt.Sprintf("%v in place %v %v", u.op, sh, k)
				x := c.input(dt, k, sh, gen)
				in := x.values()
				c.s.be.Unary(u.op, x.view(), x.view(), u.p)
				if c.written(what, x) {
					checkU(c, what, x, in)
				}
			}
		}
	})
}

// testUnarySpecial feeds the float ops NaN, infinities, signed zeros and
// values that overflow a naive formula; the results are IEEE's (or the
// op's definition's) and are compared exactly.
func testUnarySpecial(c *ctx) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		op       backend.UnaryOp
		p        backend.Scalars
		in, want []float64
	}{
		{backend.Neg, backend.Scalars{}, []float64{nan, inf, -inf}, []float64{nan, -inf, inf}},
		{backend.Abs, backend.Scalars{}, []float64{nan, -inf, -2}, []float64{nan, inf, 2}},
		{backend.Sign, backend.Scalars{}, []float64{-inf, inf, 0, -7, 1e-30}, []float64{-1, 1, 0, -1, 1}},
		{backend.ReLU, backend.Scalars{}, []float64{nan, -inf, inf}, []float64{nan, 0, inf}},
		{backend.Exp, backend.Scalars{}, []float64{nan, -inf, inf, 0, 1000, -1000}, []float64{nan, 0, inf, 1, inf, 0}},
		{backend.Log, backend.Scalars{}, []float64{nan, 0, -1, inf, 1}, []float64{nan, -inf, nan, inf, 0}},
		{backend.Log1p, backend.Scalars{}, []float64{nan, -1, -2, inf, 0}, []float64{nan, -inf, nan, inf, 0}},
		{backend.Sqrt, backend.Scalars{}, []float64{nan, -1, inf, 0, 4}, []float64{nan, nan, inf, 0, 2}},
		{backend.Rsqrt, backend.Scalars{}, []float64{nan, 0, inf, -1, 4}, []float64{nan, inf, 0, nan, 0.5}},
		{backend.Reciprocal, backend.Scalars{}, []float64{nan, 0, math.Copysign(0, -1), inf, 4}, []float64{nan, inf, -inf, 0, 0.25}},
		{backend.Sin, backend.Scalars{}, []float64{nan, inf, 0}, []float64{nan, nan, 0}},
		{backend.Cos, backend.Scalars{}, []float64{nan, -inf, 0}, []float64{nan, nan, 1}},
		{backend.Tanh, backend.Scalars{}, []float64{nan, -inf, inf, 0, 50, -50}, []float64{nan, -1, 1, 0, 1, -1}},
		{backend.Sigmoid, backend.Scalars{}, []float64{nan, -inf, inf, 0, -800, 800}, []float64{nan, 0, 1, 0.5, 0, 1}},
		{backend.GELU, backend.Scalars{}, []float64{nan, inf, 0, 50}, []float64{nan, inf, 0, 50}},
		{backend.SiLU, backend.Scalars{}, []float64{nan, inf, 0, 800}, []float64{nan, inf, 0, 800}},
		{backend.Softplus, backend.Scalars{A: 1, B: 20}, []float64{nan, 30, 1000, -inf, inf}, []float64{nan, 30, 1000, 0, inf}},
		{backend.Erf, backend.Scalars{}, []float64{nan, -inf, inf, 0, 10}, []float64{nan, -1, 1, 0, 1}},
		{backend.Floor, backend.Scalars{}, []float64{nan, -inf, inf, -0.5, 2}, []float64{nan, -inf, inf, -1, 2}},
		{backend.Ceil, backend.Scalars{}, []float64{nan, -inf, inf, -0.5, 2.25}, []float64{nan, -inf, inf, 0, 3}},
		{backend.Round, backend.Scalars{}, []float64{nan, inf, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5}, []float64{nan, inf, 0, 2, 2, 0, -2, -2}},
		{backend.AddScalar, backend.Scalars{A: 1}, []float64{nan, inf, -inf}, []float64{nan, inf, -inf}},
		{backend.MulScalar, backend.Scalars{A: 0}, []float64{nan, inf, 5}, []float64{nan, nan, 0}},
		{backend.DivScalar, backend.Scalars{A: 0}, []float64{1, -1, 0}, []float64{inf, -inf, nan}},
		{backend.RDivScalar, backend.Scalars{A: 1}, []float64{0, inf, nan}, []float64{inf, 0, nan}},
		{backend.Clamp, backend.Scalars{A: -1, B: 1}, []float64{nan, -inf, inf, 0.5}, []float64{nan, -1, 1, 0.5}},
		{backend.LeakyReLU, backend.Scalars{A: 0.5}, []float64{nan, -inf, inf, -2}, []float64{nan, -inf, inf, -1}},
		{backend.Hardsigmoid, backend.Scalars{}, []float64{nan, -inf, inf, -3, 3, 0}, []float64{nan, 0, 1, 0, 1, 0.5}},
		// torch's: −∞·0 is NaN
		{backend.Hardswish, backend.Scalars{}, []float64{nan, -inf, inf, -3, 3, -4}, []float64{nan, nan, inf, 0, 3, 0}},
		{backend.ELU, backend.Scalars{A: 1, B: 2}, []float64{nan, -inf, inf, 0, -1000, 1e-30}, []float64{nan, -2, inf, 0, -2, 2e-30}},
		// torch's: −Inf·(1 + tanh(−Inf)) is NaN
		{backend.GELUTanh, backend.Scalars{}, []float64{nan, -inf, inf, 0, 30, -30, 1e-30}, []float64{nan, nan, inf, 0, 30, 0, 5e-31}},
	}
	for _, dt := range c.types(floatTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, k := range cases {
				what := fmt.Sprintf("%v(%v) of %v", k.op, k.p, k.in)
				src := c.input(dt, kContig, []int{len(k.in)}, func() float64 { return 0 })
				for i, x := range k.in {
					src.set([]int{i}, x)
				}
				c.upload(src)
				dst := c.outputFinite(dt, kContig, []int{len(k.in)})
				c.s.be.Unary(k.op, dst.view(), src.view(), k.p)
				if c.written(what, dst) {
					c.check(what, dst, k.want, exact, 0)
				}
			}
		})
	}
}

// ---------------------------------------------------------------- binary

type binaryRef struct {
	f  func(a, b float64) float64
	fi func(a, b int64) int64 // nil: float types only
	// transc: the transcendental family's tolerance (Pow)
	transc bool
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

var binaryRefs = [backend.NumBinaryOps]binaryRef{
	backend.Add: {f: func(a, b float64) float64 { return a + b }, fi: func(a, b int64) int64 { return a + b }},
	backend.Sub: {f: func(a, b float64) float64 { return a - b }, fi: func(a, b int64) int64 { return a - b }},
	backend.Mul: {f: func(a, b float64) float64 { return a * b }, fi: func(a, b int64) int64 { return a * b }},
	backend.Div: {f: func(a, b float64) float64 { return a / b }},
	backend.Pow: {f: math.Pow, transc: true, fi: func(a, b int64) int64 {
		r := int64(1)
		for ; b > 0; b-- {
			r *= a
		}
		return r
	}},
	backend.Maximum: {f: func(a, b float64) float64 {
		if a != a || b != b {
			return math.NaN()
		}
		return max(a, b)
	}, fi: func(a, b int64) int64 { return max(a, b) }},
	backend.Minimum: {f: func(a, b float64) float64 {
		if a != a || b != b {
			return math.NaN()
		}
		return min(a, b)
	}, fi: func(a, b int64) int64 { return min(a, b) }},
	backend.Eq: {fi: func(a, b int64) int64 { return b2i(a == b) }, f: func(a, b float64) float64 { return float64(b2i(a == b)) }},
	backend.Ne: {fi: func(a, b int64) int64 { return b2i(a != b) }, f: func(a, b float64) float64 { return float64(b2i(a != b)) }},
	backend.Lt: {fi: func(a, b int64) int64 { return b2i(a < b) }, f: func(a, b float64) float64 { return float64(b2i(a < b)) }},
	backend.Le: {fi: func(a, b int64) int64 { return b2i(a <= b) }, f: func(a, b float64) float64 { return float64(b2i(a <= b)) }},
	backend.Gt: {fi: func(a, b int64) int64 { return b2i(a > b) }, f: func(a, b float64) float64 { return float64(b2i(a > b)) }},
	backend.Ge: {fi: func(a, b int64) int64 { return b2i(a >= b) }, f: func(a, b float64) float64 { return float64(b2i(a >= b)) }},
}

// binaryVariants are the (dst, a, b) layouts; inA and inB run in place.
var binaryVariants = []struct {
	name       string
	dst, a, b  kind
	inA, inB   bool
	big        bool
	comparison bool // also for comparisons (no in-place there)
}{
	{"contig", kContig, kContig, kContig, false, false, true, true},
	{"perm", kContig, kPerm, kGap, false, false, false, true},
	{"broadcast", kContig, kBcastFirst, kBcastLast, false, false, true, true},
	{"gap", kGap, kContig, kPerm, false, false, false, true},
	{"dstperm", kPerm, kBcastLast, kPerm, false, false, false, true},
	{"inplace_a", kGap, kGap, kBcastFirst, true, false, false, false},
	{"inplace_b", kPerm, kPerm, kPerm, false, true, false, false},
	{"inplace_a_contig", kContig, kContig, kPerm, true, false, true, false}, // big, not for comparisons
}

func binaryTypes(op backend.BinaryOp) []backend.DType {
	switch {
	case op == backend.Div:
		return floatTypes
	case op.IsComparison():
		return withBool
	}
	return numericTypes
}

// binaryGens draws the operands of op on dt.
func (c *ctx) binaryGens(op backend.BinaryOp, dt backend.DType) (ga, gb func() float64) {
	switch {
	case op == backend.Div:
		return c.uniform(-3, 3), func() float64 { return (0.25 + 2*c.rng.Float64()) * float64(1-2*c.rng.IntN(2)) }
	case op == backend.Pow && dt.IsFloat():
		return c.uniform(0.05, 3), c.uniform(-2.5, 2.5)
	case op == backend.Pow && dt == u8:
		return c.intsIn(0, 5), c.intsIn(0, 3)
	case op == backend.Pow:
		return c.intsIn(-6, 6), c.intsIn(0, 4)
	case op >= backend.Maximum:
		return c.discrete(dt), c.discrete(dt)
	}
	return c.values(dt), c.values(dt)
}

func testBinary(c *ctx) {
	for op := backend.BinaryOp(0); op < backend.NumBinaryOps; op++ {
		c.run(op.String(), func(c *ctx) {
			for _, dt := range c.types(binaryTypes(op)...) {
				c.run(dt.String(), func(c *ctx) { c.binaryDType(op, dt) })
			}
		})
	}
	c.run("special", testBinarySpecial)
}

// binaryWant is the reference of op over a and b; integer results wrap.
func binaryWant(op backend.BinaryOp, dt backend.DType, a, b *operand) (wantF []float64, wantI []int64) {
	ref := binaryRefs[op]
	if dt.IsFloat() {
		av, bv := a.values(), b.values()
		wantF = make([]float64, len(av))
		for i := range av {
			wantF[i] = ref.f(av[i], bv[i])
		}
		return wantF, nil
	}
	av, bv := a.ints(), b.ints()
	wantI = make([]int64, len(av))
	for i := range av {
		wantI[i] = ref.fi(av[i], bv[i])
		if !op.IsComparison() {
			wantI[i] = wrap(dt, wantI[i])
		}
	}
	return nil, wantI
}

func (c *ctx) binaryDType(op backend.BinaryOp, dt backend.DType) {
	odt := dt
	if op.IsComparison() {
		odt = boolean
	}
	check := func(c *ctx, what string, dst *operand, wantF []float64, wantI []int64) {
		switch {
		case op.IsComparison() && dt.IsFloat():
			c.checkInts(what, dst, toInts(wantF))
		case dt.IsFloat():
			tol, norm := c.elemTol(dt, wantF, binaryRefs[op].transc, 0)
			c.check(what, dst, wantF, tol, norm)
		default:
			c.checkInts(what, dst, wantI)
		}
	}
	for _, v := range binaryVariants {
		if op.IsComparison() && !v.comparison {
			continue
		}
		c.run(v.name, func(c *ctx) {
			ga, gb := c.binaryGens(op, dt)
			for _, sh := range c.shapes(v.big) {
				what := fmt.Sprintf("%v %v dst=%v a=%v b=%v", op, sh, v.dst, v.a, v.b)
				a := c.input(dt, v.a, sh, ga)
				b := c.input(dt, v.b, sh, gb)
				wantF, wantI := binaryWant(op, dt, a, b)
				switch {
				case v.inA:
					what += " (dst is a)"
					c.s.be.Binary(op, a.view(), a.view(), b.view())
					c.unchanged(what, b)
					if c.written(what, a) {
						check(c, what, a, wantF, wantI)
					}
				case v.inB:
					what += " (dst is b)"
					c.s.be.Binary(op, b.view(), a.view(), b.view())
					c.unchanged(what, a)
					if c.written(what, b) {
						check(c, what, b, wantF, wantI)
					}
				default:
					dst := c.output(odt, v.dst, sh)
					c.s.be.Binary(op, dst.view(), a.view(), b.view())
					c.unchanged(what, a)
					c.unchanged(what, b)
					if c.written(what, dst) {
						check(c, what, dst, wantF, wantI)
					}
				}
			}
		})
	}
}

// testBinarySpecial: Maximum and Minimum propagate NaN from either side,
// comparisons with NaN are false except Ne, and IEEE's infinities.
func testBinarySpecial(c *ctx) {
	nan, inf := math.NaN(), math.Inf(1)
	as := []float64{nan, 1, nan, -inf, 2, inf, inf, 0, 1, -1, 0}
	bs := []float64{1, nan, nan, nan, inf, -inf, inf, 0, 0, 0, inf}
	for _, dt := range c.types(floatTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for op := backend.BinaryOp(0); op < backend.NumBinaryOps; op++ {
				if op == backend.Pow {
					continue
				}
				what := fmt.Sprintf("%v of %v and %v", op, as, bs)
				a := c.input(dt, kContig, []int{len(as)}, func() float64 { return 0 })
				b := c.input(dt, kGap, []int{len(bs)}, func() float64 { return 0 })
				for i := range as {
					a.set([]int{i}, as[i])
					b.set([]int{i}, bs[i])
				}
				c.upload(a)
				c.upload(b)
				odt := dt
				if op.IsComparison() {
					odt = boolean
				}
				dst := c.outputFinite(odt, kContig, []int{len(as)})
				c.s.be.Binary(op, dst.view(), a.view(), b.view())
				if !c.written(what, dst) {
					continue
				}
				want := make([]float64, len(as))
				for i := range as {
					want[i] = binaryRefs[op].f(as[i], bs[i])
				}
				c.check(what, dst, want, exact, 0)
			}
		})
	}
}

// ---------------------------------------------------------------- where

func testWhere(c *ctx) {
	variants := []struct {
		name            string
		dst, cond, a, b kind
	}{
		{"contig", kContig, kContig, kContig, kContig},
		{"perm", kContig, kBcastFirst, kPerm, kGap},
		{"broadcast", kGap, kBcastLast, kBcastFirst, kBcastLast},
		{"dstperm", kPerm, kPerm, kContig, kBcastFirst},
	}
	for _, dt := range c.types(allTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range variants {
				c.run(v.name, func(c *ctx) {
					for _, sh := range c.shapes(v.name == "contig") {
						what := fmt.Sprintf("Where %v dst=%v cond=%v a=%v b=%v", sh, v.dst, v.cond, v.a, v.b)
						cond := c.input(boolean, v.cond, sh, c.intsIn(0, 1))
						a := c.input(dt, v.a, sh, c.values(dt))
						b := c.input(dt, v.b, sh, c.values(dt))
						dst := c.output(dt, v.dst, sh)
						c.s.be.Where(dst.view(), cond.view(), a.view(), b.view())
						c.unchanged(what, cond)
						c.unchanged(what, a)
						c.unchanged(what, b)
						if !c.written(what, dst) {
							continue
						}
						want := make([]float64, 0, numel(sh))
						each(sh, func(idx []int) {
							if cond.geti(idx) != 0 {
								want = append(want, a.get(idx))
							} else {
								want = append(want, b.get(idx))
							}
						})
						c.check(what, dst, want, exact, 0)
					}
				})
			}
		})
	}
}
