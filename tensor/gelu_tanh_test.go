package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// GELU's tanh form in float64, written from its definition for the tests:
// ½·x·(1 + tanh u), u = β·(x + κ·x³), β = √(2/π), κ = 0.044715.
const (
	gtBeta  = 0.7978845608028654
	gtKappa = 0.044715
)

func gtSigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

// gtRef is ½·x·(1 + tanh u) evaluated as x·σ(2u), the same value without
// the cancellation of 1 + tanh u for x < 0 (TestGELUTanhRef checks the
// two forms agree where the first is well conditioned), and its
// derivative's two terms σ(2u) and x·σ(2u)·σ(−2u)·2u′, whose sum is the
// derivative and whose size scales its rounding errors.
func gtRef(x float64) (y, a, b float64) {
	v := 2 * gtBeta * (x + gtKappa*x*x*x)
	dv := 2 * gtBeta * (1 + 3*gtKappa*x*x)
	s := gtSigmoid(v)
	return x * s, s, x * s * gtSigmoid(-v) * dv
}

func TestGELUTanhRef(t *testing.T) {
	for x := -4.0; x <= 6; x += 1.0 / 64 {
		lit := 0.5 * x * (1 + math.Tanh(gtBeta*(x+gtKappa*x*x*x)))
		y, _, _ := gtRef(x)
		if math.Abs(lit-y) > 1e-9*math.Abs(y)+1e-15 {
			t.Fatalf("x=%v: σ form %v, tanh form %v", x, y, lit)
		}
	}
}

// gtComposed is GELU's tanh form composed of elementwise ops in torch's
// order, 0.5·x·(1 + tanh(β·(x + κ·x³))): what F.GELU(x, "tanh") was
// before the one-pass op, and the oracle of its forward.
func gtComposed(x *tensor.Tensor) *tensor.Tensor {
	inner := x.Add(x.Mul(x).Mul(x).MulScalar(gtKappa)).MulScalar(gtBeta)
	return x.Mul(inner.Tanh().AddScalar(1)).MulScalar(0.5)
}

// gtInputs are n values, mostly N(0, 3), with zeros, large magnitudes on
// both sides and the non-finite values mixed in.
func gtInputs(rng *rand.Rand, n int) []float64 {
	specials := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), -10, -30, 30, -70, 80, 1e6, -1e6}
	xs := make([]float64, n)
	for i := range xs {
		if rng.IntN(8) == 0 {
			xs[i] = specials[rng.IntN(len(specials))]
		} else {
			xs[i] = rng.NormFloat64() * 3
		}
	}
	return xs
}

// TestGELUTanh holds GELUTanh forward and backward (the one-pass kernel,
// and the composed rule with it switched off) to the float64 definition
// and to the composed ops, over odd sizes, empty and size-1 dims,
// transposed and broadcast inputs, a transposed incoming gradient, and
// non-finite and large inputs, in float32 and float64.
//
// Tolerances, with ε = 2⁻²⁴ (float32) or 2⁻⁵³: the op against the
// definition 4ε·|y| (its documented bound is 3 ulp) plus a denormal's
// ulp, in float64 times 1 + |v| (v = 2u and e^v in plain float64, both
// there and in the definition; so too the gradient's); the composed forward's 1 + tanh u has an absolute error of about
// ε, so op and composition agree within 4ε·(|y| + |x|). The one-pass
// gradient is within 8ε·|g|·(|a| + |b|) of g·(a + b), a and b the
// derivative's two terms (6ε is the kernel's bound); the composed rule,
// torch's gelu_backward, loses 1 + t and 1 − t² to cancellation for
// x < 0, an error of a few ε times (1 + |x·v′|): 8ε·|g|·(1 + |x·v′|).
func TestGELUTanh(t *testing.T) {
	for _, sh := range [][]int{{0}, {1}, {7}, {33}, {3, 5}, {1, 9}, {5, 1}, {2, 0, 3}, {17, 31}, {4, 3, 70}} {
		for _, in := range []string{"plain", "transposed", "expanded"} {
			for _, gradT := range []bool{false, true} {
				for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
					if len(sh) < 2 && (in != "plain" || gradT) {
						continue
					}
					t.Run(fmt.Sprintf("%v/%s/gradT=%v/%v", sh, in, gradT, dt), func(t *testing.T) {
						testGELUTanh(t, sh, in, gradT, dt)
					})
				}
			}
		}
	}
}

