package cuda_test

import (
	"math"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo"
)

// relErr is ‖got − want‖ / ‖want‖ over two tensors (any device), in
// float64; NaN anywhere gives +Inf.
func relErr(got, want *tensor.Tensor) float64 {
	g, w := got.ToDevice(tensor.CPU).Float64s(), want.ToDevice(tensor.CPU).Float64s()
	if len(g) != len(w) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range g {
		if math.IsNaN(g[i]) || math.IsNaN(w[i]) {
			return math.Inf(1)
		}
		d := g[i] - w[i]
		num += d * d
		den += w[i] * w[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// twin builds the same module twice from one seed: one stays on the CPU,
// the other moves to cuda:0.
func twin[M nn.Module](mk func() M) (host, dev M) {
	tensor.ManualSeed(7)
	host = mk()
	tensor.ManualSeed(7)
	dev = mk()
	nn.ToDevice(dev, tensor.CUDA(0))
	return host, dev
}

// TestGPUMLPTrainingMatchesCPU trains the 784-512-512-10 MLP for a few SGD
// steps on each device from the same weights and data: losses, gradients
// and the final weights agree within float32 rounding of the two
// summation orders.
func TestGPUMLPTrainingMatchesCPU(t *testing.T) {
	gpu(t)
	mk := func() *nn.Sequential {
		return nn.NewSequential(nn.NewLinear(784, 512), nn.NewReLU(), nn.NewLinear(512, 512), nn.NewReLU(), nn.NewLinear(512, 10))
	}
	host, dev := twin(mk)
	hopt := optim.NewSGD(nn.Parameters(host), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
	dopt := optim.NewSGD(nn.Parameters(dev), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
	for step := 0; step < 5; step++ {
		x := tensor.Randn(128, 784)
		y := tensor.RandInt(0, 10, 128)
		var losses [2]*tensor.Tensor
		for i, m := range []*nn.Sequential{host, dev} {
			opt := []optim.Optimizer{hopt, dopt}[i]
			xi, yi := x, y
			if i == 1 {
				xi, yi = x.ToDevice(tensor.CUDA(0)), y.ToDevice(tensor.CUDA(0))
			}
			opt.ZeroGrad()
			loss := F.CrossEntropy(nn.Call(m, xi), yi)
			loss.Backward()
			opt.Step()
			losses[i] = loss
		}
		if d := losses[1].Device(); d != tensor.CUDA(0) {
			t.Fatalf("the loss is on %v, want cuda:0", d)
		}
		if e := relErr(losses[1], losses[0]); e > 1e-4 {
			t.Fatalf("step %d: loss %v on the GPU, %v on the CPU (rel. error %.2g)", step, losses[1].Item(), losses[0].Item(), e)
		}
	}
	hp, dp := nn.Parameters(host), nn.Parameters(dev)
	for i := range hp {
		if e := relErr(dp[i].Grad(), hp[i].Grad()); e > 1e-4 {
			t.Errorf("parameter %d: gradient rel. error %.2g", i, e)
		}
		if e := relErr(dp[i].Tensor, hp[i].Tensor); e > 1e-5 {
			t.Errorf("parameter %d: weights after 5 steps, rel. error %.2g", i, e)
		}
	}
}

// TestGPUResNet18MatchesCPU runs a ResNet-18 forward and backward in
// training mode on each device: the logits and every parameter's
// gradient agree.
func TestGPUResNet18MatchesCPU(t *testing.T) {
	gpu(t)
	host, dev := twin(func() *zoo.ResNet { return zoo.ResNet18(zoo.ResNetConfig{NumClasses: 10}) })
	x := tensor.Randn(4, 3, 64, 64)
	y := tensor.RandInt(0, 10, 4)
	hout := nn.Call(host, x)
	dout := nn.Call(dev, x.ToDevice(tensor.CUDA(0)))
	if e := relErr(dout, hout); e > 1e-4 {
		t.Fatalf("logits rel. error %.2g", e)
	}
	F.CrossEntropy(hout, y).Backward()
	F.CrossEntropy(dout, y.ToDevice(tensor.CUDA(0))).Backward()
	hp, dp := nn.Parameters(host), nn.Parameters(dev)
	worst := 0.0
	for i := range hp {
		e := relErr(dp[i].Grad(), hp[i].Grad())
		worst = math.Max(worst, e)
		if e > 1e-3 {
			t.Errorf("parameter %d %v: gradient rel. error %.2g", i, hp[i].Shape(), e)
		}
	}
	t.Logf("worst gradient rel. error over %d parameters: %.2g", len(hp), worst)
}

// TestGPUTrainingSteadyState trains the MLP for 1,000 steps: after a
// warm-up the caching allocator serves every step (no driver
// allocation), and device memory in use does not grow.
func TestGPUTrainingSteadyState(t *testing.T) {
	g := gpu(t)
	if testing.Short() {
		t.Skip("1,000 training steps")
	}
	tensor.ManualSeed(3)
	m := nn.NewSequential(nn.NewLinear(784, 512), nn.NewReLU(), nn.NewLinear(512, 512), nn.NewReLU(), nn.NewLinear(512, 10))
	nn.ToDevice(m, tensor.CUDA(0))
	opt := optim.NewSGD(nn.Parameters(m), optim.SGDConfig{LR: 0.01, Momentum: 0.9})
	x := tensor.Randn(128, 784).ToDevice(tensor.CUDA(0))
	y := tensor.RandInt(0, 10, 128).ToDevice(tensor.CUDA(0))
	const warm, steps = 200, 1000
	var allocsAtWarm int
	var peakEarly, peakLate uint64
	for i := 1; i <= steps; i++ {
		opt.ZeroGrad()
		loss := F.CrossEntropy(nn.Call(m, x), y)
		loss.Backward()
		opt.Step()
		if l := loss.Item(); math.IsNaN(l) {
			t.Fatalf("step %d: loss NaN", i)
		}
		inUse, cached, allocs := g.MemoryStats()
		switch {
		case i == warm:
			allocsAtWarm = allocs
			t.Logf("step %d: %d driver allocations, %d B in use, %d B cached", i, allocs, inUse, cached)
		case i > warm && i <= 2*warm:
			peakEarly = max(peakEarly, inUse)
		case i > steps-warm:
			peakLate = max(peakLate, inUse)
		}
		if i == steps {
			t.Logf("step %d: %d driver allocations, %d B in use, %d B cached", i, allocs, inUse, cached)
			if allocs != allocsAtWarm {
				t.Errorf("%d driver allocations in steps %d–%d, want 0", allocs-allocsAtWarm, warm+1, steps)
			}
		}
	}
	t.Logf("peak bytes in use: steps %d–%d %d, steps %d–%d %d", warm+1, 2*warm, peakEarly, steps-warm+1, steps, peakLate)
	if peakLate > peakEarly+peakEarly/4 {
		t.Errorf("device memory in use grew: peak %d B in steps %d–%d, %d B in the last %d", peakEarly, warm+1, 2*warm, peakLate, warm)
	}
}
