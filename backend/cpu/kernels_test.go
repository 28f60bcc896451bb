package cpu

// The op-conformance table of the CPU backend. Every kernel runs on
// contiguous, transposed, step-sliced (offset ≠ 0, stride 2) and broadcast
// (stride 0) operands, over 0-d, size-1 and empty shapes, and its output is
// checked element by element against a naive float64 reference written
// here with Go's math package (see oracle_test.go for the machinery).

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

var numericDTypes = []backend.DType{f32, f64, i64, i32, u8t}

// ---------------------------------------------------------------- unary

type unaryCase struct {
	op backend.UnaryOp
	p  backend.Scalars
	// lo, hi bound the float inputs (the op's domain)
	lo, hi float64
	// want is the reference on float64 values; integer results are
	// wrapped to the dtype's width by the test.
	want func(x float64, p backend.Scalars) float64
}

func sigmoidRef(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

var unaryCases = []unaryCase{
	{op: backend.Neg, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return -x }},
	{op: backend.Abs, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return math.Abs(x) }},
	{op: backend.Sign, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 {
		if x > 0 {
			return 1
		} else if x < 0 {
			return -1
		}
		return 0
	}},
	{op: backend.Square, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return x * x }},
	{op: backend.ReLU, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return math.Max(x, 0) }},
	{op: backend.Exp, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return math.Exp(x) }},
	{op: backend.Log, lo: 0.05, hi: 5, want: func(x float64, _ backend.Scalars) float64 { return math.Log(x) }},
	{op: backend.Log1p, lo: -0.9, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return math.Log1p(x) }},
	{op: backend.Sqrt, lo: 0, hi: 5, want: func(x float64, _ backend.Scalars) float64 { return math.Sqrt(x) }},
	{op: backend.Rsqrt, lo: 0.05, hi: 5, want: func(x float64, _ backend.Scalars) float64 { return 1 / math.Sqrt(x) }},
	{op: backend.Reciprocal, lo: 0.2, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return 1 / x }},
	{op: backend.Reciprocal, lo: -3, hi: -0.2, want: func(x float64, _ backend.Scalars) float64 { return 1 / x }},
	{op: backend.Sin, lo: -4, hi: 4, want: func(x float64, _ backend.Scalars) float64 { return math.Sin(x) }},
	{op: backend.Cos, lo: -4, hi: 4, want: func(x float64, _ backend.Scalars) float64 { return math.Cos(x) }},
	{op: backend.Tanh, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return math.Tanh(x) }},
	{op: backend.Sigmoid, lo: -6, hi: 6, want: func(x float64, _ backend.Scalars) float64 { return sigmoidRef(x) }},
	// GELU through erfc, which keeps full relative accuracy for x < 0
	{op: backend.GELU, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return x * math.Erfc(-x/math.Sqrt2) / 2 }},
	// GELU's tanh form as x·σ(2u), which keeps full relative accuracy for x < 0
	{op: backend.GELUTanh, lo: -6, hi: 3, want: func(x float64, _ backend.Scalars) float64 {
		return x * sigmoidRef(2*math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))
	}},
	{op: backend.SiLU, lo: -5, hi: 5, want: func(x float64, _ backend.Scalars) float64 { return x / (1 + math.Exp(-x)) }},
	{op: backend.Softplus, p: backend.Scalars{A: 1, B: 20}, lo: -5, hi: 5, want: func(x float64, _ backend.Scalars) float64 { return math.Log1p(math.Exp(x)) }},
	// beta 2, threshold 1: inputs above 0.5 pass through unchanged
	{op: backend.Softplus, p: backend.Scalars{A: 2, B: 1}, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 {
		if 2*x > 1 {
			return x
		}
		return math.Log1p(math.Exp(2*x)) / 2
	}},
	{op: backend.Erf, lo: -3, hi: 3, want: func(x float64, _ backend.Scalars) float64 { return math.Erf(x) }},
	{op: backend.Floor, lo: -4, hi: 4, want: func(x float64, _ backend.Scalars) float64 { return math.Floor(x) }},
	{op: backend.Ceil, lo: -4, hi: 4, want: func(x float64, _ backend.Scalars) float64 { return math.Ceil(x) }},
	{op: backend.Round, lo: -4, hi: 4, want: func(x float64, _ backend.Scalars) float64 { return roundHalfEven(x) }},
	{op: backend.AddScalar, p: backend.Scalars{A: 1.25}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return x + p.A }},
	{op: backend.AddScalar, p: backend.Scalars{A: -3}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return x + p.A }},
	{op: backend.MulScalar, p: backend.Scalars{A: -2.5}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return x * p.A }},
	{op: backend.MulScalar, p: backend.Scalars{A: 3}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return x * p.A }},
	{op: backend.RSubScalar, p: backend.Scalars{A: 0.75}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return p.A - x }},
	{op: backend.RSubScalar, p: backend.Scalars{A: 4}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return p.A - x }},
	{op: backend.DivScalar, p: backend.Scalars{A: 1.5}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return x / p.A }},
	{op: backend.RDivScalar, p: backend.Scalars{A: 2}, lo: 0.2, hi: 3, want: func(x float64, p backend.Scalars) float64 { return p.A / x }},
	{op: backend.PowScalar, p: backend.Scalars{A: 2}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return x * x }},
	{op: backend.PowScalar, p: backend.Scalars{A: 0.5}, lo: 0, hi: 4, want: func(x float64, p backend.Scalars) float64 { return math.Sqrt(x) }},
	{op: backend.PowScalar, p: backend.Scalars{A: -1}, lo: 0.2, hi: 3, want: func(x float64, p backend.Scalars) float64 { return 1 / x }},
	{op: backend.PowScalar, p: backend.Scalars{A: 3}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return x * x * x }},
	{op: backend.PowScalar, p: backend.Scalars{A: 1.7}, lo: 0.1, hi: 3, want: func(x float64, p backend.Scalars) float64 { return math.Exp(1.7 * math.Log(x)) }},
	{op: backend.Clamp, p: backend.Scalars{A: -1, B: 1.5}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 { return math.Min(math.Max(x, p.A), p.B) }},
	{op: backend.Clamp, p: backend.Scalars{A: 2, B: 7}, lo: 0, hi: 10, want: func(x float64, p backend.Scalars) float64 { return math.Min(math.Max(x, p.A), p.B) }},
	{op: backend.LeakyReLU, p: backend.Scalars{A: 0.01}, lo: -3, hi: 3, want: func(x float64, p backend.Scalars) float64 {
		if x > 0 {
			return x
		}
		return 0.01 * x
	}},
	{op: backend.Hardsigmoid, lo: -5, hi: 5, want: func(x float64, _ backend.Scalars) float64 { return math.Min(math.Max(x+3, 0), 6) / 6 }},
	{op: backend.Hardswish, lo: -5, hi: 5, want: func(x float64, _ backend.Scalars) float64 { return x * math.Min(math.Max(x+3, 0), 6) / 6 }},
	{op: backend.ELU, p: backend.Scalars{A: 1.5, B: 0.5}, lo: -4, hi: 3, want: func(x float64, p backend.Scalars) float64 {
		if x > 0 {
			return p.B * x
		}
		return p.A * p.B * (math.Exp(x) - 1)
	}},
}

