package tensor_test

// Conv through the backend's convolution kernels against the same
// convolution run as Unfold, MatMul and Fold (the composition that
// defines it, checked against direct loops in conv_test.go): values,
// gradients, and gradients of gradients; and gradcheck in float64 of
// both, to first and second order.

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

type convDirectCase struct {
	x, w                      []int // input [N, C, S…], weight [Cout, C/groups, k…]
	stride, padding, dilation []int
	groups                    int
}

var convDirectCases = []convDirectCase{
	{[]int{2, 3, 6, 5}, []int{4, 3, 3, 3}, nil, []int{1}, nil, 1},
	{[]int{1, 4, 7, 6}, []int{6, 2, 3, 2}, []int{2, 1}, []int{1, 0}, []int{1, 2}, 2},
	{[]int{3, 2, 5, 5}, []int{2, 1, 3, 3}, []int{2}, []int{2}, nil, 2}, // depthwise
	{[]int{2, 3, 4, 4}, []int{2, 3, 1, 1}, []int{2}, nil, nil, 1},
	{[]int{2, 2, 9}, []int{3, 2, 3}, []int{2}, []int{1}, []int{2}, 1},
	{[]int{1, 1, 3, 3}, []int{1, 1, 3, 3}, nil, nil, nil, 1},
}

func (c convDirectCase) String() string {
	return fmt.Sprintf("x%v_w%v_s%v_p%v_d%v_g%d", c.x, c.w, c.stride, c.padding, c.dilation, c.groups)
}

func (c convDirectCase) run(in []*tensor.Tensor) *tensor.Tensor {
	return tensor.Conv(in[0], in[1], c.stride, c.padding, c.dilation, c.groups)
}

// grads returns the output, the gradients of sum(y·gy) with respect to x
// and w, and the gradient of sum(dx·v) + sum(dw·u) (second order) with
// respect to x, w and gy, all flattened.
func (c convDirectCase) grads(t *testing.T, x, w, gy, v, u *tensor.Tensor) [][]float64 {
	t.Helper()
	x, w, gy = x.Detach().SetRequiresGrad(true), w.Detach().SetRequiresGrad(true), gy.Detach().SetRequiresGrad(true)
	y := c.run([]*tensor.Tensor{x, w})
	g := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x, w}, []*tensor.Tensor{gy}, autograd.GradOptions{CreateGraph: true})
	s := g[0].Mul(v).Sum().Add(g[1].Mul(u).Sum())
	gg := autograd.Grad([]*tensor.Tensor{s}, []*tensor.Tensor{x, w, gy}, nil, autograd.GradOptions{AllowUnused: true})
	out := [][]float64{y.Float64s(), g[0].Float64s(), g[1].Float64s()}
	for _, t := range gg {
		if t == nil {
			out = append(out, nil)
			continue
		}
		out = append(out, t.Float64s())
	}
	return out
}

func TestConvMatchesUnfoldMatMul(t *testing.T) {
	for _, c := range convDirectCases {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			t.Run(fmt.Sprintf("%v/%v", c, dt), func(t *testing.T) {
				tensor.ManualSeed(3)
				x := tensor.Randn(c.x...).To(dt)
				w := tensor.Randn(c.w...).To(dt)
				y0 := c.run([]*tensor.Tensor{x, w})
				gy := tensor.Randn(y0.Shape()...).To(dt)
				v, u := tensor.Randn(c.x...).To(dt), tensor.Randn(c.w...).To(dt)
				got := c.grads(t, x, w, gy, v, u)
				old := tensor.SetConvolver(false)
				want := c.grads(t, x, w, gy, v, u)
				tensor.SetConvolver(old)
				tol := 1e-10
				if dt == tensor.Float32 {
					tol = 1e-4
				}
				for i, what := range []string{"output", "dx", "dw", "d²/dx", "d²/dw", "d²/dgy"} {
					winClose(t, what, got[i], want[i], tol)
				}
			})
		}
	}
}

func TestConvGradCheck(t *testing.T) {
	for _, c := range convDirectCases {
		for _, direct := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/direct%v", c, direct), func(t *testing.T) {
				old := tensor.SetConvolver(direct)
				defer tensor.SetConvolver(old)
				tensor.ManualSeed(4)
				x := tensor.Randn(c.x...).To(tensor.Float64).SetRequiresGrad(true)
				w := tensor.Randn(c.w...).To(tensor.Float64).SetRequiresGrad(true)
				if err := autograd.GradCheck(c.run, []*tensor.Tensor{x, w}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func ExampleConv() {
	// a 2×2 box filter over a 3×3 image: each output is a block's sum
	x := tensor.Arange(1, 10, 1).To(tensor.Float32).Reshape(1, 1, 3, 3)
	w := tensor.Ones(1, 1, 2, 2)
	fmt.Println(tensor.Conv(x, w, nil, nil, nil, 1).Reshape(2, 2))
	// padding 1 and stride 2: the corners' blocks
	fmt.Println(tensor.Conv(x, w, []int{2}, []int{1}, nil, 1).Reshape(2, 2))
	// Output:
	// tensor([[12., 16.],
	//         [24., 28.]])
	// tensor([[ 1.,  5.],
	//         [11., 28.]])
}

func TestConvErrors(t *testing.T) {
	x := tensor.Zeros(1, 4, 5, 5)
	for _, c := range []struct {
		name string
		f    func()
		kind error
		msg  string
	}{
		{"rank", func() { tensor.Conv(tensor.Zeros(4, 5), tensor.Zeros(2, 4, 3), nil, nil, nil, 1) }, tensor.ErrShape, "conv: expected a 3-d"},
		{"weight rank", func() { tensor.Conv(x, tensor.Zeros(2, 4, 3), nil, nil, nil, 1) }, tensor.ErrShape, "must be 4-d"},
		{"channels", func() { tensor.Conv(x, tensor.Zeros(2, 3, 3, 3), nil, nil, nil, 1) }, tensor.ErrShape, "do not fit 1 groups"},
		{"groups", func() { tensor.Conv(x, tensor.Zeros(3, 2, 3, 3), nil, nil, nil, 2) }, tensor.ErrShape, "do not fit 2 groups"},
		{"groups 0", func() { tensor.Conv(x, tensor.Zeros(2, 4, 3, 3), nil, nil, nil, 0) }, tensor.ErrShape, "groups must be positive"},
		{"too small", func() { tensor.Conv(x, tensor.Zeros(2, 4, 6, 6), nil, nil, nil, 1) }, tensor.ErrShape, "smaller than the kernel"},
		{"dtype", func() { tensor.Conv(x, tensor.Zeros(2, 4, 3, 3).To(tensor.Float64), nil, nil, nil, 1) }, tensor.ErrDType, "different dtypes"},
		{"int", func() { tensor.Conv(x.To(tensor.Int64), tensor.Zeros(2, 4, 3, 3).To(tensor.Int64), nil, nil, nil, 1) }, tensor.ErrDType, "int64"},
	} {
		err := tensor.Try(c.f)
		if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want a %v error containing %q", c.name, err, c.kind, c.msg)
		}
	}
}
