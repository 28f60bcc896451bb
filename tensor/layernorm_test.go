package tensor_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// TestLayerNormFused holds LayerNorm's kernels (forward, and the input,
// weight and bias gradients) to the composed ops, over shapes with one
// and two normalized dims, rows of length 1 and odd lengths, a batch
// large enough to split over threads, a transposed input, and without
// weight or bias.
func TestLayerNormFused(t *testing.T) {
	type tc struct {
		shape      []int
		normalized int
		transpose  bool
		w, b       bool
	}
	var cases []tc
	for _, sh := range [][]int{{3, 1}, {4, 7}, {2, 3, 5}, {300, 256}, {1, 33}} {
		for _, nd := range []int{1, 2} {
			if nd > len(sh) {
				continue
			}
			for _, wb := range [][2]bool{{true, true}, {true, false}, {false, true}, {false, false}} {
				cases = append(cases, tc{sh, nd, false, wb[0], wb[1]})
			}
		}
	}
	cases = append(cases, tc{[]int{6, 5}, 1, true, true, true}, tc{[]int{2, 4, 3}, 2, true, true, false})
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 2e-5
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%v/%+v", dt, c), func(t *testing.T) {
				gen := tensor.NewGenerator(5)
				x := gen.Normal(dt, 1, 3, c.shape...)
				if c.transpose {
					rev := append([]int(nil), c.shape...)
					rev[0], rev[len(rev)-1] = rev[len(rev)-1], rev[0]
					x = gen.Normal(dt, 1, 3, rev...).Transpose(0, -1)
				}
				x.SetRequiresGrad(true)
				nshape := c.shape[len(c.shape)-c.normalized:]
				var w, b *tensor.Tensor
				inputs := []*tensor.Tensor{x}
				if c.w {
					w = gen.Normal(dt, 1, 0.5, nshape...).SetRequiresGrad(true)
					inputs = append(inputs, w)
				}
				if c.b {
					b = gen.Normal(dt, 0, 1, nshape...).SetRequiresGrad(true)
					inputs = append(inputs, b)
				}
				g := gen.Normal(dt, 0, 1, c.shape...)
				// createGraph records the backward, which then takes the
				// differentiable form: its values must be the same
				run := func(fused, createGraph bool) [][]float64 {
					defer tensor.SetLayerNormFused(tensor.SetLayerNormFused(fused))
					y := tensor.LayerNorm(x, c.normalized, w, b, 1e-5)
					out := [][]float64{y.Float64s()}
					for _, gr := range autograd.Grad([]*tensor.Tensor{y}, inputs, []*tensor.Tensor{g}, autograd.GradOptions{CreateGraph: createGraph}) {
						out = append(out, gr.Float64s())
					}
					return out
				}
				want := run(false, false)
				for _, createGraph := range []bool{false, true} {
					got := run(true, createGraph)
					for k := range want {
						for i := range want[k] {
							if d := math.Abs(got[k][i] - want[k][i]); !(d <= tol*(1+math.Abs(want[k][i]))) {
								t.Fatalf("create graph %v: result %d (0: output, then the gradients) [%d] = %v, composed %v",
									createGraph, k, i, got[k][i], want[k][i])
							}
						}
					}
				}
			})
		}
	}
}

// TestLayerNormGradcheck: float64 gradcheck of the fused op, and of its
// gradients (the recorded backward takes the differentiable form).
func TestLayerNormGradcheck(t *testing.T) {
	gen := tensor.NewGenerator(9)
	x := gen.Normal(tensor.Float64, 0, 2, 3, 2, 4).SetRequiresGrad(true)
	w := gen.Normal(tensor.Float64, 1, 0.5, 2, 4).SetRequiresGrad(true)
	b := gen.Normal(tensor.Float64, 0, 1, 2, 4).SetRequiresGrad(true)
	f := func(in []*tensor.Tensor) *tensor.Tensor {
		return tensor.LayerNorm(in[0], 2, in[1], in[2], 1e-5)
	}
	if err := autograd.GradCheck(f, []*tensor.Tensor{x, w, b}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
		t.Fatal(err)
	}
}

// TestLayerNormErrors: bad shapes name the op and the shapes.
func TestLayerNormErrors(t *testing.T) {
	x := tensor.Zeros(2, 3)
	for _, c := range []struct {
		name string
		f    func()
		want string
	}{
		{"too many dims", func() { tensor.LayerNorm(x, 3, nil, nil, 1e-5) }, "layer_norm: cannot normalize the last 3 dims of [2 3]"},
		{"weight shape", func() { tensor.LayerNorm(x, 1, tensor.Zeros(2), nil, 1e-5) }, "weight of shape [2] does not match the normalized dims [3]"},
		{"bias dtype", func() { tensor.LayerNorm(x, 1, nil, tensor.ZerosOf(tensor.Float64, 3), 1e-5) }, "bias is float64"},
	} {
		err := tensor.Try(c.f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}