// roundHalfEven rounds to the nearest integer, halves to even, by hand.
func roundHalfEven(x float64) float64 {
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

// layout combinations of (dst, src) for one-input elementwise kernels.
var unaryLayouts = [][2]layoutKind{
	{lkContig, lkContig},
	{lkContig, lkTrans},
	{lkContig, lkStep},
	{lkContig, lkBcast0},
	{lkContig, lkBcastLast},
	{lkStep, lkContig},
	{lkTrans, lkTrans},
	{lkStep, lkBcast0},
}

func TestUnaryCoversEveryOp(t *testing.T) {
	seen := map[backend.UnaryOp]bool{}
	for _, c := range unaryCases {
		seen[c.op] = true
	}
	for op := backend.UnaryOp(0); op < backend.NumUnaryOps; op++ {
		if !seen[op] {
			t.Errorf("unary op %v has no conformance case", op)
		}
	}
}

func TestUnary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range unaryCases {
		for _, dt := range numericDTypes {
			if c.op.FloatOnly() && !dt.IsFloat() {
				continue
			}
			if dt == u8t && c.op == backend.Clamp && c.p.A < 0 {
				continue // a negative bound has no Uint8 value
			}
			gen := genFor(dt, rng, c.lo, c.hi)
			if c.op == backend.Round && dt.IsFloat() {
				// halves too, to see ties go to even
				g := gen
				gen = func() float64 {
					if rng.IntN(3) == 0 {
						return float64(rng.IntN(17)-8) / 2
					}
					return g()
				}
			}
			for _, sh := range confShapes {
				for _, lk := range unaryLayouts {
					name := fmt.Sprintf("%v(%v)/%v/%v/dst=%v,src=%v", c.op, c.p, dt, shapeName(sh), lk[0], lk[1])
					src := newOperand(t, dt, lk[1], sh, gen)
					dst, before := newOutput(t, dt, lk[0], sh, rng)
					be.Unary(c.op, dst.view(), src.view(), c.p)
					checkUnary(t, name, c, dt, dst, src.values())
					checkUntouched(t, name, dst, before)
				}
				// in place: dst aliases src exactly
				for _, lk := range []layoutKind{lkContig, lkStep} {
					name := fmt.Sprintf("%v(%v)/%v/%v/in-place %v", c.op, c.p, dt, shapeName(sh), lk)
					x := newOperand(t, dt, lk, sh, gen)
					in := x.values()
					be.Unary(c.op, x.view(), x.view(), c.p)
					checkUnary(t, name, c, dt, x, in)
				}
			}
		}
	}
}

func checkUnary(t *testing.T, name string, c unaryCase, dt backend.DType, dst operand, in []float64) {
	t.Helper()
	i := 0
	forEachIndex(dst.l.Shape, func(idx []int) {
		x := in[i]
		i++
		p := c.p
		if !dt.IsFloat() {
			// integer kernels take the scalars truncated to integers
			p = backend.Scalars{A: math.Trunc(p.A), B: math.Trunc(p.B)}
		}
		want := c.want(x, p)
		if !dt.IsFloat() {
			want = wrapped(dt, int64(want))
		}
		if got := dst.at(idx); !near(got, want, rtolOf(dt), 0) {
			t.Errorf("%s: at %v: %v(%v) = %v, want %v", name, idx, c.op, x, got, want)
		}
	})
}

// Float special values through unary ops: NaN propagates, ±Inf and ±0 map
// as IEEE and torch define.
func TestUnarySpecialValues(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		op   backend.UnaryOp
		p    backend.Scalars
		in   []float64
		want []float64
	}{
		{backend.ReLU, backend.Scalars{}, []float64{nan, -inf, inf}, []float64{nan, 0, inf}},
		{backend.Sign, backend.Scalars{}, []float64{nan, -inf, inf, 0}, []float64{nan, -1, 1, 0}},
		{backend.Abs, backend.Scalars{}, []float64{nan, -inf}, []float64{nan, inf}},
		{backend.Exp, backend.Scalars{}, []float64{-inf, inf, nan}, []float64{0, inf, nan}},
		{backend.Log, backend.Scalars{}, []float64{0, -1, inf}, []float64{-inf, nan, inf}},
		{backend.Sqrt, backend.Scalars{}, []float64{-1, inf}, []float64{nan, inf}},
		{backend.Reciprocal, backend.Scalars{}, []float64{0, inf}, []float64{inf, 0}},
		{backend.Sigmoid, backend.Scalars{}, []float64{-inf, inf, -800, 800, nan}, []float64{0, 1, 0, 1, nan}},
		{backend.Tanh, backend.Scalars{}, []float64{-inf, inf, nan}, []float64{-1, 1, nan}},
		{backend.Softplus, backend.Scalars{A: 1, B: 20}, []float64{30, -inf, 1000}, []float64{30, 0, 1000}},
		{backend.Clamp, backend.Scalars{A: -1, B: 1}, []float64{nan, -inf, inf}, []float64{nan, -1, 1}},
		{backend.Round, backend.Scalars{}, []float64{0.5, 1.5, 2.5, -0.5, -2.5}, []float64{0, 2, 2, 0, -2}},
		{backend.Floor, backend.Scalars{}, []float64{nan, -inf}, []float64{nan, -inf}},
	}
	for _, c := range cases {
		for _, dt := range []backend.DType{f32, f64} {
			src := newOperand(t, dt, lkContig, []int{len(c.in)}, func() float64 { return 0 })
			for i, x := range c.in {
				src.set([]int{i}, x)
			}
			dst, _ := newOutput(t, dt, lkContig, []int{len(c.in)}, rand.New(rand.NewPCG(0, 0)))
			be.Unary(c.op, dst.view(), src.view(), c.p)
			for i, want := range c.want {
				if got := dst.at([]int{i}); !near(got, want, 0, 0) {
					t.Errorf("%v/%v(%v) = %v, want %v", c.op, dt, c.in[i], got, want)
				}
			}
		}
	}
}

// ---------------------------------------------------------------- binary

var binaryRef = map[backend.BinaryOp]func(a, b float64) float64{
	backend.Add: func(a, b float64) float64 { return a + b },
	backend.Sub: func(a, b float64) float64 { return a - b },
	backend.Mul: func(a, b float64) float64 { return a * b },
	backend.Div: func(a, b float64) float64 { return a / b },
	backend.Pow: func(a, b float64) float64 { return math.Pow(a, b) },
	backend.Maximum: func(a, b float64) float64 {
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return math.Max(a, b)
	},
	backend.Minimum: func(a, b float64) float64 {
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return math.Min(a, b)
	},
	backend.Eq: func(a, b float64) float64 { return b2f(a == b) },
	backend.Ne: func(a, b float64) float64 { return b2f(a != b) },
	backend.Lt: func(a, b float64) float64 { return b2f(a < b) },
	backend.Le: func(a, b float64) float64 { return b2f(a <= b) },
	backend.Gt: func(a, b float64) float64 { return b2f(a > b) },
	backend.Ge: func(a, b float64) float64 { return b2f(a >= b) },
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// intPowRef is a^b by repeated multiplication (b ≥ 0).
func intPowRef(a, b int64) int64 {
	r := int64(1)
	for i := int64(0); i < b; i++ {
		r *= a
	}
	return r
}

// layout combinations of (dst, a, b) for two-input elementwise kernels.
var binaryLayouts = [][3]layoutKind{
	{lkContig, lkContig, lkContig},
	{lkContig, lkTrans, lkContig},
	{lkContig, lkContig, lkStep},
	{lkContig, lkBcast0, lkBcastLast},
	{lkContig, lkStep, lkBcast0},
	{lkStep, lkTrans, lkBcastLast},
	{lkTrans, lkContig, lkContig},
	{lkTrans, lkBcastLast, lkTrans},
}

func TestBinaryCoversEveryOp(t *testing.T) {
	for op := backend.BinaryOp(0); op < backend.NumBinaryOps; op++ {
		if binaryRef[op] == nil {
			t.Errorf("binary op %v has no reference", op)
		}
	}
}

func TestBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for op := backend.BinaryOp(0); op < backend.NumBinaryOps; op++ {
		dts := numericDTypes
		if op.IsComparison() {
			dts = append(dts[:len(dts):len(dts)], bl)
		}
		for _, dt := range dts {
			if op == backend.Div && !dt.IsFloat() {
				continue
			}
			genA, genB := genDiscrete(dt, rng), genDiscrete(dt, rng)
			switch {
			case op == backend.Div:
				genA = genFor(dt, rng, -3, 3)
				genB = func() float64 { return (0.25 + 2*rng.Float64()) * float64(1-2*rng.IntN(2)) }
			case op == backend.Pow && dt.IsFloat():
				genA, genB = genFor(dt, rng, 0.1, 3), genFor(dt, rng, -2, 2)
			case op == backend.Pow:
				genB = func() float64 { return float64(rng.IntN(5)) }
				if dt == u8t {
					genA = func() float64 { return float64(rng.IntN(4)) }
				}
			}
			for _, sh := range confShapes {
				for _, lk := range binaryLayouts {
					name := fmt.Sprintf("%v/%v/%v/%v", op, dt, shapeName(sh), lk)
					a := newOperand(t, dt, lk[1], sh, genA)
					b := newOperand(t, dt, lk[2], sh, genB)
					odt := dt
					if op.IsComparison() {
						odt = bl
					}
					dst, before := newOutput(t, odt, lk[0], sh, rng)
					be.Binary(op, dst.view(), a.view(), b.view())
					checkBinary(t, name, op, dt, dst, a.values(), b.values())
					checkUntouched(t, name, dst, before)
				}
				if op.IsComparison() {
					continue
				}
				// in place on either side
				for _, lk := range []layoutKind{lkContig, lkStep} {
					a := newOperand(t, dt, lk, sh, genA)
					b := newOperand(t, dt, lkTrans, sh, genB)
					av, bv := a.values(), b.values()
					be.Binary(op, a.view(), a.view(), b.view())
					checkBinary(t, fmt.Sprintf("%v/%v/%v/dst=a %v", op, dt, shapeName(sh), lk), op, dt, a, av, bv)
					a = newOperand(t, dt, lkTrans, sh, genA)
					b = newOperand(t, dt, lk, sh, genB)
					av, bv = a.values(), b.values()
					be.Binary(op, b.view(), a.view(), b.view())
					checkBinary(t, fmt.Sprintf("%v/%v/%v/dst=b %v", op, dt, shapeName(sh), lk), op, dt, b, av, bv)
				}
			}
		}
	}
}

