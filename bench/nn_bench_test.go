package bench

import (
	"testing"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// The training steps of issue 3, written the way a user writes them: nn
// modules, F.CrossEntropy and optim.SGD. torch_bench.py runs the same
// models (torch.nn, F.cross_entropy, torch.optim.SGD) at the same shapes.

// newMLPModule is the 784-512-512-10 perceptron as nn layers.
func newMLPModule() *nn.Sequential {
	return nn.NewSequential(
		nn.NewLinear(784, 512), nn.NewReLU(),
		nn.NewLinear(512, 512), nn.NewReLU(),
		nn.NewLinear(512, 10),
	)
}

// newLeNet is the LeNet-style CNN: conv 1→32 3×3, ReLU, max-pool 2,
// conv 32→64 3×3, ReLU, max-pool 2, flatten, fc 1600→128, ReLU, fc 128→10.
func newLeNet() *nn.Sequential {
	return nn.NewSequential(
		nn.NewConv2d(1, 32, 3), nn.NewReLU(), nn.NewMaxPool2d(2),
		nn.NewConv2d(32, 64, 3), nn.NewReLU(), nn.NewMaxPool2d(2),
		nn.NewFlatten(),
		nn.NewLinear(1600, 128), nn.NewReLU(),
		nn.NewLinear(128, 10),
	)
}

// trainStep is forward, cross entropy, backward and an SGD (momentum 0.9)
// update; it returns the loss.
func trainStep(m nn.Layer, opt optim.Optimizer, x, y *tensor.Tensor) float64 {
	opt.ZeroGrad()
	loss := F.CrossEntropy(nn.Call(m, x), y)
	loss.Backward()
	opt.Step()
	return loss.Item()
}

func benchStep(b *testing.B, m *nn.Sequential, x, y *tensor.Tensor) {
	opt := optim.NewSGD(nn.Parameters(m), optim.SGDConfig{LR: 0.01, Momentum: 0.9})
	for range 2 { // warm-up: momentum buffers, pooled buffers
		trainStep(m, opt, x, y)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		trainStep(m, opt, x, y)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
}

// BenchmarkMLPModuleStep is one training step of the nn MLP at batch 128.
func BenchmarkMLPModuleStep(b *testing.B) {
	tensor.ManualSeed(1)
	benchStep(b, newMLPModule(), tensor.Randn(128, 784), tensor.RandInt(0, 10, 128))
}

// BenchmarkLeNetStep is one training step of the LeNet-style CNN at batch
// 128 on 28×28 single-channel images.
func BenchmarkLeNetStep(b *testing.B) {
	tensor.ManualSeed(1)
	benchStep(b, newLeNet(), tensor.Randn(128, 1, 28, 28), tensor.RandInt(0, 10, 128))
}

// TestModuleStepsTrain checks that the benchmarked steps are real work:
// on a fixed small batch, a few steps lower the loss, which starts near
// ln 10.
func TestModuleStepsTrain(t *testing.T) {
	for _, c := range []struct {
		name string
		m    *nn.Sequential
		x    *tensor.Tensor
	}{
		{"mlp", newMLPModule(), tensor.Randn(16, 784)},
		{"lenet", newLeNet(), tensor.Randn(16, 1, 28, 28)},
	} {
		tensor.ManualSeed(3)
		y := tensor.RandInt(0, 10, 16)
		opt := optim.NewSGD(nn.Parameters(c.m), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
		first := trainStep(c.m, opt, c.x, y)
		last := first
		for range 5 {
			last = trainStep(c.m, opt, c.x, y)
		}
		if first < 1.8 || first > 2.8 {
			t.Errorf("%s: first loss %.3f, want near ln 10 = 2.30", c.name, first)
		}
		if !(last < first*0.9) {
			t.Errorf("%s: loss went %.3f → %.3f in 5 steps", c.name, first, last)
		}
	}
}
