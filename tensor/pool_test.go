package tensor_test

import (
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/backend/cpu"
	"github.com/tapir-ml/tapir/tensor"
)

// Backward hands the gradient buffers it consumed back to the CPU pool,
// and a training loop that repeats its shapes is then served from it.
func TestBackwardRecyclesBuffers(t *testing.T) {
	g := tensor.NewGenerator(4)
	w1 := g.Normal(tensor.Float32, 0, 0.1, 64, 128).SetRequiresGrad(true) // 32 KiB: pooled
	w2 := g.Normal(tensor.Float32, 0, 0.1, 128, 64).SetRequiresGrad(true)
	x := g.Normal(tensor.Float32, 0, 1, 32, 64)
	step := func() {
		loss := x.MatMul(w1).Tanh().MatMul(w2).Square().Mean()
		loss.Backward()
		autograd.NoGrad(func() {
			w1.AddScaledIn(w1.Grad(), -0.01)
			w2.AddScaledIn(w2.Grad(), -0.01)
		})
		w1.ZeroGrad()
		w2.ZeroGrad()
	}
	step()
	before := cpu.Stats()
	loss := x.MatMul(w1).Tanh().MatMul(w2).Square().Mean()
	mid := cpu.Stats()
	loss.Backward()
	after := cpu.Stats()
	if after.Released <= mid.Released {
		t.Fatalf("backward released no buffers (released %d → %d)", mid.Released, after.Released)
	}
	for i := 0; i < 20; i++ {
		step()
	}
	end := cpu.Stats()
	if end.Hits-before.Hits == 0 {
		t.Fatal("a repeated training step never reused a pooled buffer")
	}
	t.Logf("per step: %d hits, %d misses", (end.Hits-after.Hits)/20, (end.Misses-after.Misses)/20)
}