func testGELUTanh(t *testing.T, shape []int, input string, gradT bool, dt tensor.DType) {
	rng := rand.New(rand.NewPCG(5, uint64(len(shape)*10+len(input))))
	r := len(shape)
	swapped := func() []int {
		s := append([]int(nil), shape...)
		s[r-1], s[r-2] = s[r-2], s[r-1]
		return s
	}
	numel := func(s []int) int {
		n := 1
		for _, d := range s {
			n *= d
		}
		return n
	}
	leafShape := shape
	switch input {
	case "transposed":
		leafShape = swapped()
	case "expanded":
		leafShape = append([]int(nil), shape...)
		leafShape[r-2] = 1
	}
	leaf := tensor.FromSlice(gtInputs(rng, numel(leafShape)), leafShape...).To(dt)
	gvals := make([]float64, numel(shape))
	for i := range gvals {
		gvals[i] = rng.NormFloat64()
	}
	g := tensor.FromSlice(gvals, shape...).To(dt)
	if gradT {
		g = g.Reshape(swapped()...).Contiguous().Transpose(-1, -2)
	}
	gBefore := fmt.Sprint(g.Float64s())
	eps := 0x1p-53
	if dt == tensor.Float32 {
		eps = 0x1p-24
	}
	var x *tensor.Tensor
	run := func(fused bool) []float64 {
		old := tensor.SetActivationBackwardFused(fused)
		defer tensor.SetActivationBackwardFused(old)
		l := leaf.Detach().SetRequiresGrad(true)
		switch input {
		case "plain":
			x = l.MulScalar(1)
		case "transposed":
			x = l.Transpose(-1, -2)
		case "expanded":
			x = l.Expand(shape...)
		}
		out := x.GELUTanh()
		if fused {
			// the forward against the definition and the composition
			ys, cs, xs := out.Float64s(), gtComposed(x.Detach()).Float64s(), x.Float64s()
			for i, y := range ys {
				want, _, _ := gtRef(xs[i])
				if math.IsInf(xs[i], -1) {
					want = math.NaN() // torch's −Inf·0
				}
				tol := 4*eps*math.Abs(want) + 0x1p-149
				if dt == tensor.Float64 {
					// v = 2u and e^v in plain float64, here and in the
					// definition: v's rounding is |v|·ε of e^v
					tol *= 1 + math.Abs(2*gtBeta*(xs[i]+gtKappa*xs[i]*xs[i]*xs[i]))
				}
				if !near(y, want, tol) {
					t.Fatalf("element %d: gelu_tanh(%v) = %v, want %v", i, xs[i], y, want)
				}
				if !near(y, cs[i], 4*eps*(math.Abs(y)+math.Abs(xs[i]))) {
					t.Fatalf("element %d: gelu_tanh(%v) = %v, composed %v", i, xs[i], y, cs[i])
				}
			}
		}
		gx := autograd.Grad([]*tensor.Tensor{out}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{})
		if fmt.Sprint(g.Float64s()) != gBefore {
			t.Fatalf("backward changed the caller's gradient")
		}
		got, xs, gs := gx[0].Float64s(), x.Float64s(), g.Float64s()
		for i := range got {
			xi := xs[i]
			_, a, b := gtRef(xi)
			want := gs[i] * (a + b)
			// and below float32's range, a denormal's ulp
			tol := 8*eps*math.Abs(gs[i])*(math.Abs(a)+math.Abs(b)) + (1+math.Abs(gs[i]))*0x1p-149
			if dt == tensor.Float64 {
				tol *= 1 + math.Abs(2*gtBeta*(xi+gtKappa*xi*xi*xi))
			}
			if !fused {
				w := xi * 2 * gtBeta * (1 + 3*gtKappa*xi*xi)
				tol = 8 * eps * math.Abs(gs[i]) * (1 + math.Abs(w))
			}
			switch {
			case math.IsInf(xi, 0) || math.IsNaN(xi):
				want = math.NaN() // torch's Inf·0
			case dt == tensor.Float32 && !fused && math.Abs(xi) > 1e12:
				want = math.NaN() // x³ overflows float32 in the composition: torch's NaN
			}
			if !near(got[i], want, tol) {
				t.Fatalf("fused=%v: gradient element %d at x=%v g=%v is %v, want %v ± %.3g", fused, i, xi, gs[i], got[i], want, tol)
			}
		}
		return got
	}
	a, b := run(true), run(false)
	if len(a) != len(b) {
		t.Fatalf("fused gradient has %d elements, composed %d", len(a), len(b))
	}
}

// near reports whether got is within tol of want, NaN matching NaN and
// an infinite want met exactly.
func near(got, want, tol float64) bool {
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		return math.IsNaN(want) && math.IsNaN(got)
	case math.IsInf(want, 0):
		return got == want
	}
	return math.Abs(got-want) <= tol
}

// TestGELUTanhSecond checks the second derivative of GELUTanh (the
// recorded pass takes the composed rule) against central differences of
// the float64 first derivative, and that a recorded backward agrees with
// the one-pass one.
func TestGELUTanhSecond(t *testing.T) {
	xs := []float64{-5, -2.5, -0.75, -0.1, 0, 0.3, 1, 2.2, 4}
	x := tensor.FromSlice(xs).SetRequiresGrad(true)
	y := x.GELUTanh()
	g1 := autograd.Grad([]*tensor.Tensor{y.Sum()}, []*tensor.Tensor{x}, nil, autograd.GradOptions{CreateGraph: true})[0]
	plain := autograd.Grad([]*tensor.Tensor{x.GELUTanh().Sum()}, []*tensor.Tensor{x}, nil, autograd.GradOptions{})[0]
	g2 := autograd.Grad([]*tensor.Tensor{g1.Sum()}, []*tensor.Tensor{x}, nil, autograd.GradOptions{})[0]
	d1 := func(x float64) float64 { _, a, b := gtRef(x); return a + b }
	for i, xi := range xs {
		if !near(g1.Float64s()[i], d1(xi), 1e-14) || !near(plain.Float64s()[i], d1(xi), 1e-14) {
			t.Errorf("x=%v: recorded f′ %v, one-pass %v, want %v", xi, g1.Float64s()[i], plain.Float64s()[i], d1(xi))
		}
		h := 1e-5
		want := (d1(xi+h) - d1(xi-h)) / (2 * h)
		if !near(g2.Float64s()[i], want, 1e-8) {
			t.Errorf("x=%v: f″ = %v, central difference %v", xi, g2.Float64s()[i], want)
		}
	}
}
