package bench

import (
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// The training steps of issue 3, written the way a user writes them: nn
// modules, F.CrossEntropy and optim.SGD (models.go). torch_bench.py runs
// the same models (torch.nn, F.cross_entropy, torch.optim.SGD) at the same
// shapes.

func benchStep(b *testing.B, w Workload) {
	opt := NewSGD(w.Model)
	for range 2 { // warm-up: momentum buffers, pooled buffers
		TrainStep(w.Model, opt, w.X, w.Y)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		TrainStep(w.Model, opt, w.X, w.Y)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
}

func workload(b *testing.B, name string) Workload {
	w, ok := NewWorkload(name)
	if !ok {
		b.Fatalf("no workload %q", name)
	}
	return w
}

// BenchmarkMLPModuleStep is one training step of the nn MLP at batch 128.
func BenchmarkMLPModuleStep(b *testing.B) { benchStep(b, workload(b, "mlp")) }

// BenchmarkLeNetStep is one training step of the LeNet-style CNN at batch
// 128 on 28×28 single-channel images.
func BenchmarkLeNetStep(b *testing.B) { benchStep(b, workload(b, "lenet")) }

// TestModuleStepsTrain checks that the benchmarked steps are real work:
// on a fixed small batch, a few steps lower the loss, which starts near
// ln 10.
func TestModuleStepsTrain(t *testing.T) {
	for _, c := range []struct {
		name string
		m    *nn.Sequential
		x    *tensor.Tensor
	}{
		{"mlp", NewMLP(), tensor.Randn(16, 784)},
		{"lenet", NewLeNet(), tensor.Randn(16, 1, 28, 28)},
	} {
		tensor.ManualSeed(3)
		y := tensor.RandInt(0, 10, 16)
		opt := optim.NewSGD(nn.Parameters(c.m), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
		first := TrainStep(c.m, opt, c.x, y)
		last := first
		for range 5 {
			last = TrainStep(c.m, opt, c.x, y)
		}
		if first < 1.8 || first > 2.8 {
			t.Errorf("%s: first loss %.3f, want near ln 10 = 2.30", c.name, first)
		}
		if !(last < first*0.9) {
			t.Errorf("%s: loss went %.3f → %.3f in 5 steps", c.name, first, last)
		}
	}
}
