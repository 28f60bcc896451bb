package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// gradRef is torch's hardsigmoid_backward or hardswish_backward of g at
// the input x, or its sigmoid_backward or tanh_backward of g at the
// output y, as written there, in float64 (f32: in float32, each step
// rounded, as torch computes float32 tensors).
func gradRef(op string, x, y, g float64, f32 bool) float64 {
	switch {
	case op == "sigmoid" && f32:
		y32, g32 := float32(y), float32(g)
		d := g32 * (1 - y32)
		return float64(d * y32)
	case op == "sigmoid":
		return g * (1 - y) * y
	case op == "tanh" && f32:
		y32, g32 := float32(y), float32(g)
		y2 := y32 * y32
		return float64(g32 * (1 - y2))
	case op == "tanh":
		y2 := y * y
		return g * (1 - y2)
	}
	if f32 {
		x32, g32 := float32(x), float32(g)
		if op == "hardswish" && x32 >= -3 && x32 <= 3 {
			h := x32 / 3
			h += 0.5
			return float64(g32 * h)
		}
		if op == "hardsigmoid" && x32 > -3 && x32 < 3 {
			return float64(g32 / 6)
		}
	}
	if op == "hardsigmoid" {
		if x > -3 && x < 3 {
			return g / 6
		}
		return 0
	}
	switch {
	case x < -3:
		return 0
	case x <= 3:
		return g * (x/3 + 0.5)
	}
	return g
}

// hardInputs are n values, one in eight of them a kink, a value next to
// one, or a non-finite value.
func hardInputs(rng *rand.Rand, n int) []float64 {
	specials := []float64{-3, 3, 0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1),
		float64(math.Nextafter32(-3, 0)), float64(math.Nextafter32(3, 4))}
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

// TestActivationBackwardFused holds the one-pass backward of Hardsigmoid,
// Hardswish, Sigmoid and Tanh to torch's formulas and to the composed rule,
// bit for bit, over odd sizes, empty and size-1 dims, transposed and
// broadcast inputs, a transposed incoming gradient, kinks and non-finite
// inputs, in float32 and float64.
func TestActivationBackwardFused(t *testing.T) {
	ops := map[string]func(*tensor.Tensor) *tensor.Tensor{
		"hardsigmoid": (*tensor.Tensor).Hardsigmoid,
		"hardswish":   (*tensor.Tensor).Hardswish,
		"sigmoid":     (*tensor.Tensor).Sigmoid,
		"tanh":        (*tensor.Tensor).Tanh,
	}
	for _, name := range []string{"hardsigmoid", "hardswish", "sigmoid", "tanh"} {
		for _, sh := range [][]int{{0}, {1}, {7}, {33}, {3, 5}, {1, 9}, {5, 1}, {2, 0, 3}, {17, 31}, {4, 3, 70}} {
			for _, in := range []string{"plain", "transposed", "expanded"} {
				for _, gradT := range []bool{false, true} {
					for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
						if len(sh) < 2 && (in != "plain" || gradT) {
							continue
						}
						t.Run(fmt.Sprintf("%s/%v/%s/gradT=%v/%v", name, sh, in, gradT, dt), func(t *testing.T) {
							testActivationBackward(t, ops[name], name, sh, in, gradT, dt)
						})
					}
				}
			}
		}
	}
}

func testActivationBackward(t *testing.T, f func(*tensor.Tensor) *tensor.Tensor, name string, shape []int, input string, gradT bool, dt tensor.DType) {
	rng := rand.New(rand.NewPCG(3, uint64(len(shape))))
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
	var leafShape []int
	switch input {
	case "plain":
		leafShape = shape
	case "transposed":
		leafShape = swapped()
	case "expanded":
		leafShape = append([]int(nil), shape...)
		leafShape[r-2] = 1
	}
	leaf := tensor.FromSlice(hardInputs(rng, numel(leafShape)), leafShape...).To(dt)
	var g *tensor.Tensor
	if gradT {
		g = tensor.FromSlice(hardInputs(rng, numel(shape)), swapped()...).To(dt).Transpose(-1, -2)
	} else {
		g = tensor.FromSlice(hardInputs(rng, numel(shape)), shape...).To(dt)
	}
	gBefore := g.Float64s()
	run := func(fused bool) []float64 {
		old := tensor.SetActivationBackwardFused(fused)
		defer tensor.SetActivationBackwardFused(old)
		l := leaf.Detach().SetRequiresGrad(true)
		var x *tensor.Tensor
		switch input {
		case "plain":
			x = l.MulScalar(1)
		case "transposed":
			x = l.Transpose(-1, -2)
		case "expanded":
			x = l.Expand(shape...)
		}
		out := f(x)
		gx := autograd.Grad([]*tensor.Tensor{out}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{})
		if fmt.Sprint(g.Float64s()) != fmt.Sprint(gBefore) {
			t.Fatalf("backward changed the caller's gradient")
		}
		got, xs, ys := gx[0].Float64s(), x.Float64s(), out.Float64s()
		for i := range got {
			want := gradRef(name, xs[i], ys[i], gBefore[i], dt == tensor.Float32)
			if got[i] != want && !(math.IsNaN(got[i]) && math.IsNaN(want)) {
				t.Fatalf("fused=%v: gradient element %d at x=%v g=%v is %v, want %v", fused, i, xs[i], gBefore[i], got[i], want)
			}
		}
		return got
	}
	a, b := run(true), run(false)
	if i, ok := sameFloats(a, b); !ok {
		t.Fatalf("element %d: fused %v, composed %v", i, a[i], b[i])
	}
}