func checkBinary(t *testing.T, name string, op backend.BinaryOp, dt backend.DType, dst operand, av, bv []float64) {
	t.Helper()
	i := 0
	forEachIndex(dst.l.Shape, func(idx []int) {
		x, y := av[i], bv[i]
		i++
		var want float64
		switch {
		case op == backend.Pow && !dt.IsFloat():
			want = wrapped(dt, intPowRef(int64(x), int64(y)))
		case !dt.IsFloat() && !op.IsComparison():
			want = wrapped(dt, int64(binaryRef[op](x, y)))
		default:
			want = binaryRef[op](x, y)
		}
		rtol := rtolOf(dt)
		if op.IsComparison() {
			rtol = 0
		}
		if got := dst.at(idx); !near(got, want, rtol, 0) {
			t.Errorf("%s: at %v: %v(%v, %v) = %v, want %v", name, idx, op, x, y, got, want)
		}
	})
}

// Maximum and Minimum propagate NaN from either side; comparisons with NaN
// are false except Ne.
func TestBinaryNaN(t *testing.T) {
	nan := math.NaN()
	as := []float64{nan, 1, nan, -math.Inf(1), 2}
	bs := []float64{1, nan, nan, nan, math.Inf(1)}
	for _, dt := range []backend.DType{f32, f64} {
		for _, op := range []backend.BinaryOp{backend.Maximum, backend.Minimum, backend.Eq, backend.Ne, backend.Lt, backend.Ge, backend.Add} {
			a := newOperand(t, dt, lkContig, []int{len(as)}, func() float64 { return 0 })
			b := newOperand(t, dt, lkStep, []int{len(bs)}, func() float64 { return 0 })
			for i := range as {
				a.set([]int{i}, as[i])
				b.set([]int{i}, bs[i])
			}
			odt := dt
			if op.IsComparison() {
				odt = bl
			}
			dst, _ := newOutput(t, odt, lkContig, []int{len(as)}, rand.New(rand.NewPCG(5, 6)))
			be.Binary(op, dst.view(), a.view(), b.view())
			for i := range as {
				want := binaryRef[op](as[i], bs[i])
				if got := dst.at([]int{i}); !near(got, want, 0, 0) {
					t.Errorf("%v/%v(%v, %v) = %v, want %v", op, dt, as[i], bs[i], got, want)
				}
			}
		}
	}
}

// Integer Pow with a negative exponent is what repeated integer division
// (truncating) of 1 by the base gives: 0, except for bases 1 and -1.
func TestBinaryIntPowNegative(t *testing.T) {
	var as, bs []float64
	for a := -4; a <= 4; a++ {
		for b := -5; b <= -1; b++ {
			if a != 0 {
				as, bs = append(as, float64(a)), append(bs, float64(b))
			}
		}
	}
	for _, dt := range []backend.DType{i64, i32} {
		a := newOperand(t, dt, lkContig, []int{len(as)}, func() float64 { return 0 })
		b := newOperand(t, dt, lkContig, []int{len(bs)}, func() float64 { return 0 })
		for i := range as {
			a.set([]int{i}, as[i])
			b.set([]int{i}, bs[i])
		}
		dst, _ := newOutput(t, dt, lkContig, []int{len(as)}, rand.New(rand.NewPCG(4, 4)))
		be.Binary(backend.Pow, dst.view(), a.view(), b.view())
		for i := range as {
			x, y := int64(as[i]), int64(bs[i])
			want := int64(1)
			for k := int64(0); k < -y; k++ {
				want /= x
			}
			if got := dst.at([]int{i}); got != float64(want) {
				t.Errorf("%v: pow(%d, %d) = %v, want %d", dt, x, y, got, want)
			}
		}
	}
}

// ---------------------------------------------------------------- where

func TestWhere(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	layouts := [][4]layoutKind{ // dst, cond, a, b
		{lkContig, lkContig, lkContig, lkContig},
		{lkContig, lkBcast0, lkTrans, lkStep},
		{lkStep, lkContig, lkBcastLast, lkContig},
		{lkTrans, lkStep, lkContig, lkBcast0},
		{lkContig, lkBcastLast, lkStep, lkTrans},
	}
	for _, dt := range backend.DTypes() {
		gen := genFor(dt, rng, -3, 3)
		if dt.IsHalf() {
			gen = func() float64 { return float64(rng.IntN(1000)-500) / 64 }
		}
		for _, sh := range confShapes {
			for _, lk := range layouts {
				name := fmt.Sprintf("%v/%v/%v", dt, shapeName(sh), lk)
				cond := newOperand(t, bl, lk[1], sh, genFor(bl, rng, 0, 0))
				a := newOperand(t, dt, lk[2], sh, gen)
				b := newOperand(t, dt, lk[3], sh, gen)
				dst, before := newOutput(t, dt, lk[0], sh, rng)
				be.Where(dst.view(), cond.view(), a.view(), b.view())
				forEachIndex(sh, func(idx []int) {
					want := b.at(idx)
					if cond.at(idx) != 0 {
						want = a.at(idx)
					}
					if got := dst.at(idx); got != want {
						t.Errorf("%s: at %v: got %v, want %v", name, idx, got, want)
					}
				})
				checkUntouched(t, name, dst, before)
			}
		}
	}
}

// ---------------------------------------------------------------- fill

// fillRef is what Fill(v) stores in dt: float types round (the 16-bit ones
// from v rounded to float32 first, as PyTorch's c10::Half(float) does),
// integers truncate toward zero and wrap, Bool is v ≠ 0.
func fillRef(dt backend.DType, v float64) float64 {
	if dt.IsHalf() {
		return decode(dt, encode(dt, float64(float32(v))))
	}
	return decode(dt, encode(dt, v))
}

func TestFill(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	values := []float64{2.5, -1.5, 0, 1e-8, 70000, -0.7, 3.0000001, math.NaN(), math.Inf(-1), 1e30, -3e9}
	for _, dt := range backend.DTypes() {
		for _, v := range values {
			for _, sh := range [][]int{{}, {5}, {3, 4}, {2, 1, 3}, {0, 3}, {3, 5, 7}} {
				for _, lk := range []layoutKind{lkContig, lkStep, lkTrans} {
					name := fmt.Sprintf("%v/%v/%v/%v", dt, v, shapeName(sh), lk)
					dst, before := newOutput(t, dt, lk, sh, rng)
					be.Fill(dst.view(), v)
					want := fillRef(dt, v)
					forEachIndex(sh, func(idx []int) {
						if got := dst.at(idx); !near(got, want, 0, 0) {
							t.Fatalf("%s: at %v: got %v, want %v", name, idx, got, want)
						}
					})
					checkUntouched(t, name, dst, before)
				}
			}
		}
	}
}

