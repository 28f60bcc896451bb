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

// TestGroupNormFused holds GroupNorm's one-pass kernel (taken when no
// gradient is recorded) to the composed ops (a LayerNorm of [N, G, rest]
// and the per-channel affine): empty batch, channel and spatial dims,
// size-1 dims, one channel per group and one group, odd lengths, 2-d
// inputs, permuted inputs and strided weight and bias, with and without
// weight and bias. With a gradient recorded it runs the composed ops.
func TestGroupNormFused(t *testing.T) {
	type tc struct {
		shape   []int
		groups  int
		permute bool // x made as [N, *, C] and permuted to [N, C, *]
		strided bool // weight and bias every other element of a [2C]
	}
	cases := []tc{
		{[]int{0, 4, 5}, 2, false, false},
		{[]int{2, 4, 0}, 2, false, false},
		{[]int{1, 1, 1}, 1, false, false},
		{[]int{3, 6}, 2, false, false},
		{[]int{2, 6, 3, 3}, 3, false, false},
		{[]int{2, 5, 7}, 5, false, false},
		{[]int{2, 6, 17}, 1, false, false},
		{[]int{3, 12, 33}, 4, false, false},
		{[]int{2, 6, 5, 3}, 2, true, false},
		{[]int{2, 4, 9}, 2, false, true},
		{[]int{3, 8, 7}, 4, true, true},
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 2e-6
		}
		for _, c := range cases {
			for wb := range 4 {
				t.Run(fmt.Sprintf("%v/%+v/wb=%d", dt, c, wb), func(t *testing.T) {
					gen := tensor.NewGenerator(11)
					x := gen.Normal(dt, 2, 3, c.shape...)
					if c.permute {
						// [N, *, C] permuted to [N, C, *]
						sh := append([]int{c.shape[0]}, c.shape[2:]...)
						sh = append(sh, c.shape[1])
						perm := []int{0, len(sh) - 1}
						for d := 1; d < len(sh)-1; d++ {
							perm = append(perm, d)
						}
						x = gen.Normal(dt, 2, 3, sh...).Permute(perm...)
						if x.IsContiguous() {
							t.Fatal("permuted input is contiguous")
						}
					}
					ch := c.shape[1]
					param := func(mean float64) *tensor.Tensor {
						if c.strided {
							return gen.Normal(dt, mean, 0.5, 2*ch).Slice(0, 0, 2*ch, 2)
						}
						return gen.Normal(dt, mean, 0.5, ch)
					}
					var w, b *tensor.Tensor
					if wb&2 != 0 {
						w = param(1)
					}
					if wb&1 != 0 {
						b = param(0)
					}
					run := func(fused bool) *tensor.Tensor {
						defer tensor.SetLayerNormFused(tensor.SetLayerNormFused(fused))
						return tensor.GroupNorm(x, c.groups, w, b, 1e-5)
					}
					want, got := run(false), run(true)
					if fmt.Sprint(got.Shape()) != fmt.Sprint(c.shape) || got.DType() != dt {
						t.Fatalf("result %v %v, want %v %v", got.Shape(), got.DType(), c.shape, dt)
					}
					wv, gv := want.Float64s(), got.Float64s()
					for i := range wv {
						if d := math.Abs(gv[i] - wv[i]); !(d <= tol*(1+math.Abs(wv[i]))) {
							t.Fatalf("[%d] = %v, composed %v", i, gv[i], wv[i])
						}
					}
				})
			}
		}
	}
	// recorded: the composed ops, with their gradient history
	gen := tensor.NewGenerator(12)
	x := gen.Normal(tensor.Float32, 0, 1, 2, 4, 3).SetRequiresGrad(true)
	if y := tensor.GroupNorm(x, 2, nil, nil, 1e-5); y.GradFn() == nil {
		t.Error("GroupNorm of an input requiring grad recorded no gradient")
	}
	tensor.WithGradEnabled(false, func() {
		if y := tensor.GroupNorm(x, 2, nil, nil, 1e-5); y.RequiresGrad() {
			t.Error("GroupNorm without gradients recorded one")
		}
	})
}
