package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// reluGradRef is ReLU's gradient in float64 as torch computes it
// (threshold_backward, a select): 0 where y ≤ 0 whatever g is, else g (a
// NaN y passes g).
func reluGradRef(y, g []float64) []float64 {
	out := make([]float64, len(y))
	for i := range y {
		if !(y[i] <= 0) {
			out[i] = g[i]
		}
	}
	return out
}

// TestReLUBackwardFused holds ReLU's one-pass backward to a float64
// reference and to the composed rule, over odd sizes, empty and size-1
// dims, strided and broadcast inputs and a strided incoming gradient, in
// float32 and float64.
func TestReLUBackwardFused(t *testing.T) {
	type tc struct {
		shape []int
		input string // "plain", "transposed", "expanded"
		gradT bool   // the incoming gradient is a transposed view
		dt    tensor.DType
	}
	var cases []tc
	for _, sh := range [][]int{{0}, {1}, {7}, {33}, {3, 5}, {1, 9}, {5, 1}, {2, 0, 3}, {17, 31}, {4, 3, 70}} {
		for _, in := range []string{"plain", "transposed", "expanded"} {
			for _, gt := range []bool{false, true} {
				for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
					if len(sh) < 2 && (in != "plain" || gt) {
						continue
					}
					cases = append(cases, tc{sh, in, gt, dt})
				}
			}
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%s/gradT=%v/%v", c.shape, c.input, c.gradT, c.dt), func(t *testing.T) {
			gen := tensor.NewGenerator(5)
			r := len(c.shape)
			var leaf, x *tensor.Tensor
			switch c.input {
			case "plain":
				leaf = gen.Normal(c.dt, 0, 1, c.shape...)
			case "transposed":
				sh := append([]int(nil), c.shape...)
				sh[r-1], sh[r-2] = sh[r-2], sh[r-1]
				leaf = gen.Normal(c.dt, 0, 1, sh...)
			case "expanded":
				sh := append([]int(nil), c.shape...)
				sh[r-2] = 1
				leaf = gen.Normal(c.dt, 0, 1, sh...)
			}
			run := func(fused bool) (grad, y []float64) {
				old := tensor.SetReLUBackwardFused(fused)
				defer tensor.SetReLUBackwardFused(old)
				l := leaf.Detach().SetRequiresGrad(true)
				switch c.input {
				case "plain":
					x = l.MulScalar(1)
				case "transposed":
					x = l.Transpose(-1, -2)
				case "expanded":
					x = l.Expand(c.shape...)
				}
				out := x.ReLU()
				var g *tensor.Tensor
				if c.gradT {
					sh := append([]int(nil), c.shape...)
					sh[r-1], sh[r-2] = sh[r-2], sh[r-1]
					g = tensor.NewGenerator(9).Normal(c.dt, 0, 1, sh...).Transpose(-1, -2)
				} else {
					g = tensor.NewGenerator(9).Normal(c.dt, 0, 1, c.shape...)
				}
				gBefore := g.Float64s()
				// the gradient of the output itself, taken before the
				// leaf's: the rule must not overwrite the caller's g
				gx := autograd.Grad([]*tensor.Tensor{out}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{})
				if fmt.Sprint(g.Float64s()) != fmt.Sprint(gBefore) {
					t.Fatalf("backward changed the caller's gradient")
				}
				want := reluGradRef(out.Float64s(), gBefore)
				if i, ok := sameFloats(gx[0].Float64s(), want); !ok {
					t.Fatalf("fused=%v: gradient element %d is %v, want %v", fused, i, gx[0].Float64s()[i], want[i])
				}
				return gx[0].Float64s(), out.Float64s()
			}
			a, _ := run(true)
			b, _ := run(false)
			if i, ok := sameFloats(a, b); !ok {
				t.Fatalf("element %d: fused %v, composed %v", i, a[i], b[i])
			}
		})
	}
}

