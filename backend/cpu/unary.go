package cpu

import (
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// Unary implements backend.Backend.
func (*CPU) Unary(op backend.UnaryOp, dst, src backend.View, p backend.Scalars) {
	if dst.Numel() == 0 { // an empty view's offset may lie past its buffer's end
		return
	}
	switch src.DType() {
	case backend.Float32:
		unaryFloat[float32](op, dst, src, p)
	case backend.Float64:
		unaryFloat[float64](op, dst, src, p)
	case backend.Int64:
		unaryInt[int64](op, dst, src, p)
	case backend.Int32:
		unaryInt[int32](op, dst, src, p)
	case backend.Uint8:
		unaryInt[uint8](op, dst, src, p)
	default:
		panic(badDType("unary "+op.String(), src.DType()))
	}
}

// unaryRun walks dst and src together, handing each innermost run to fn
// with its offsets and strides.
func unaryRun[T any](dst, src backend.View, fn func(d []T, o, ds int, s []T, q, ss, n int)) {
	it := newIter(dst.Shape, dst.Layout, src.Layout)
	_, st := it.inner()
	eachR(&it, grain/8, unRun[T]{fn: fn, d: slice[T](dst.Storage), s: slice[T](src.Storage), ds: st[0], ss: st[1]})
}

// unRun is unaryRun's loop body.
type unRun[T any] struct {
	fn     func(d []T, o, ds int, s []T, q, ss, n int)
	d, s   []T
	ds, ss int
}

func (r unRun[T]) run(off [maxOps]int, n int) { r.fn(r.d, off[0], r.ds, r.s, off[1], r.ss, n) }

func unaryFloat[T float](op backend.UnaryOp, dst, src backend.View, p backend.Scalars) {
	if !vecOff {
		// contiguous runs go to the kernels of vec.go; runs strided in
		// src to them too, through gathered tiles (strided.go)
		k, a, b, ok := vecUnaryOf(op, p)
		if ok && (unaryVec(k, dst, src, T(a), T(b)) || unaryStrided(k, dst, src, T(a), T(b), !typedFloatLoop(op))) {
			return
		}
		// the ops without a kernel: typed loops over segments (unary_typed.go)
		if !ok && unarySegs(floatUnSeg[T]{op: op, f: floatFunc(op, p)}, floatUnChunk(op), dst, src) {
			return
		}
	}
	a, b := T(p.A), T(p.B)
	switch op {
	case backend.Neg:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = -s[q]
			}
		})
	case backend.Square:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = s[q] * s[q]
			}
		})
	case backend.ReLU:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				x := s[q]
				if x < 0 {
					x = 0
				}
				d[o] = x
			}
		})
	case backend.AddScalar:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = s[q] + a
			}
		})
	case backend.MulScalar:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = s[q] * a
			}
		})
	case backend.RSubScalar:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = a - s[q]
			}
		})
	case backend.DivScalar:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = s[q] / a
			}
		})
	case backend.Sign:
		// contiguous runs take vuSign above; this is the strided loop
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = signOf(s[q])
			}
		})
	case backend.Clamp:
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				x := s[q]
				if x < a {
					x = a
				}
				if x > b {
					x = b
				}
				d[o] = x
			}
		})
	default:
		f := floatFunc(op, p)
		unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
			for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
				d[o] = T(f(float64(s[q])))
			}
		})
	}
}

// typedFloatLoop reports whether unaryFloat's switch below has a loop of
// its own for op (the other ops call floatFunc's function per element).
func typedFloatLoop(op backend.UnaryOp) bool {
	switch op {
	case backend.Neg, backend.Square, backend.ReLU, backend.AddScalar, backend.MulScalar,
		backend.RSubScalar, backend.DivScalar, backend.Sign, backend.Clamp:
		return true
	}
	return false
}

// signOf is −1, 0 or 1 by the sign of x; ±0 and NaN give themselves
// (x·0). The comparisons compile to flag moves, and the one branch is
// taken only for zeros and NaNs.
func signOf[T float](x T) T {
	r := T(b2u(x > 0)) - T(b2u(x < 0))
	if r == 0 {
		return x * 0
	}
	return r
}