// ---------------------------------------------------------------- copy

// copyGen returns source values for dt: fractions of both signs, values
// past Uint8's and the 16-bit formats' precision, and for float sources
// occasionally NaN, ±Inf and values beyond int64.
func copyGen(dt backend.DType, rng *rand.Rand) func() float64 {
	switch dt {
	case i64, i32:
		return func() float64 { return float64(rng.IntN(2001) - 1000) }
	case u8t:
		return func() float64 { return float64(rng.IntN(256)) }
	case bl:
		return func() float64 { return float64(rng.IntN(2)) }
	}
	return func() float64 {
		switch rng.IntN(20) {
		case 0:
			return math.NaN()
		case 1:
			return math.Inf(1 - 2*rng.IntN(2))
		case 2:
			return 0
		case 3:
			return float64(rng.IntN(9) - 4)
		case 4:
			return 1e25 * float64(1-2*rng.IntN(2)) // beyond int64 (not beyond bfloat16)
		}
		return (rng.Float64()*2 - 1) * math.Exp2(float64(rng.IntN(12)-2))
	}
}

// convertRef is Copy's documented conversion of source value x to dt:
// float→int truncates toward zero (NaN, ±Inf and out-of-range give 0) and
// wraps to the width, int→int wraps, x→Bool is x ≠ 0, and every 16-bit
// target rounds from float32 (PyTorch converts double→half the same way).
func convertRef(src, dst backend.DType, x float64) float64 {
	switch {
	case dst.IsHalf():
		return decode(dst, encode(dst, float64(float32(x))))
	case dst.IsInt() && !src.IsFloat():
		return wrapped(dst, int64(x))
	}
	return decode(dst, encode(dst, x))
}

func TestCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	layouts := [][2]layoutKind{ // dst, src
		{lkContig, lkContig},
		{lkContig, lkTrans},
		{lkContig, lkStep},
		{lkContig, lkBcast0},
		{lkContig, lkFlip},
		{lkStep, lkContig},
		{lkTrans, lkStep},
		{lkStep, lkFlip},
		{lkTrans, lkBcastLast},
	}
	shapes := [][]int{{}, {5}, {3, 4}, {2, 3, 4}, {1, 4}, {0, 3}, {3, 1}}
	pairs := 0
	for _, sdt := range backend.DTypes() {
		for _, ddt := range backend.DTypes() {
			pairs++
			gen := copyGen(sdt, rng)
			for _, sh := range shapes {
				for _, lk := range layouts {
					name := fmt.Sprintf("%v→%v/%v/dst=%v,src=%v", sdt, ddt, shapeName(sh), lk[0], lk[1])
					src := newOperand(t, sdt, lk[1], sh, gen)
					dst, before := newOutput(t, ddt, lk[0], sh, rng)
					be.Copy(dst.view(), src.view())
					forEachIndex(sh, func(idx []int) {
						x := src.at(idx)
						want := convertRef(sdt, ddt, x)
						if got := dst.at(idx); !near(got, want, 0, 0) {
							t.Errorf("%s: at %v: %v → %v, want %v", name, idx, x, got, want)
						}
					})
					checkUntouched(t, name, dst, before)
				}
			}
		}
	}
	if pairs != 64 {
		t.Errorf("covered %d dtype pairs, want 64", pairs)
	}
}

// Copy onto itself (dst identical to src, which the contract allows)
// leaves every element as it was.
func TestCopyIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, dt := range backend.DTypes() {
		for _, lk := range []layoutKind{lkContig, lkStep, lkTrans} {
			x := newOperand(t, dt, lk, []int{3, 5}, copyGen(dt, rng))
			before := x.snapshot()
			be.Copy(x.view(), x.view())
			for i, b := range before {
				if getBits(x.buf, i) != b {
					t.Errorf("%v %v: element %d changed", dt, lk, i)
				}
			}
		}
	}
}

// Float-to-integer conversion of NaN, infinities and values outside int64
// is 0 on every platform (Copy's and Fill's documented contract), not
// whatever the hardware's conversion instruction gives.
func TestCopyFloatToIntOutOfRange(t *testing.T) {
	in := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e30, -1e30, 0x1p63, -0x1p64, 9.3e18, -2.5, 7.9}
	for _, sdt := range []backend.DType{f32, f64, f16, bf} {
		for _, ddt := range []backend.DType{i64, i32, u8t} {
			src := newOperand(t, sdt, lkContig, []int{len(in)}, func() float64 { return 0 })
			for i, x := range in {
				src.set([]int{i}, x)
			}
			dst, _ := newOutput(t, ddt, lkContig, []int{len(in)}, rand.New(rand.NewPCG(1, 1)))
			be.Copy(dst.view(), src.view())
			for i := range in {
				x := src.at([]int{i})
				want := wrapped(ddt, truncInt(x))
				if got := dst.at([]int{i}); got != want {
					t.Errorf("%v→%v: %v → %v, want %v", sdt, ddt, x, got, want)
				}
			}
		}
	}
}

// Integers beyond 2⁵³ convert to Float32 correctly rounded (as a C cast
// and PyTorch do), not rounded twice through float64. The oracle is
// math/big's round-to-nearest-even.
func TestCopyLargeIntToFloat(t *testing.T) {
	in := []int64{
		1<<60 + 1<<36 + 1, // just above a float32 tie; float64 would round it onto the tie
		-(1<<60 + 1<<36 + 1),
		1<<60 + 1<<36, // the tie itself: to even
		1<<53 + 1, 1<<24 + 1, 1<<62 - 1, -1 << 63, 1<<63 - 1, 123456789,
	}
	src := newOperand(t, i64, lkContig, []int{len(in)}, func() float64 { return 0 })
	for i, v := range in {
		setBits(src.buf, i, uint64(v))
	}
	for _, ddt := range []backend.DType{f32, f64} {
		dst, _ := newOutput(t, ddt, lkContig, []int{len(in)}, rand.New(rand.NewPCG(2, 2)))
		be.Copy(dst.view(), src.view())
		for i, v := range in {
			var want float64
			if ddt == f32 {
				w, _ := new(big.Float).SetInt64(v).Float32()
				want = float64(w)
			} else {
				want, _ = new(big.Float).SetInt64(v).Float64()
			}
			if got := dst.at([]int{i}); got != want {
				t.Errorf("int64 %d → %v: got %v, want %v", v, ddt, got, want)
			}
		}
	}
}

func TestUploadDownload(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, dt := range backend.DTypes() {
		for _, lk := range []layoutKind{lkContig, lkTrans, lkStep, lkBcast0, lkFlip} {
			for _, sh := range [][]int{{}, {6}, {3, 4}, {2, 3, 2}, {0, 2}} {
				name := fmt.Sprintf("%v/%v/%v", dt, lk, shapeName(sh))
				o := newOperand(t, dt, lk, sh, copyGen(dt, rng))
				size := dt.Size()
				raw := make([]byte, numel(sh)*size)
				if err := be.Download(raw, o.view()); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				// raw holds the elements row-major
				k := 0
				forEachIndex(sh, func(idx []int) {
					want := getBits(o.buf, pos(o.l, idx))
					var got uint64
					for j := size - 1; j >= 0; j-- {
						got = got<<8 | uint64(raw[k*size+j])
					}
					if got != want {
						t.Errorf("%s: element %v: bits %#x, want %#x", name, idx, got, want)
					}
					k++
				})
				// and upload them into a fresh buffer: it then reads the same
				s, _ := be.Alloc(dt, numel(sh))
				if err := be.Upload(s, raw); err != nil {
					t.Fatalf("%s: upload: %v", name, err)
				}
				up := operand{dt: dt, buf: s.(*Buffer), l: backend.Layout{Shape: sh, Strides: rowMajor(sh)}}
				forEachIndex(sh, func(idx []int) {
					if getBits(up.buf, pos(up.l, idx)) != getBits(o.buf, pos(o.l, idx)) {
						t.Errorf("%s: upload: element %v differs", name, idx)
					}
				})
			}
		}
	}
	// size mismatches are errors
	s, _ := be.Alloc(f32, 4)
	if err := be.Upload(s, make([]byte, 17)); err == nil {
		t.Error("upload of 17 bytes into 16: no error")
	}
	if err := be.Download(make([]byte, 15), backend.View{Storage: s, Layout: backend.Layout{Shape: []int{4}, Strides: []int{1}}}); err == nil {
		t.Error("download of 16 bytes into 15: no error")
	}
}