// TestReLUBackwardNonFinite pins the gradient where y or g is not
// finite, for the kernel and the composed rule alike: 0 where y ≤ 0, even
// for an infinite or NaN g, and g where y is NaN. torchWant is what
// torch 1.13 gives for the first six elements:
//
//	x = torch.tensor([-1., 0., 2., nan, -inf, inf], requires_grad=True)
//	torch.relu(x).backward(torch.tensor([nan, inf, 5., 7., nan, 1.]))
//	x.grad  # tensor([0., 0., 5., 7., 0., 1.])
func TestReLUBackwardNonFinite(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, fused := range []bool{true, false} {
		old := tensor.SetReLUBackwardFused(fused)
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			xv := []float64{-1, 0, 2, nan, -inf, inf, 3, -2, math.Copysign(0, -1), 1e-40}
			gv := []float64{nan, inf, 5, 7, nan, 1, -inf, -inf, nan, 4}
			x := tensor.FromSlice(xv).To(dt).SetRequiresGrad(true)
			y := x.ReLU()
			y.BackwardWith(tensor.FromSlice(gv).To(dt))
			got := x.Grad().Float64s()
			want := reluGradRef(y.Float64s(), tensor.FromSlice(gv).To(dt).Float64s())
			if i, ok := sameFloats(got, want); !ok {
				t.Errorf("fused=%v %v: gradient %v, want %v (element %d)", fused, dt, got, want, i)
			}
			torchWant := []float64{0, 0, 5, 7, 0, 1}
			if i, ok := sameFloats(got[:6], torchWant); !ok {
				t.Errorf("fused=%v %v: gradient %v, torch gives %v (element %d)", fused, dt, got[:6], torchWant, i)
			}
		}
		tensor.SetReLUBackwardFused(old)
	}
}

// TestReLUBackwardCreateGraph checks ReLU's first derivative taken with
// CreateGraph (the recorded rule) against the fast one, and its
// derivatives by finite differences, second order included.
func TestReLUBackwardCreateGraph(t *testing.T) {
	gen := tensor.NewGenerator(3)
	x := gen.Normal(tensor.Float64, 0, 1, 6, 7).SetRequiresGrad(true)
	w := gen.Normal(tensor.Float64, 0, 1, 6, 7).SetRequiresGrad(true)
	f := func(in []*tensor.Tensor) *tensor.Tensor { return in[0].ReLU().Mul(in[0]).Mul(in[1]).Sum() }
	create := autograd.Grad([]*tensor.Tensor{f([]*tensor.Tensor{x, w})}, []*tensor.Tensor{x, w}, nil, autograd.GradOptions{CreateGraph: true})
	plain := autograd.Grad([]*tensor.Tensor{f([]*tensor.Tensor{x, w})}, []*tensor.Tensor{x, w}, nil, autograd.GradOptions{})
	for i := range create {
		if a, b := create[i].Float64s(), plain[i].Float64s(); !sameFloatsOK(a, b) {
			t.Errorf("input %d: create-graph gradient %v, plain %v", i, a, b)
		}
	}
	if err := autograd.GradCheck(f, []*tensor.Tensor{x, w}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
		t.Error(err)
	}
}

// TestReLUBackwardRetained: a retained gradient of the ReLU's output is
// the gradient before the mask, so the rule must not mask it in place.
func TestReLUBackwardRetained(t *testing.T) {
	x := tensor.FromSlice([]float32{-1, 2, -3, 4}).SetRequiresGrad(true)
	w := tensor.FromSlice([]float32{1, 2, 3, 4})
	y := x.ReLU()
	y.RetainGrad()
	y.Mul(w).Sum().Backward()
	if got := y.Grad().Float64s(); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Errorf("retained grad of the ReLU's output %v, want [1 2 3 4]", got)
	}
	if got := x.Grad().Float64s(); fmt.Sprint(got) != "[0 2 0 4]" {
		t.Errorf("input grad %v, want [0 2 0 4]", got)
	}
}

// sameFloats compares exactly, with NaN equal to NaN and −0 to 0, and
// returns the first index that differs.
func sameFloats(a, b []float64) (int, bool) {
	if len(a) != len(b) {
		return 0, false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return i, false
		}
	}
	return 0, true
}

func sameFloatsOK(a, b []float64) bool { _, ok := sameFloats(a, b); return ok }
