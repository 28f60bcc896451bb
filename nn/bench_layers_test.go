package nn_test

import (
	"testing"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// BenchmarkLeNetStep times one training step of a small convolutional
// net on a batch of 128 MNIST-sized images: forward, cross-entropy,
// backward and a plain SGD update. The work is about 1.25 GFLOP forward
// and twice that backward, nine tenths of it in the second convolution
// (32→64 channels, 3×3, on 13×13 maps).
func BenchmarkLeNetStep(b *testing.B) {
	tensor.ManualSeed(0)
	model := nn.NewSequential(
		nn.NewConv2d(1, 32, 3), nn.NewReLU(), nn.NewMaxPool2d(2), // 28 → 26 → 13
		nn.NewConv2d(32, 64, 3), nn.NewReLU(), nn.NewMaxPool2d(2), // 13 → 11 → 5
		nn.NewFlatten(),
		nn.NewLinear(64*5*5, 128), nn.NewReLU(),
		nn.NewLinear(128, 10),
	)
	params := nn.Parameters(model)
	const batch, lr = 128, 0.01
	x := tensor.Randn(batch, 1, 28, 28)
	y := tensor.RandInt(0, 10, batch)
	step := func() float64 {
		loss := F.CrossEntropy(model.Forward(x), y)
		loss.Backward()
		tensor.WithGradEnabled(false, func() {
			for _, p := range params {
				p.AddScaledIn(p.Grad(), -lr)
				p.ZeroGrad()
			}
		})
		return loss.Item()
	}
	step() // warm the buffer pools
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/step")
}