// ---------------------------------------------------------------- reduce

// reduceSpec is one shape with the dims it reduces.
type reduceSpec struct {
	shape []int
	dims  []int
}

var reduceSpecs = []reduceSpec{
	{[]int{}, nil},
	{[]int{7}, nil}, {[]int{7}, []int{0}},
	{[]int{3, 4}, nil}, {[]int{3, 4}, []int{0}}, {[]int{3, 4}, []int{1}}, {[]int{3, 4}, []int{0, 1}},
	{[]int{2, 3, 4}, []int{0}}, {[]int{2, 3, 4}, []int{1}}, {[]int{2, 3, 4}, []int{2}},
	{[]int{2, 3, 4}, []int{0, 2}}, {[]int{2, 3, 4}, []int{1, 2}}, {[]int{2, 3, 4}, []int{0, 1, 2}},
	{[]int{2, 1, 3}, []int{1}}, {[]int{2, 1, 3}, []int{0, 2}},
	{[]int{1, 5}, []int{1}}, {[]int{4, 1}, []int{0}},
	{[]int{0, 3}, []int{0}}, {[]int{0, 3}, []int{1}}, {[]int{3, 0}, []int{1}}, {[]int{3, 0}, []int{0}},
}

func reducedShape(sh, dims []int) []int {
	out := append([]int{}, sh...)
	for _, d := range dims {
		out[d] = 1
	}
	return out
}

// reduceRef reduces src over dims with explicit loops: it walks every
// element of src and folds it into the output element whose index has the
// reduced coordinates zeroed. It also returns Σ|x| per output, the scale
// of the rounding error a summation of any order may make.
func reduceRef(op backend.ReduceOp, src operand, dims []int) (want, mag []float64) {
	osh := reducedShape(src.l.Shape, dims)
	n := numel(osh)
	want, mag = make([]float64, n), make([]float64, n)
	count := make([]int, n)
	for i := range want {
		switch op {
		case backend.ReduceProd:
			want[i] = 1
		case backend.ReduceMax:
			want[i] = math.Inf(-1)
		case backend.ReduceMin:
			want[i] = math.Inf(1)
		}
	}
	oidx := make([]int, len(osh))
	forEachIndex(src.l.Shape, func(idx []int) {
		copy(oidx, idx)
		for _, d := range dims {
			oidx[d] = 0
		}
		k := linear(osh, oidx)
		x := src.at(idx)
		count[k]++
		mag[k] += math.Abs(x)
		switch op {
		case backend.ReduceSum, backend.ReduceMean:
			want[k] += x
		case backend.ReduceProd:
			want[k] *= x
		case backend.ReduceMax:
			if x > want[k] || math.IsNaN(x) { // once NaN, nothing compares greater
				want[k] = x
			}
		case backend.ReduceMin:
			if x < want[k] || math.IsNaN(x) {
				want[k] = x
			}
		}
	})
	for k := range want {
		if op == backend.ReduceMean {
			want[k] /= float64(count[k]) // 0/0 = NaN for an empty mean, as torch
			mag[k] /= float64(count[k])
		}
	}
	return want, mag
}

// checkReduce compares dst with the reference. Sums of a float type may
// round differently in another order; the bound is relative to Σ|x|, the
// sum's condition (a reordered float64 sum of n terms errs by at most
// about n·2⁻⁵³·Σ|x|, far below 1e-12·Σ|x| for these sizes).
func checkReduce(t *testing.T, name string, op backend.ReduceOp, dst operand, want, mag []float64) {
	t.Helper()
	rtol := rtolOf(dst.dt)
	forEachIndex(dst.l.Shape, func(idx []int) {
		k := linear(dst.l.Shape, idx)
		w := want[k]
		if !dst.dt.IsFloat() {
			w = wrapped(dst.dt, int64(w))
		}
		atol := 0.0
		if dst.dt.IsFloat() && (op == backend.ReduceSum || op == backend.ReduceMean) {
			atol = 1e-12 * mag[k]
		}
		if got := dst.at(idx); !near(got, w, rtol, atol) {
			t.Errorf("%s: at %v: got %v, want %v", name, idx, got, w)
		}
	})
}

func reduceDTypes(op backend.ReduceOp) []backend.DType {
	switch op {
	case backend.ReduceSum, backend.ReduceProd:
		return []backend.DType{f32, f64, i64}
	case backend.ReduceMean:
		return []backend.DType{f32, f64}
	}
	return numericDTypes
}

func TestReduce(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	layouts := [][2]layoutKind{ // dst, src
		{lkContig, lkContig}, {lkContig, lkTrans}, {lkContig, lkStep}, {lkContig, lkBcast0},
		{lkStep, lkBcastLast}, {lkTrans, lkTrans}, {lkStep, lkContig},
	}
	for _, op := range []backend.ReduceOp{backend.ReduceSum, backend.ReduceMean, backend.ReduceProd, backend.ReduceMax, backend.ReduceMin} {
		for _, dt := range reduceDTypes(op) {
			gen := genFor(dt, rng, -3, 3)
			if op == backend.ReduceProd {
				gen = genFor(dt, rng, 0.5, 1.5)
				if !dt.IsFloat() {
					gen = func() float64 { return float64(rng.IntN(5) - 2) }
				}
			}
			for _, rs := range reduceSpecs {
				if (op == backend.ReduceMax || op == backend.ReduceMin) && numel(rs.shape) == 0 && numel(reducedShape(rs.shape, rs.dims)) > 0 {
					continue // the extreme of nothing is an error in torch
				}
				for _, lk := range layouts {
					name := fmt.Sprintf("%v/%v/%v dims %v/dst=%v,src=%v", op, dt, shapeName(rs.shape), rs.dims, lk[0], lk[1])
					src := newOperand(t, dt, lk[1], rs.shape, gen)
					dst, before := newOutput(t, dt, lk[0], reducedShape(rs.shape, rs.dims), rng)
					be.Reduce(op, dst.view(), src.view())
					want, mag := reduceRef(op, src, rs.dims)
					checkReduce(t, name, op, dst, want, mag)
					checkUntouched(t, name, dst, before)
				}
			}
		}
	}
}

// Max and Min propagate NaN wherever it sits; Sum and Prod give NaN too.
func TestReduceNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, dt := range []backend.DType{f32, f64} {
		for _, op := range []backend.ReduceOp{backend.ReduceMax, backend.ReduceMin, backend.ReduceSum, backend.ReduceProd} {
			for _, at := range [][]int{{0, 0}, {2, 3}, {1, 2}} {
				for _, dims := range [][]int{{0}, {1}, {0, 1}} {
					src := newOperand(t, dt, lkTrans, []int{3, 4}, genFor(dt, rng, -3, 3))
					src.set(at, math.NaN())
					if op == backend.ReduceMax {
						src.set([]int{(at[0] + 1) % 3, at[1]}, math.Inf(1))
					}
					dst, _ := newOutput(t, dt, lkContig, reducedShape([]int{3, 4}, dims), rng)
					be.Reduce(op, dst.view(), src.view())
					want, mag := reduceRef(op, src, dims)
					checkReduce(t, fmt.Sprintf("%v/%v NaN at %v dims %v", op, dt, at, dims), op, dst, want, mag)
				}
			}
		}
	}
}

// ---------------------------------------------------------------- argreduce

