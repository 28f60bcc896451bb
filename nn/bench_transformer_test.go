package nn_test

import (
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// BenchmarkTransformerEncoderLayer times one training step's worth of
// work for a BERT-small-like layer: forward and backward of a post-norm
// encoder layer (d_model 256, 4 heads, dim_feedforward 1024, relu) on a
// batch of 16 sequences of 128 tokens, in float32, in training mode with
// torch's default dropout 0.1. About 3·2·16·128·(4·256² + 2·256·1024 +
// 2·128·256) ≈ 10.5 GFLOP per op (forward plus twice that backward).
func BenchmarkTransformerEncoderLayer(b *testing.B) {
	const d, heads, ff, seq, batch = 256, 4, 1024, 128, 16
	l := nn.NewTransformerEncoderLayer(d, heads, ff, nn.TransformerConfig{
		BatchFirst: true,
		Generator:  tensor.NewGenerator(1),
	})
	x := tensor.NewGenerator(2).Randn(batch, seq, d)
	nn.Train(l)
	b.ResetTimer()
	for b.Loop() {
		y := l.Forward(x)
		y.Square().Mean().Backward()
		nn.ZeroGrad(l)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}
