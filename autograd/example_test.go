package autograd_test

import (
	"fmt"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// The second derivative of tanh: differentiate the first derivative,
// which CreateGraph recorded.
func ExampleGrad() {
	x := tensor.FromSlice([]float64{0, 0.5}).SetRequiresGrad(true)
	y := x.Tanh().Sum()
	dy := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, nil, autograd.GradOptions{CreateGraph: true})[0]
	d2y := autograd.Grad([]*tensor.Tensor{dy.Sum()}, []*tensor.Tensor{x}, nil, autograd.GradOptions{})[0]
	fmt.Println(dy.Detach()) // 1 − tanh²
	fmt.Println(d2y)         // −2·tanh·(1 − tanh²); PyTorch prints the same
	// Output:
	// tensor([1.0000, 0.7864], dtype=torch.float64)
	// tensor([-0.0000, -0.7269], dtype=torch.float64)
}

func ExampleNoGrad() {
	w := tensor.Ones(3).SetRequiresGrad(true)
	w.MulScalar(2).Sum().Backward()
	autograd.NoGrad(func() {
		w.AddScaledIn(w.Grad(), -0.1) // an SGD step: allowed on a leaf here
	})
	fmt.Println(w)
	// Output:
	// tensor([0.8000, 0.8000, 0.8000], requires_grad=True)
}

func ExampleFunction() {
	// clip the gradient that flows back through an identity
	clipGrad := &autograd.Function{
		Name: "ClipGrad",
		Forward: func(ctx *autograd.Context, in []*tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{in[0].Clone()}
		},
		Backward: func(ctx *autograd.Context, g []*tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{g[0].Clamp(-1, 1)}
		},
	}
	x := tensor.FromSlice([]float32{1, 2, 3}).SetRequiresGrad(true)
	y := clipGrad.Apply(x)[0]
	y.MulScalar(5).Sum().Backward()
	fmt.Println(y.GradFn().Name(), x.Grad())
	// Output:
	// ClipGradBackward0 tensor([1., 1., 1.])
}

func ExampleGradCheck() {
	x := tensor.FromSlice([]float64{0.3, -1.2, 2}).SetRequiresGrad(true)
	err := autograd.GradCheck(func(in []*tensor.Tensor) *tensor.Tensor {
		return in[0].Sigmoid().Mul(in[0]).Sum()
	}, []*tensor.Tensor{x}, autograd.GradCheckOptions{GradGrad: true})
	fmt.Println(err)
	// Output:
	// <nil>
}

func ExampleCheckpoint() {
	x := tensor.FromSlice([]float64{1, 2}).SetRequiresGrad(true)
	block := func(in []*tensor.Tensor) []*tensor.Tensor {
		return []*tensor.Tensor{in[0].Exp().Sin().Sum()}
	}
	y := autograd.Checkpoint(block, x)[0] // block's intermediates are not kept
	y.Backward()                          // block runs again here
	fmt.Println(x.Grad())
	// Output:
	// tensor([-2.4783,  3.3129], dtype=torch.float64)
}
