package cuda_test

import (
	"testing"
	"time"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo"
)

// The GPU benchmarks (they skip without a device). bench/gpu_torch.py
// times the same workloads with the PyTorch of the GPU machine:
//
//	go test -run X -bench GPU ./backend/cuda
//	python3 bench/gpu_torch.py

// BenchmarkGPUSgemm times C = A·B in float32 at 8192³ (cuBLAS, full
// float32: no TF32) through the backend, on random operands.
func BenchmarkGPUSgemm(b *testing.B) {
	g := gpu(b)
	const n = 8192
	view := func(seed uint64) backend.View {
		s, err := g.Alloc(backend.Float32, n*n)
		if err != nil {
			b.Fatal(err)
		}
		v := backend.View{Storage: s, Layout: backend.Contiguous([]int{1, n, n})}
		g.Random(v, backend.RandomSpec{Dist: backend.Normal, A: 0, B: 1, Seed: seed})
		return v
	}
	xv, yv, dst := view(1), view(2), view(3)
	defer func() {
		for _, v := range []backend.View{xv, yv, dst} {
			g.Release(v.Storage)
		}
	}()
	g.MatMul(dst, xv, yv) // warm-up: handle and workspace
	if err := g.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		g.MatMul(dst, xv, yv)
	}
	if err := g.Sync(); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.ReportMetric(2*float64(n)*n*n*float64(b.N)/el.Seconds()/1e12, "TFLOP/s")
}

// stepBench times training steps of m on one batch already on the
// device: zero the gradients, forward, cross entropy, backward, SGD with
// momentum; the loss is read back each step, as a training loop does.
func stepBench(b *testing.B, m nn.Layer, x, y *tensor.Tensor, perStep float64, unit string) {
	nn.ToDevice(m.(nn.Module), tensor.CUDA(0))
	x, y = x.ToDevice(tensor.CUDA(0)), y.ToDevice(tensor.CUDA(0))
	opt := optim.NewSGD(nn.Parameters(m.(nn.Module)), optim.SGDConfig{LR: 0.01, Momentum: 0.9})
	step := func() float64 {
		opt.ZeroGrad()
		loss := F.CrossEntropy(nn.Call(m, x), y)
		loss.Backward()
		opt.Step()
		return loss.Item()
	}
	for i := 0; i < 3; i++ {
		step()
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		step()
	}
	el := time.Since(start).Seconds() / float64(b.N)
	b.ReportMetric(el*1e3, "ms/step")
	if perStep > 0 {
		b.ReportMetric(perStep/el, unit)
	}
}

func BenchmarkGPUMLPStep(b *testing.B) {
	gpu(b)
	tensor.ManualSeed(1)
	m := nn.NewSequential(nn.NewLinear(784, 512), nn.NewReLU(), nn.NewLinear(512, 512), nn.NewReLU(), nn.NewLinear(512, 10))
	stepBench(b, m, tensor.Randn(128, 784), tensor.RandInt(0, 10, 128), 0, "")
}

func BenchmarkGPUCNNStep(b *testing.B) {
	gpu(b)
	tensor.ManualSeed(1)
	m := nn.NewSequential(
		nn.NewConv2d(1, 32, 3), nn.NewReLU(), nn.NewMaxPool2d(2),
		nn.NewConv2d(32, 64, 3), nn.NewReLU(), nn.NewMaxPool2d(2),
		nn.NewFlatten(), nn.NewLinear(1600, 128), nn.NewReLU(), nn.NewLinear(128, 10))
	stepBench(b, m, tensor.Randn(128, 1, 28, 28), tensor.RandInt(0, 10, 128), 0, "")
}

func BenchmarkGPUResNet18Step(b *testing.B) {
	gpu(b)
	tensor.ManualSeed(1)
	m := zoo.ResNet18(zoo.ResNetConfig{NumClasses: 1000})
	stepBench(b, m, tensor.Randn(64, 3, 224, 224), tensor.RandInt(0, 1000, 64), 64, "img/s")
}
