package nn_test

import (
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// BenchmarkLSTM is one training step's forward and backward pass of a
// one-layer LSTM: input 128, hidden 256, 64 steps, batch 32.
func BenchmarkLSTM(b *testing.B) {
	const in, hidden, steps, batch = 128, 256, 64, 32
	lstm := nn.NewLSTM(in, hidden, nn.RNNConfig{Generator: tensor.NewGenerator(1)})
	x := tensor.NewGenerator(2).Normal(tensor.Float32, 0, 1, steps, batch, in).SetRequiresGrad(true)
	b.ResetTimer()
	for b.Loop() {
		nn.ZeroGrad(lstm)
		x.ZeroGrad()
		out, _, _ := lstm.ForwardState(x, nil, nil)
		out.Sum().Backward()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
}