// argRef finds the first extreme along dim of the lane through idx, NaN
// counting as more extreme than any number (the first NaN wins).
func argRef(op backend.ArgOp, src operand, idx []int, dim int) (int, float64) {
	j := append([]int{}, idx...)
	best, at := math.NaN(), -1
	for k := 0; k < src.l.Shape[dim]; k++ {
		j[dim] = k
		x := src.at(j)
		switch {
		case at < 0:
			best, at = x, k
		case math.IsNaN(best):
		case math.IsNaN(x):
			best, at = x, k
		case op == backend.ArgMax && x > best, op == backend.ArgMin && x < best:
			best, at = x, k
		}
	}
	return at, best
}

type dimSpec struct {
	shape []int
	dim   int
}

var dimSpecs = []dimSpec{
	{[]int{7}, 0}, {[]int{1}, 0},
	{[]int{3, 4}, 0}, {[]int{3, 4}, 1},
	{[]int{2, 3, 4}, 0}, {[]int{2, 3, 4}, 1}, {[]int{2, 3, 4}, 2},
	{[]int{2, 1, 3}, 1}, {[]int{2, 1, 3}, 2}, {[]int{4, 1}, 0},
	{[]int{0, 3}, 1}, {[]int{3, 0, 2}, 2},
}

func keepDim(sh []int, dim int) []int { return reducedShape(sh, []int{dim}) }

func TestArgReduce(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	layouts := [][2]layoutKind{ // values/indices, src
		{lkContig, lkContig}, {lkContig, lkTrans}, {lkStep, lkStep}, {lkContig, lkBcast0}, {lkTrans, lkBcastLast},
	}
	for _, op := range []backend.ArgOp{backend.ArgMax, backend.ArgMin} {
		for _, dt := range numericDTypes {
			for _, ds := range dimSpecs {
				for _, lk := range layouts {
					for _, withValues := range []bool{true, false} {
						name := fmt.Sprintf("%v/%v/%v dim %d/out=%v,src=%v/values %v", op, dt, shapeName(ds.shape), ds.dim, lk[0], lk[1], withValues)
						src := newOperand(t, dt, lk[1], ds.shape, genDiscrete(dt, rng))
						osh := keepDim(ds.shape, ds.dim)
						ind, ibefore := newOutput(t, i64, lk[0], osh, rng)
						var vals operand
						var vbefore []uint64
						vv := backend.View{}
						if withValues {
							vals, vbefore = newOutput(t, dt, lk[0], osh, rng)
							vv = vals.view()
						}
						be.ArgReduce(op, vv, ind.view(), src.view(), ds.dim)
						forEachIndex(osh, func(idx []int) {
							at, best := argRef(op, src, idx, ds.dim)
							if got := ind.at(idx); got != float64(at) {
								t.Errorf("%s: at %v: index %v, want %d", name, idx, got, at)
							}
							if withValues {
								if got := vals.at(idx); !near(got, best, 0, 0) {
									t.Errorf("%s: at %v: value %v, want %v", name, idx, got, best)
								}
							}
						})
						checkUntouched(t, name, ind, ibefore)
						if withValues {
							checkUntouched(t, name, vals, vbefore)
						}
					}
				}
			}
		}
	}
}

func TestArgReduceNaN(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	lanes := [][]float64{
		{1, nan, 3, nan},
		{nan, 5, 6},
		{inf, 2, nan},
		{-inf, -inf, 0},
		{2, 2, 1, 1},
		{-inf},
	}
	for _, dt := range []backend.DType{f32, f64} {
		for _, op := range []backend.ArgOp{backend.ArgMax, backend.ArgMin} {
			for _, lane := range lanes {
				src := newOperand(t, dt, lkStep, []int{1, len(lane)}, func() float64 { return 0 })
				for i, x := range lane {
					src.set([]int{0, i}, x)
				}
				ind, _ := newOutput(t, i64, lkContig, []int{1, 1}, rand.New(rand.NewPCG(1, 2)))
				vals, _ := newOutput(t, dt, lkContig, []int{1, 1}, rand.New(rand.NewPCG(1, 2)))
				be.ArgReduce(op, vals.view(), ind.view(), src.view(), 1)
				at, best := argRef(op, src, []int{0, 0}, 1)
				if got := ind.at([]int{0, 0}); got != float64(at) {
					t.Errorf("%v/%v %v: index %v, want %d", op, dt, lane, got, at)
				}
				if got := vals.at([]int{0, 0}); !near(got, best, 0, 0) {
					t.Errorf("%v/%v %v: value %v, want %v", op, dt, lane, got, best)
				}
			}
		}
	}
}

// ---------------------------------------------------------------- softmax

// softmaxRef computes softmax (or log-softmax) of one lane directly as
// e^x/Σe^x and x − ln Σe^x, with no max shift: for inputs of modest size
// this is exact to float64 rounding and shares nothing with the kernel's
// shifted form. It also returns a scale for the absolute error bound: the
// log form subtracts two numbers of size |x| and |ln Σe^x|.
func softmaxRef(lane []float64, log bool) (want, scale []float64) {
	sum := 0.0
	for _, x := range lane {
		sum += math.Exp(x)
	}
	lse := math.Log(sum)
	want, scale = make([]float64, len(lane)), make([]float64, len(lane))
	for i, x := range lane {
		if log {
			want[i] = x - lse
			scale[i] = math.Abs(x) + math.Abs(lse)
		} else {
			want[i] = math.Exp(x) / sum
		}
	}
	return want, scale
}

// laneValues reads the lane of o along dim through idx.
func laneValues(o operand, idx []int, dim int) []float64 {
	j := append([]int{}, idx...)
	out := make([]float64, o.l.Shape[dim])
	for k := range out {
		j[dim] = k
		out[k] = o.at(j)
	}
	return out
}

var laneLayouts = [][2]layoutKind{ // dst, src
	{lkContig, lkContig}, {lkContig, lkTrans}, {lkContig, lkStep}, {lkContig, lkBcast0},
	{lkContig, lkBcastLast}, {lkStep, lkTrans}, {lkTrans, lkContig},
}

// laneSpecs adds, to dimSpecs, empty lanes and enough lanes (9 rows, 7
// columns) for kernels that take several lanes at a time, with a remainder.
var laneSpecs = append([]dimSpec{{[]int{3, 0}, 1}, {[]int{2, 0, 3}, 1}, {[]int{9, 5}, 1}, {[]int{6, 7}, 0}}, dimSpecs...)

func TestSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, log := range []bool{false, true} {
		for _, dt := range []backend.DType{f32, f64} {
			for _, ds := range laneSpecs {
				for _, lk := range laneLayouts {
					name := fmt.Sprintf("log=%v/%v/%v dim %d/dst=%v,src=%v", log, dt, shapeName(ds.shape), ds.dim, lk[0], lk[1])
					src := newOperand(t, dt, lk[1], ds.shape, genFor(dt, rng, -5, 5))
					dst, before := newOutput(t, dt, lk[0], ds.shape, rng)
					be.Softmax(dst.view(), src.view(), ds.dim, log)
					checkLanes(t, name, dst, src, ds.dim, func(lane []float64) ([]float64, []float64) {
						want, scale := softmaxRef(lane, log)
						for i := range scale {
							scale[i] *= 1e-12 // float64 cancellation in x − ln Σ, not the dtype's rounding
						}
						return want, scale
					})
					checkUntouched(t, name, dst, before)
				}
			}
		}
	}
}

// checkLanes compares every lane of dst along dim with ref applied to the
// matching lane of src; ref returns the values and per-element atol.
func checkLanes(t *testing.T, name string, dst, src operand, dim int, ref func([]float64) ([]float64, []float64)) {
	t.Helper()
	forEachIndex(keepDim(src.l.Shape, dim), func(idx []int) {
		want, atol := ref(laneValues(src, idx, dim))
		got := laneValues(dst, idx, dim)
		for k := range want {
			if !near(got[k], want[k], rtolOf(dst.dt), atol[k]) {
				t.Errorf("%s: lane %v element %d: got %v, want %v", name, idx, k, got[k], want[k])
			}
		}
	})
}