// floatFunc returns op as a float64 function; float32 kernels call it and
// round, so their results are correctly rounded wherever Go's math is.
func floatFunc(op backend.UnaryOp, p backend.Scalars) func(float64) float64 {
	switch op {
	case backend.Abs:
		return math.Abs
	case backend.Sign:
		return func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x * 0 // ±0 → 0 with its sign, NaN → NaN
		}
	case backend.Exp:
		return math.Exp
	case backend.Log:
		return math.Log
	case backend.Log1p:
		return math.Log1p
	case backend.Sqrt:
		return math.Sqrt
	case backend.Rsqrt:
		return func(x float64) float64 { return 1 / math.Sqrt(x) }
	case backend.Reciprocal:
		return func(x float64) float64 { return 1 / x }
	case backend.Sin:
		return math.Sin
	case backend.Cos:
		return math.Cos
	case backend.Tanh:
		return math.Tanh
	case backend.Sigmoid:
		return sigmoid
	case backend.GELU:
		return func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	case backend.SiLU:
		return func(x float64) float64 { return x * sigmoid(x) }
	case backend.Softplus:
		return func(x float64) float64 { return softplus64(x, p.A, p.B) }
	case backend.Erf:
		return math.Erf
	case backend.Floor:
		return math.Floor
	case backend.Ceil:
		return math.Ceil
	case backend.Round:
		return math.RoundToEven
	case backend.RDivScalar:
		return func(x float64) float64 { return p.A / x }
	case backend.PowScalar:
		e := p.A
		switch e {
		case 2:
			return func(x float64) float64 { return x * x }
		case 0.5:
			return math.Sqrt
		case -1:
			return func(x float64) float64 { return 1 / x }
		}
		return func(x float64) float64 { return math.Pow(x, e) }
	case backend.LeakyReLU:
		return func(x float64) float64 {
			if x > 0 {
				return x
			}
			return p.A * x
		}
	case backend.Hardsigmoid:
		return func(x float64) float64 { return hardClamp(x) / 6 }
	case backend.Hardswish:
		return func(x float64) float64 { return x * hardClamp(x) / 6 }
	case backend.ELU:
		return func(x float64) float64 { return elu64(x, p.A, p.B) }
	case backend.GELUTanh:
		return geluTanh64
	}
	panic("cpu: unary: unknown float op " + op.String())
}

// softplus64 is torch's softplus: x where β·x > threshold, else
// ln(1 + e^{β·x})/β.
func softplus64(x, beta, threshold float64) float64 {
	if x*beta > threshold {
		return x
	}
	return math.Log1p(math.Exp(x*beta)) / beta
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func unaryInt[T integer](op backend.UnaryOp, dst, src backend.View, p backend.Scalars) {
	// arithmetic scalars wrap as the integer type does (uint8 − 3 wraps,
	// as in torch); Clamp's bounds saturate to the type's range
	a, b := T(int64(p.A)), T(int64(p.B))
	if op == backend.Clamp {
		a, b = saturate[T](p.A), saturate[T](p.B)
	}
	if !vecOff && intUnaryOK(op) && unarySegs(intUnSeg[T]{op: op, a: a, b: b}, grain, dst, src) {
		return
	}
	var f func(x T) T
	switch op {
	case backend.Neg:
		f = func(x T) T { return -x }
	case backend.Abs:
		f = func(x T) T {
			if x < 0 {
				return -x
			}
			return x
		}
	case backend.Sign:
		f = func(x T) T {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return ^T(0) // -1 (uint8 has no negatives, so x < 0 never holds)
			}
			return 0
		}
	case backend.Square:
		f = func(x T) T { return x * x }
	case backend.ReLU:
		f = func(x T) T {
			if x < 0 {
				return 0
			}
			return x
		}
	case backend.AddScalar:
		f = func(x T) T { return x + a }
	case backend.MulScalar:
		f = func(x T) T { return x * a }
	case backend.RSubScalar:
		f = func(x T) T { return a - x }
	case backend.Clamp:
		f = func(x T) T {
			if x < a {
				x = a
			}
			if x > b {
				x = b
			}
			return x
		}
	default:
		panic("cpu: unary " + op.String() + " on an integer tensor")
	}
	unaryRun(dst, src, func(d []T, o, ds int, s []T, q, ss, n int) {
		for i := 0; i < n; i, o, q = i+1, o+ds, q+ss {
			d[o] = f(s[q])
		}
	})
}

// saturate converts v to T, clamping it to T's range (a Clamp bound of −2
// on uint8 means 0, not 254).
func saturate[T integer](v float64) T {
	var lo, hi float64
	var z T
	switch any(z).(type) {
	case uint8:
		lo, hi = 0, math.MaxUint8
	case int32:
		lo, hi = math.MinInt32, math.MaxInt32
	default:
		lo, hi = math.MinInt64, math.MaxInt64
	}
	switch {
	case v != v:
		return 0
	case v <= lo:
		return T(int64(lo))
	case v >= hi:
		top := int64(math.MaxInt64) // float64(MaxInt64) is 2⁶³, out of int64's range
		if hi < math.MaxInt64 {
			top = int64(hi)
		}
		return T(top)
	}
	return T(int64(v))
}
