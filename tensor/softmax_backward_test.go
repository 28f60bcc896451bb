package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// TestSoftmaxBackwardFused checks the fused softmax and log-softmax
// backward against the composed rule (whose gradcheck is in the op
// tables), over row lengths 1…40 (the vector tails), a batch of rows
// large enough to split over threads, empty tensors, and inputs the
// fused path must leave to the composed rule (another dim, a transposed
// gradient).
func TestSoftmaxBackwardFused(t *testing.T) {
	var shapes [][]int
	for n := 1; n <= 40; n++ {
		shapes = append(shapes, []int{1 + n%3, n})
	}
	shapes = append(shapes, []int{0, 5}, []int{4, 0}, []int{2, 4, 64, 128}, []int{3, 2, 7})
	type variant struct {
		log        bool
		dim        int
		transposeG bool
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		tol := 1e-13
		if dt == tensor.Float32 {
			tol = 2e-6
		}
		for _, sh := range shapes {
			for _, v := range []variant{{false, -1, false}, {true, -1, false}, {false, 0, false}, {true, -1, true}} {
				t.Run(fmt.Sprintf("%v/%v/%+v", dt, sh, v), func(t *testing.T) {
					gen := tensor.NewGenerator(11)
					x := gen.Normal(dt, 0, 2, sh...).SetRequiresGrad(true)
					g := gen.Normal(dt, 0, 1, sh...)
					if v.transposeG && len(sh) >= 2 {
						rev := append([]int(nil), sh...)
						rev[0], rev[len(rev)-1] = rev[len(rev)-1], rev[0]
						g = gen.Normal(dt, 0, 1, rev...).Transpose(0, -1)
					}
					grad := func(fused bool) []float64 {
						defer tensor.SetSoftmaxFused(tensor.SetSoftmaxFused(fused))
						y := x.Softmax(v.dim)
						if v.log {
							y = x.LogSoftmax(v.dim)
						}
						return autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{})[0].Float64s()
					}
					got, want := grad(true), grad(false)
					for i := range want {
						if d := math.Abs(got[i] - want[i]); !(d <= tol*(1+math.Abs(want[i]))) {
							t.Fatalf("grad[%d] = %v, composed %v", i, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// TestSoftmaxBackwardGradGrad checks first and second derivatives of
// softmax and log-softmax (fused first backward, composed under
// CreateGraph) against finite differences.
func TestSoftmaxBackwardGradGrad(t *testing.T) {
	for _, log := range []bool{false, true} {
		x := tensor.NewGenerator(2).Normal(tensor.Float64, 0, 1, 3, 5).SetRequiresGrad(true)
		f := func(in []*tensor.Tensor) *tensor.Tensor {
			if log {
				return in[0].LogSoftmax(-1).Mul(in[0])
			}
			return in[0].Softmax(-1).Mul(in[0])
		}
		if err := autograd.GradCheck(f, []*tensor.Tensor{x}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
			t.Fatalf("log %v: %v", log, err)
		}
	}
}

// BenchmarkSoftmaxBackward times the backward of softmax over attention
// scores [16, 4, 128, 128] (the bench Transformer layer's), fused and
// composed.
func BenchmarkSoftmaxBackward(b *testing.B) {
	x := tensor.Randn(16, 4, 128, 128).SetRequiresGrad(true)
	g := tensor.Randn(16, 4, 128, 128)
	for _, fused := range []bool{true, false} {
		b.Run(fmt.Sprintf("fused=%v", fused), func(b *testing.B) {
			defer tensor.SetSoftmaxFused(tensor.SetSoftmaxFused(fused))
			for b.Loop() {
				y := x.Softmax(-1)
				autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{})
			}
		})
	}
}

// BenchmarkFusedLSTM times forward and backward of the bench LSTM's
// recurrence (64 steps, batch 32, hidden 256), fused and composed.
func BenchmarkFusedLSTM(b *testing.B) {
	in, gs := lstmInputs(tensor.NewGenerator(1), tensor.Float32, lstmCase{64, 32, 256, false})
	for _, fused := range []bool{true, false} {
		b.Run(fmt.Sprintf("fused=%v", fused), func(b *testing.B) {
			defer tensor.SetLSTMFused(tensor.SetLSTMFused(fused))
			for b.Loop() {
				out, cN := tensor.FusedLSTM(in[0], in[1], in[2], in[3], false)
				autograd.Grad([]*tensor.Tensor{out, cN}, in, gs, autograd.GradOptions{})
			}
		})
	}
}