// Softmax special lanes, with expected values worked out by hand, alone
// and as the rows of a matrix.
func TestSoftmaxSpecial(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	ln2 := math.Ln2
	cases := []struct {
		in, soft, logsoft []float64
	}{
		{[]float64{1000, 1000}, []float64{0.5, 0.5}, []float64{-ln2, -ln2}}, // no overflow
		{[]float64{1000, 0}, []float64{1, 0}, []float64{0, -1000}},
		{[]float64{-1000, -1000, -1000, -1000}, []float64{0.25, 0.25, 0.25, 0.25}, []float64{-2 * ln2, -2 * ln2, -2 * ln2, -2 * ln2}},
		{[]float64{0, -inf}, []float64{1, 0}, []float64{0, -inf}},
		{[]float64{-inf, -inf}, []float64{nan, nan}, []float64{nan, nan}}, // as torch
		{[]float64{nan, 1}, []float64{nan, nan}, []float64{nan, nan}},
		{[]float64{1, nan}, []float64{nan, nan}, []float64{nan, nan}},
		{[]float64{7}, []float64{1}, []float64{0}},
	}
	for _, dt := range []backend.DType{f32, f64} {
		for _, c := range cases {
			for _, log := range []bool{false, true} {
				want := c.soft
				if log {
					want = c.logsoft
				}
				// the lane alone, and as each of 3 rows of a matrix (lanes
				// back to back, as softmaxRows takes them)
				for _, rows := range []int{0, 3} {
					shape, at := []int{len(c.in)}, func(r, i int) []int { return []int{i} }
					if rows > 0 {
						shape, at = []int{rows, len(c.in)}, func(r, i int) []int { return []int{r, i} }
					}
					src := newOperand(t, dt, lkContig, shape, func() float64 { return 0 })
					for r := range max(rows, 1) {
						for i, x := range c.in {
							src.set(at(r, i), x)
						}
					}
					dst, _ := newOutput(t, dt, lkContig, shape, rand.New(rand.NewPCG(3, 3)))
					be.Softmax(dst.view(), src.view(), len(shape)-1, log)
					for r := range max(rows, 1) {
						for i := range want {
							if got := dst.at(at(r, i)); !near(got, want[i], rtolOf(dt), 0) {
								t.Errorf("%v log=%v %v rows %d: row %d element %d = %v, want %v", dt, log, c.in, rows, r, i, got, want[i])
							}
						}
					}
				}
			}
		}
	}
}

// ---------------------------------------------------------------- cumsum

func TestCumSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, dt := range []backend.DType{f32, f64, i64} {
		for _, ds := range laneSpecs {
			for _, lk := range laneLayouts {
				name := fmt.Sprintf("%v/%v dim %d/dst=%v,src=%v", dt, shapeName(ds.shape), ds.dim, lk[0], lk[1])
				src := newOperand(t, dt, lk[1], ds.shape, genFor(dt, rng, -3, 3))
				dst, before := newOutput(t, dt, lk[0], ds.shape, rng)
				be.CumSum(dst.view(), src.view(), ds.dim)
				checkLanes(t, name, dst, src, ds.dim, func(lane []float64) ([]float64, []float64) {
					want, atol := make([]float64, len(lane)), make([]float64, len(lane))
					s, m := 0.0, 0.0
					for i, x := range lane {
						s += x
						m += math.Abs(x)
						want[i], atol[i] = s, 1e-12*m // see checkReduce
					}
					return want, atol
				})
				checkUntouched(t, name, dst, before)
			}
		}
	}
}

// ---------------------------------------------------------------- indexing

// newIndex makes a 1-d (or any-shape) Int64 index operand holding vals in
// row-major order, laid out as k.
func newIndex(t *testing.T, k layoutKind, shape []int, vals []int) operand {
	t.Helper()
	o := newOperand(t, i64, k, shape, func() float64 { return -99 })
	i := 0
	forEachIndex(shape, func(idx []int) {
		o.set(idx, float64(vals[i]))
		i++
	})
	return o
}

func randInts(rng *rand.Rand, n, hi int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(hi)
	}
	return out
}

func withDim(sh []int, dim, n int) []int {
	out := append([]int{}, sh...)
	out[dim] = n
	return out
}

func moveGen(dt backend.DType, rng *rand.Rand) func() float64 {
	if dt.IsHalf() {
		return func() float64 { return float64(rng.IntN(2000)-1000) / 16 }
	}
	return genFor(dt, rng, -3, 3)
}

var indexSpecs = []dimSpec{
	{[]int{5}, 0}, {[]int{4, 3}, 0}, {[]int{4, 3}, 1}, {[]int{2, 3, 4}, 0}, {[]int{2, 3, 4}, 1},
	{[]int{2, 3, 4}, 2}, {[]int{2, 1, 3}, 1}, {[]int{0, 3}, 1}, {[]int{3, 0}, 0},
}

func TestIndexSelect(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	layouts := [][3]layoutKind{ // dst, src, index
		{lkContig, lkContig, lkContig}, {lkContig, lkTrans, lkStep}, {lkStep, lkStep, lkContig},
		{lkContig, lkBcast0, lkContig}, {lkTrans, lkBcastLast, lkStep},
	}
	for _, dt := range backend.DTypes() {
		for _, is := range indexSpecs {
			n := is.shape[is.dim]
			for _, k := range []int{0, 1, 5} {
				if n == 0 && k > 0 {
					continue
				}
				for _, lk := range layouts {
					name := fmt.Sprintf("%v/%v dim %d/%d indices/%v", dt, shapeName(is.shape), is.dim, k, lk)
					src := newOperand(t, dt, lk[1], is.shape, moveGen(dt, rng))
					ix := randInts(rng, k, max(n, 1))
					index := newIndex(t, lk[2], []int{k}, ix)
					osh := withDim(is.shape, is.dim, k)
					dst, before := newOutput(t, dt, lk[0], osh, rng)
					if err := be.IndexSelect(dst.view(), src.view(), is.dim, index.view()); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					forEachIndex(osh, func(idx []int) {
						j := append([]int{}, idx...)
						j[is.dim] = ix[idx[is.dim]]
						if got, want := dst.at(idx), src.at(j); !near(got, want, 0, 0) {
							t.Errorf("%s: at %v: got %v, want %v", name, idx, got, want)
						}
					})
					checkUntouched(t, name, dst, before)
				}
			}
		}
	}
}

func TestIndexAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	layouts := [][3]layoutKind{ // dst, src, index
		{lkContig, lkContig, lkContig}, {lkStep, lkTrans, lkStep}, {lkTrans, lkBcast0, lkContig},
		{lkContig, lkStep, lkContig}, {lkContig, lkBcastLast, lkStep},
	}
	for _, dt := range numericDTypes {
		for _, is := range indexSpecs {
			n := is.shape[is.dim]
			for _, k := range []int{0, 1, 7} {
				if n == 0 && k > 0 {
					continue
				}
				for _, lk := range layouts {
					name := fmt.Sprintf("%v/%v dim %d/%d indices/%v", dt, shapeName(is.shape), is.dim, k, lk)
					dst := newOperand(t, dt, lk[0], is.shape, genFor(dt, rng, -3, 3))
					dst0 := dst.snapshot()
					init := dst.values()
					ix := randInts(rng, k, max(n, 1)) // 7 > n: duplicates accumulate
					index := newIndex(t, lk[2], []int{k}, ix)
					ssh := withDim(is.shape, is.dim, k)
					src := newOperand(t, dt, lk[1], ssh, genFor(dt, rng, -3, 3))
					if err := be.IndexAdd(dst.view(), is.dim, index.view(), src.view()); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					want := append([]float64{}, init...)
					mag := make([]float64, len(want))
					for i, x := range init {
						mag[i] = math.Abs(x)
					}
					forEachIndex(ssh, func(idx []int) {
						j := append([]int{}, idx...)
						j[is.dim] = ix[idx[is.dim]]
						want[linear(is.shape, j)] += src.at(idx)
						mag[linear(is.shape, j)] += math.Abs(src.at(idx))
					})
					checkAccumulated(t, name, dt, dst, dst0, is.shape, want, mag)
				}
			}
		}
	}
}