// TestActivationBackwardTorch pins the gradients at the kinks to torch
// 1.13's:
//
//	x = torch.tensor([-3., 3., -0., -3.0001, 3.0001], requires_grad=True)
//	F.hardswish(x).sum().backward()    # x.grad: [-0.5, 1.5, 0.5, 0, 1]
//	F.hardsigmoid(x).sum().backward()  # x.grad: [0, 0, 1/6, 0, 0]
func TestActivationBackwardTorch(t *testing.T) {
	xs := []float64{-3, 3, math.Copysign(0, -1), -3.0001, 3.0001}
	want := map[string][]float64{
		"hardswish":   {-0.5, 1.5, 0.5, 0, 1},
		"hardsigmoid": {0, 0, 1.0 / 6, 0, 0},
	}
	for _, fused := range []bool{true, false} {
		old := tensor.SetActivationBackwardFused(fused)
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			for name, f := range map[string]func(*tensor.Tensor) *tensor.Tensor{
				"hardswish": (*tensor.Tensor).Hardswish, "hardsigmoid": (*tensor.Tensor).Hardsigmoid,
			} {
				x := tensor.FromSlice(xs).To(dt).SetRequiresGrad(true)
				f(x).Sum().Backward()
				got := x.Grad().Float64s()
				for i := range got {
					if math.Abs(got[i]-want[name][i]) > 1e-7 {
						t.Errorf("fused=%v %v %s: gradient %v, torch gives %v", fused, dt, name, got, want[name])
						break
					}
				}
			}
		}
		tensor.SetActivationBackwardFused(old)
	}
}

// TestSmoothActivationBackwardFused holds the one-pass backward of GELU,
// SiLU, LeakyReLU and ELU (a kernel of the derivative, times g) to their
// derivatives in float64, and to the composed rules, over the layouts of
// TestActivationBackwardFused; float32 within a few units of its epsilon
// of the terms' size.
func TestSmoothActivationBackwardFused(t *testing.T) {
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	ops := []struct {
		name  string
		f     func(*tensor.Tensor) *tensor.Tensor
		deriv func(x float64) float64
	}{
		{"gelu", (*tensor.Tensor).GELU, func(x float64) float64 {
			return math.Erfc(-x/math.Sqrt2)/2 + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
		}},
		{"silu", (*tensor.Tensor).SiLU, func(x float64) float64 { return sig(x) * (1 + x*(1-sig(x))) }},
		{"leaky_relu", func(x *tensor.Tensor) *tensor.Tensor { return x.LeakyReLU(0.2) }, func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return 0.2
		}},
		{"elu", func(x *tensor.Tensor) *tensor.Tensor { return x.ELU(0.7, 1.3) }, func(x float64) float64 {
			if x > 0 {
				return 1.3
			}
			return 0.7 * 1.3 * math.Exp(x)
		}},
	}
	for _, op := range ops {
		for _, sh := range [][]int{{0}, {1}, {33}, {3, 5}, {5, 1}, {2, 0, 3}, {17, 31}, {4, 3, 700}} {
			for _, in := range []string{"plain", "transposed", "expanded"} {
				for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
					if len(sh) < 2 && in != "plain" {
						continue
					}
					t.Run(fmt.Sprintf("%s/%v/%s/%v", op.name, sh, in, dt), func(t *testing.T) {
						r := len(sh)
						leafShape := append([]int(nil), sh...)
						switch in {
						case "transposed":
							leafShape[r-1], leafShape[r-2] = leafShape[r-2], leafShape[r-1]
						case "expanded":
							leafShape[r-2] = 1
						}
						gen := tensor.NewGenerator(11)
						leaf := gen.Normal(dt, 0, 3, leafShape...)
						g := gen.Normal(dt, 0, 1, sh...)
						run := func(fused bool) []float64 {
							old := tensor.SetActivationBackwardFused(fused)
							defer tensor.SetActivationBackwardFused(old)
							l := leaf.Detach().SetRequiresGrad(true)
							var x *tensor.Tensor
							switch in {
							case "plain":
								x = l.MulScalar(1)
							case "transposed":
								x = l.Transpose(-1, -2)
							case "expanded":
								x = l.Expand(sh...)
							}
							gx := autograd.Grad([]*tensor.Tensor{op.f(x)}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{})
							got, xs, gs := gx[0].Float64s(), x.Float64s(), g.Float64s()
							eps := 0x1p-52
							if dt == tensor.Float32 {
								eps = 0x1p-24
							}
							for i := range got {
								want := gs[i] * op.deriv(xs[i])
								tol := 8 * eps * math.Abs(gs[i]) * (1 + math.Abs(xs[i]))
								if !(math.Abs(got[i]-want) <= tol) {
									t.Fatalf("fused=%v: element %d at x=%v g=%v is %v, want %v ± %.3g", fused, i, xs[i], gs[i], got[i], want, tol)
								}
							}
							return got
						}
						run(true)
						run(false)
					})
				}
			}
		}
	}
}
