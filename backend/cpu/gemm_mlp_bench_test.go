package cpu

import "testing"

// BenchmarkSgemmMLP runs the float32 products of one training step of
// bench's 784-512-512-10 perceptron at batch 128 (BenchmarkMLPModuleStep)
// one at a time, at one thread, in the layouts the step uses: the
// forward x·Wᵀ (B column-major), the input gradients g·W (row-major) and
// the weight gradients gᵀ·x (A column-major, k = 128).
func BenchmarkSgemmMLP(b *testing.B) {
	benchShapes(b, []gemmShape{
		{128, 512, 784, false, true, "fwd1"},
		{128, 512, 512, false, true, "fwd2"},
		{128, 10, 512, false, true, "fwd3"},
		{128, 512, 10, false, false, "dx3"},
		{128, 512, 512, false, false, "dx2"},
		{10, 512, 128, true, false, "dw3"},
		{512, 512, 128, true, false, "dw2"},
		{512, 784, 128, true, false, "dw1"},
	})
}

// BenchmarkSgemmMLPRaw is BenchmarkSgemmMLP in the layouts of bench's
// raw-op step (BenchmarkMLPStep), whose weights are stored [in, out]:
// the forward x·W (both row-major), the input gradients g·Wᵀ (B
// column-major) and the weight gradients xᵀ·g (A column-major, k = 128).
// The first layer's input needs no gradient.
func BenchmarkSgemmMLPRaw(b *testing.B) {
	benchShapes(b, []gemmShape{
		{128, 512, 784, false, false, "fwd1"},
		{128, 512, 512, false, false, "fwd2"},
		{128, 10, 512, false, false, "fwd3"},
		{128, 512, 10, false, true, "dx3"},
		{128, 512, 512, false, true, "dx2"},
		{512, 10, 128, true, false, "dw3"},
		{512, 512, 128, true, false, "dw2"},
		{784, 512, 128, true, false, "dw1"},
	})
}
