package bench

import (
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// The Benchmark names map to the workload names of torch_bench.py in
// report.py; keep the two lists in step.

// sink keeps results alive so the compiler cannot drop the work.
var sink *tensor.Tensor

// tiny returns two [16] tensors, 1…16 and 17…32.
func tiny() (a, b *tensor.Tensor) {
	x, y := make([]float32, 16), make([]float32, 16)
	for i := range x {
		x[i], y[i] = float32(i+1), float32(i+17)
	}
	return tensor.FromSlice(x), tensor.FromSlice(y)
}

// BenchmarkAddTiny is the fixed cost of one elementwise op: a.Add(b) on
// two [16] tensors, neither requiring grad, so nothing is recorded.
func BenchmarkAddTiny(b *testing.B) {
	x, y := tiny()
	b.ReportAllocs()
	for b.Loop() {
		sink = x.Add(y)
	}
}

// BenchmarkAddTinyGrad is AddTiny with x requiring grad, so each Add also
// records a graph node (dropped unused each iteration).
func BenchmarkAddTinyGrad(b *testing.B) {
	x, y := tiny()
	x.SetRequiresGrad(true)
	b.ReportAllocs()
	for b.Loop() {
		sink = x.Add(y)
	}
}

// BenchmarkMatMulTiny is a 4×4 by 4×4 MatMul without grad.
func BenchmarkMatMulTiny(b *testing.B) {
	x, y := tensor.Randn(4, 4), tensor.Randn(4, 4)
	b.ReportAllocs()
	for b.Loop() {
		sink = x.MatMul(y)
	}
}

// BenchmarkMatMul1024 is a 1024³ float32 matrix product; it reports
// GFLOP/s, counting 2n³ floating-point operations per product.
func BenchmarkMatMul1024(b *testing.B) {
	const n = 1024
	x, y := tensor.Randn(n, n), tensor.Randn(n, n)
	sink = x.MatMul(y) // warm the pools and the code paths
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sink = x.MatMul(y)
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm256 … BenchmarkSgemm2048 are n×n by n×n float32 MatMuls
// (the SGEMM rows, against torch.mm); each reports GFLOP/s, counting 2n³
// floating-point operations per product.
func BenchmarkSgemm256(b *testing.B)  { benchSgemm(b, 256) }
func BenchmarkSgemm512(b *testing.B)  { benchSgemm(b, 512) }
func BenchmarkSgemm1024(b *testing.B) { benchSgemm(b, 1024) }
func BenchmarkSgemm2048(b *testing.B) { benchSgemm(b, 2048) }

func benchSgemm(b *testing.B, n int) {
	x, y := tensor.Randn(n, n), tensor.Randn(n, n)
	// Warm up past the buffer pool's first collections: until then every
	// result is fresh memory from the OS (page faults: about 0.8 ms per
	// 1 MB result), which at 512³ is a quarter of a product's time. The
	// pool recycles results once a collection has seen them dead, after
	// 8 MiB of requests or more (backend/cpu's minGCDebt), so 128 MB of
	// results (at least 3 products) reach the steady state that
	// torch_bench.py's warm-up reaches in its caching allocator.
	for range max(3, (128<<20)/(4*n*n)) {
		sink = x.MatMul(y)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sink = x.MatMul(y)
	}
	b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// mlp is the 784-512-512-10 perceptron, as raw tensors.
type mlp struct {
	w1, b1, w2, b2, w3, b3 *tensor.Tensor
}

// param draws a [shape] tensor uniformly in ±1/√fanIn (torch.nn.Linear's
// default range) that requires grad.
func param(fanIn int, shape ...int) *tensor.Tensor {
	bound := 1 / math.Sqrt(float64(fanIn))
	return tensor.Rand(shape...).MulScalar(2 * bound).SubScalar(bound).SetRequiresGrad(true)
}

func newMLP() *mlp {
	return &mlp{
		w1: param(784, 784, 512), b1: param(784, 512),
		w2: param(512, 512, 512), b2: param(512, 512),
		w3: param(512, 512, 10), b3: param(512, 10),
	}
}

func (m *mlp) params() []*tensor.Tensor {
	return []*tensor.Tensor{m.w1, m.b1, m.w2, m.b2, m.w3, m.b3}
}

// loss is the mean negative log-likelihood of labels y (Int64 [batch])
// under log_softmax of the network's logits for x ([batch, 784]).
func (m *mlp) loss(x, y *tensor.Tensor) *tensor.Tensor {
	h := x.MatMul(m.w1).Add(m.b1).ReLU()
	h = h.MatMul(m.w2).Add(m.b2).ReLU()
	logp := h.MatMul(m.w3).Add(m.b3).LogSoftmax(1)
	return logp.Gather(1, y.Unsqueeze(1)).Mean().Neg()
}

// step runs forward, backward and an SGD update with learning rate lr,
// and returns the loss before the update.
func (m *mlp) step(x, y *tensor.Tensor, lr float64) float64 {
	l := m.loss(x, y)
	l.Backward()
	autograd.NoGrad(func() {
		for _, p := range m.params() {
			p.AddScaledIn(p.Grad(), -lr)
			p.ZeroGrad()
		}
	})
	return l.Item()
}

func batch(n int) (x, y *tensor.Tensor) {
	return tensor.Randn(n, 784), tensor.RandInt(0, 10, n)
}

// BenchmarkMLPStep is one training step of the MLP at batch 128; it
// reports ms/step.
func BenchmarkMLPStep(b *testing.B) {
	tensor.ManualSeed(1)
	m := newMLP()
	x, y := batch(128)
	for range 2 { // warm-up
		m.step(x, y, 0.01)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.step(x, y, 0.01)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
}

// TestMLPLossDecreases checks that the benchmarked step is real work: on
// a fixed batch of 16, three SGD steps lower the loss each time, the
// first loss is near ln 10 (the init is nearly uniform) and every
// parameter gets a non-zero gradient.
func TestMLPLossDecreases(t *testing.T) {
	tensor.ManualSeed(7)
	m := newMLP()
	x, y := batch(16)

	l := m.loss(x, y)
	l.Backward()
	for i, p := range m.params() {
		g := p.Grad()
		if g == nil {
			t.Fatalf("parameter %d has no gradient", i)
		}
		if s := g.Abs().Sum().Item(); !(s > 0) {
			t.Fatalf("parameter %d has gradient L1 norm %v", i, s)
		}
		p.ZeroGrad()
	}
	if v := l.Item(); math.Abs(v-math.Log(10)) > 0.5 {
		t.Fatalf("initial loss %v, want about ln 10 = %.3f", v, math.Log(10))
	}

	var losses []float64
	for range 3 {
		losses = append(losses, m.step(x, y, 0.01))
	}
	var final float64
	autograd.NoGrad(func() { final = m.loss(x, y).Item() })
	losses = append(losses, final)
	t.Logf("losses: %v", losses)
	for i := 1; i < len(losses); i++ {
		if !(losses[i] < losses[i-1]) {
			t.Fatalf("loss did not decrease at step %d: %v", i, losses)
		}
	}
}
