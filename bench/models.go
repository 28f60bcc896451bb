package bench

import (
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// The models of the training-step workloads, shared by the benchmarks of
// this package and by the peak-RSS program (bench/cmd/rss). torch_bench.py
// builds the same models with torch.nn.

// NewMLP is the 784-512-512-10 perceptron as nn layers (torch's
// nn.Sequential of Linear and ReLU).
func NewMLP() *nn.Sequential {
	return nn.NewSequential(
		nn.NewLinear(784, 512), nn.NewReLU(),
		nn.NewLinear(512, 512), nn.NewReLU(),
		nn.NewLinear(512, 10),
	)
}

// NewLeNet is the LeNet-style CNN on 28×28 single-channel images: conv
// 1→32 3×3, ReLU, max-pool 2, conv 32→64 3×3, ReLU, max-pool 2, flatten,
// fc 1600→128, ReLU, fc 128→10.
func NewLeNet() *nn.Sequential {
	return nn.NewSequential(
		nn.NewConv2d(1, 32, 3), nn.NewReLU(), nn.NewMaxPool2d(2),
		nn.NewConv2d(32, 64, 3), nn.NewReLU(), nn.NewMaxPool2d(2),
		nn.NewFlatten(),
		nn.NewLinear(1600, 128), nn.NewReLU(),
		nn.NewLinear(128, 10),
	)
}

// NewSGD is the optimizer of the training steps: SGD, lr 0.01, momentum
// 0.9 (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)), with
// the fused update, which gives the composed update's bits in one pass
// per parameter. Torch 1.13 has no fused SGD on the CPU, and its
// foreach=True took as long as its default (0.30 against 0.31 ms a step
// on these parameters).
func NewSGD(m nn.Module) optim.Optimizer {
	return optim.NewSGD(nn.Parameters(m), optim.SGDConfig{LR: 0.01, Momentum: 0.9, Fused: true})
}

// TrainStep is one training step: drop the gradients, forward, cross
// entropy against the labels y, backward and an optimizer step. It
// returns the loss.
func TrainStep(m nn.Layer, opt optim.Optimizer, x, y *tensor.Tensor) float64 {
	opt.ZeroGrad()
	loss := F.CrossEntropy(nn.Call(m, x), y)
	loss.Backward()
	opt.Step()
	return loss.Item()
}

// Workload is a training-step workload at batch 128: its model and one
// fixed batch of inputs and labels, drawn after tensor.ManualSeed(1).
type Workload struct {
	Name  string
	Model *nn.Sequential
	X, Y  *tensor.Tensor
}

// NewWorkload returns the workload "mlp" (784-512-512-10 MLP on [128, 784]
// inputs) or "lenet" (NewLeNet on [128, 1, 28, 28] inputs), or false.
func NewWorkload(name string) (Workload, bool) {
	tensor.ManualSeed(1)
	switch name {
	case "mlp":
		return Workload{name, NewMLP(), tensor.Randn(128, 784), tensor.RandInt(0, 10, 128)}, true
	case "lenet":
		return Workload{name, NewLeNet(), tensor.Randn(128, 1, 28, 28), tensor.RandInt(0, 10, 128)}, true
	}
	return Workload{}, false
}