// accumTol bounds, relative to Σ|terms|, the error of adding a few terms
// in the dtype's own arithmetic in any order: IndexAdd and ScatterAdd add
// into dst element by element, each addition rounding to the dtype, so a
// sum of at most 10 terms errs by at most 10·2⁻²⁴·Σ|terms| in float32
// (10·2⁻⁵³·Σ in float64); the bound sits just above that.
func accumTol(dt backend.DType) float64 {
	switch dt {
	case f32:
		return 1e-6
	case f64:
		return 1e-14
	}
	return 0
}

// gatherSpec is src's shape, index's shape (no larger than src's in dims
// other than dim) and dim.
type gatherSpec struct {
	src, index []int
	dim        int
}

var gatherSpecs = []gatherSpec{
	{[]int{6}, []int{4}, 0},
	{[]int{4, 5}, []int{3, 5}, 0},
	{[]int{4, 5}, []int{4, 7}, 1},
	{[]int{4, 5}, []int{2, 3}, 0},
	{[]int{4, 5}, []int{2, 3}, 1},
	{[]int{2, 3, 4}, []int{2, 2, 4}, 1},
	{[]int{2, 3, 4}, []int{1, 3, 6}, 2},
	{[]int{2, 3, 4}, []int{5, 2, 1}, 0},
	{[]int{3, 1}, []int{3, 4}, 1},
	{[]int{3, 4}, []int{0, 4}, 0},
}

func TestGather(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	layouts := [][3]layoutKind{ // dst, src, index
		{lkContig, lkContig, lkContig}, {lkContig, lkTrans, lkStep}, {lkStep, lkStep, lkTrans},
		{lkContig, lkBcast0, lkContig}, {lkTrans, lkBcastLast, lkBcast0},
	}
	for _, dt := range backend.DTypes() {
		for _, gs := range gatherSpecs {
			for _, lk := range layouts {
				name := fmt.Sprintf("%v/src %v index %v dim %d/%v", dt, gs.src, gs.index, gs.dim, lk)
				src := newOperand(t, dt, lk[1], gs.src, moveGen(dt, rng))
				ix := randInts(rng, numel(gs.index), gs.src[gs.dim])
				index := newIndex(t, lkContig, gs.index, ix)
				if lk[2] != lkContig {
					// relay the same index values through another layout
					other := newOperand(t, i64, lk[2], gs.index, func() float64 { return 0 })
					forEachIndex(gs.index, func(idx []int) { other.set(idx, index.at(idx)) })
					index = other
				}
				dst, before := newOutput(t, dt, lk[0], gs.index, rng)
				if err := be.Gather(dst.view(), src.view(), gs.dim, index.view()); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				forEachIndex(gs.index, func(idx []int) {
					j := append([]int{}, idx...)
					j[gs.dim] = int(index.at(idx))
					if got, want := dst.at(idx), src.at(j); !near(got, want, 0, 0) {
						t.Errorf("%s: at %v: got %v, want %v", name, idx, got, want)
					}
				})
				checkUntouched(t, name, dst, before)
			}
		}
	}
}

func TestScatterAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	type spec struct {
		dst, index, src []int
		dim             int
	}
	specs := []spec{
		{[]int{6}, []int{9}, []int{9}, 0},
		{[]int{4, 5}, []int{6, 5}, []int{6, 5}, 0},
		{[]int{4, 5}, []int{4, 8}, []int{5, 9}, 1},
		{[]int{4, 5}, []int{2, 3}, []int{3, 3}, 0},
		{[]int{2, 3, 4}, []int{2, 5, 4}, []int{2, 5, 4}, 1},
		{[]int{2, 3, 4}, []int{1, 3, 6}, []int{2, 3, 6}, 2},
		{[]int{3, 4}, []int{0, 4}, []int{2, 4}, 0},
	}
	layouts := [][3]layoutKind{ // dst, src, index
		{lkContig, lkContig, lkContig}, {lkStep, lkTrans, lkStep}, {lkTrans, lkBcast0, lkContig},
		{lkContig, lkStep, lkTrans},
	}
	for _, dt := range numericDTypes {
		for _, s := range specs {
			for _, lk := range layouts {
				name := fmt.Sprintf("%v/dst %v index %v src %v dim %d/%v", dt, s.dst, s.index, s.src, s.dim, lk)
				dst := newOperand(t, dt, lk[0], s.dst, genFor(dt, rng, -3, 3))
				dst0 := dst.snapshot()
				want := dst.values()
				mag := make([]float64, len(want))
				for i, x := range want {
					mag[i] = math.Abs(x)
				}
				src := newOperand(t, dt, lk[1], s.src, genFor(dt, rng, -3, 3))
				index := newOperand(t, i64, lk[2], s.index, func() float64 { return 0 })
				forEachIndex(s.index, func(idx []int) { index.set(idx, float64(rng.IntN(s.dst[s.dim]))) })
				if err := be.ScatterAdd(dst.view(), s.dim, index.view(), src.view()); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				forEachIndex(s.index, func(idx []int) {
					j := append([]int{}, idx...)
					j[s.dim] = int(index.at(idx))
					want[linear(s.dst, j)] += src.at(idx)
					mag[linear(s.dst, j)] += math.Abs(src.at(idx))
				})
				checkAccumulated(t, name, dt, dst, dst0, s.dst, want, mag)
			}
		}
	}
}

// An index out of range (negative or ≥ the dim's size) is an error
// wrapping backend.ErrIndex from every indexing kernel, never a panic.
func TestIndexOutOfRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, bad := range []int{-1, 4, 1000} {
		src := newOperand(t, f32, lkContig, []int{4, 3}, genFor(f32, rng, -1, 1))
		index := newIndex(t, lkContig, []int{3}, []int{0, bad, 2})
		dst, _ := newOutput(t, f32, lkContig, []int{3, 3}, rng)
		if err := be.IndexSelect(dst.view(), src.view(), 0, index.view()); !errors.Is(err, backend.ErrIndex) {
			t.Errorf("IndexSelect with index %d: err = %v, want ErrIndex", bad, err)
		}
		add := newOperand(t, f32, lkContig, []int{3, 3}, genFor(f32, rng, -1, 1))
		if err := be.IndexAdd(src.view(), 0, index.view(), add.view()); !errors.Is(err, backend.ErrIndex) {
			t.Errorf("IndexAdd with index %d: err = %v, want ErrIndex", bad, err)
		}
		gi := newIndex(t, lkContig, []int{2, 3}, []int{0, 1, 2, 3, bad, 0})
		gd, _ := newOutput(t, f32, lkContig, []int{2, 3}, rng)
		if err := be.Gather(gd.view(), src.view(), 0, gi.view()); !errors.Is(err, backend.ErrIndex) {
			t.Errorf("Gather with index %d: err = %v, want ErrIndex", bad, err)
		}
		ss := newOperand(t, f32, lkContig, []int{2, 3}, genFor(f32, rng, -1, 1))
		if err := be.ScatterAdd(src.view(), 0, gi.view(), ss.view()); !errors.Is(err, backend.ErrIndex) {
			t.Errorf("ScatterAdd with index %d: err = %v, want ErrIndex", bad, err)
		}
	}
}

// checkAccumulated compares an IndexAdd/ScatterAdd destination with the
// reference sums want (mag: the sum of the magnitudes added at each
// place, which bounds float rounding; integers wrap to the dtype) and
// checks nothing outside dst's layout was written.
func checkAccumulated(t *testing.T, name string, dt backend.DType, dst operand, before []uint64, shape []int, want, mag []float64) {
	t.Helper()
	forEachIndex(shape, func(idx []int) {
		k := linear(shape, idx)
		w := want[k]
		if !dt.IsFloat() {
			w = wrapped(dt, int64(w))
		}
		if got := dst.at(idx); !near(got, w, rtolOf(dt), accumTol(dt)*mag[k]) {
			t.Errorf("%s: at %v: got %v, want %v", name, idx, got, w)
		}
	})
	checkUntouched(t, name, dst, before)
}
