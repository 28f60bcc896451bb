package bench

import (
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// Single layers as they sit in the middle of a network: one forward and
// one backward pass of nn.Conv2d, nn.LSTM and nn.TransformerEncoderLayer,
// with the parameters and the input requiring grad and the output's
// gradient a fixed random tensor (y.BackwardWith(gy), torch's
// y.backward(gy)), so no loss or optimizer is timed. Gradients from the
// previous step are dropped first (nn.ZeroGrad and x.ZeroGrad; torch's
// zero_grad(set_to_none=True) and x.grad = None). torch_bench.py runs the
// same layers (torch.nn.Conv2d, torch.nn.LSTM,
// torch.nn.TransformerEncoderLayer) with the same options and shapes.

// layer is a layer workload: the module, its forward function and the
// input x (requiring grad).
type layer struct {
	m   nn.Module
	fwd func(*tensor.Tensor) *tensor.Tensor
	x   *tensor.Tensor
}

// step runs one forward and backward pass with output gradient gy and
// returns the output.
func (l layer) step(gy *tensor.Tensor) *tensor.Tensor {
	nn.ZeroGrad(l.m)
	l.x.ZeroGrad()
	y := l.fwd(l.x)
	y.BackwardWith(gy)
	return y
}

// convLayer is nn.Conv2d(c, c, 3, padding 1) with a bias, on x
// [n, c, hw, hw].
func convLayer(n, c, hw int) layer {
	conv := nn.NewConv2d(c, c, 3, nn.ConvConfig{Padding: 1})
	return layer{conv, conv.Forward, tensor.Randn(n, c, hw, hw).SetRequiresGrad(true)}
}

// depthwiseLayer is nn.Conv2d(c, c, 3, padding 1, groups c) with a bias
// and the given stride, on x [n, c, hw, hw].
func depthwiseLayer(n, c, hw, stride int) layer {
	conv := nn.NewConv2d(c, c, 3, nn.ConvConfig{Padding: 1, Stride: stride, Groups: c})
	return layer{conv, conv.Forward, tensor.Randn(n, c, hw, hw).SetRequiresGrad(true)}
}

// lstmLayer is a one-layer, time-major nn.LSTM(in, hidden) on x
// [seq, batch, in]; its output is [seq, batch, hidden].
func lstmLayer(in, hidden, seq, batch int) layer {
	lstm := nn.NewLSTM(in, hidden)
	return layer{lstm, lstm.Forward, tensor.Randn(seq, batch, in).SetRequiresGrad(true)}
}

// transformerLayer is a post-norm nn.TransformerEncoderLayer(d, heads, ff)
// with ReLU, dropout 0 and batch_first, in training mode, on x
// [batch, seq, d].
func transformerLayer(d, heads, ff, seq, batch int) layer {
	l := nn.NewTransformerEncoderLayer(d, heads, ff, nn.TransformerConfig{Dropout: nn.Prob(0), BatchFirst: true})
	nn.Train(l)
	return layer{l, l.Forward, tensor.Randn(batch, seq, d).SetRequiresGrad(true)}
}

// benchLayer times l.step at gy drawn like the output, after two warm-up
// steps, and reports ms/step.
func benchLayer(b *testing.B, l layer) {
	gy := tensor.Randn(l.fwd(l.x).Shape()...)
	for range 2 {
		sink = l.step(gy)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sink = l.step(gy)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
}

// BenchmarkConv2dStep is forward and backward of a 3×3, pad-1, 64→64
// channel convolution on [32, 64, 56, 56] (a ResNet stage-1 layer), about
// 3 · 2·32·64·64·9·56·56 ≈ 22 GFLOP per step.
func BenchmarkConv2dStep(b *testing.B) {
	tensor.ManualSeed(1)
	benchLayer(b, convLayer(32, 64, 56))
}

// BenchmarkDepthwiseStep is forward and backward of a depthwise 3×3,
// pad-1 convolution (groups = channels = 64, as MobileNet's) with a bias
// on [32, 64, 56, 56], stride 1; BenchmarkDepthwiseS2Step the same with
// stride 2. Depthwise layers have little arithmetic (9 multiply-adds per
// output), so these time memory traffic and per-channel overheads.
func BenchmarkDepthwiseStep(b *testing.B) {
	tensor.ManualSeed(1)
	benchLayer(b, depthwiseLayer(32, 64, 56, 1))
}

func BenchmarkDepthwiseS2Step(b *testing.B) {
	tensor.ManualSeed(1)
	benchLayer(b, depthwiseLayer(32, 64, 56, 2))
}

// BenchmarkLSTMStep is forward and backward of a one-layer LSTM, input
// 128, hidden 256, on 64 steps of a batch of 32 (time-major).
func BenchmarkLSTMStep(b *testing.B) {
	tensor.ManualSeed(1)
	benchLayer(b, lstmLayer(128, 256, 64, 32))
}

// BenchmarkTransformerStep is forward and backward of a post-norm
// Transformer encoder layer, d_model 256, 4 heads, feed-forward 1024,
// ReLU, dropout 0, on a batch of 16 sequences of 128 tokens (batch_first).
func BenchmarkTransformerStep(b *testing.B) {
	tensor.ManualSeed(1)
	benchLayer(b, transformerLayer(256, 4, 1024, 128, 16))
}

// TestLayerSteps checks, at small sizes, that the benchmarked steps are
// real work: the output has the right shape, the input and every
// parameter get a gradient of their own shape, and a few SGD steps on a
// mean-squared error towards a fixed target lower the loss.
func TestLayerSteps(t *testing.T) {
	for _, c := range []struct {
		name string
		mk   func() layer
		out  []int
	}{
		{"conv2d", func() layer { return convLayer(2, 4, 8) }, []int{2, 4, 8, 8}},
		{"depthwise", func() layer { return depthwiseLayer(2, 4, 8, 1) }, []int{2, 4, 8, 8}},
		{"depthwise_s2", func() layer { return depthwiseLayer(2, 4, 8, 2) }, []int{2, 4, 4, 4}},
		{"lstm", func() layer { return lstmLayer(8, 16, 5, 3) }, []int{5, 3, 16}},
		{"transformer", func() layer { return transformerLayer(16, 4, 32, 6, 2) }, []int{2, 6, 16}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tensor.ManualSeed(5)
			l := c.mk()
			y := l.step(tensor.Randn(c.out...))
			if !slices.Equal(y.Shape(), c.out) {
				t.Fatalf("output shape %v, want %v", y.Shape(), c.out)
			}
			check := func(what string, p, g *tensor.Tensor) {
				if g == nil {
					t.Fatalf("%s has no gradient", what)
				}
				if !slices.Equal(g.Shape(), p.Shape()) {
					t.Fatalf("%s: gradient shape %v, want %v", what, g.Shape(), p.Shape())
				}
				if s := g.Abs().Sum().Item(); !(s > 0) {
					t.Fatalf("%s: gradient L1 norm %v", what, s)
				}
			}
			check("input", l.x, l.x.Grad())
			for _, p := range nn.NamedParameters(l.m) {
				check(p.Name, p.P.Tensor, p.P.Grad())
			}

			target := tensor.Randn(c.out...)
			opt := optim.NewSGD(nn.Parameters(l.m), optim.SGDConfig{LR: 0.1})
			var losses []float64
			for range 5 {
				opt.ZeroGrad()
				loss := F.MSELoss(l.fwd(l.x), target)
				loss.Backward()
				opt.Step()
				losses = append(losses, loss.Item())
			}
			t.Logf("losses: %.4f", losses)
			if !(losses[4] < losses[0]) {
				t.Fatalf("loss did not fall: %.4f", losses)
			}
		})
	}
}
