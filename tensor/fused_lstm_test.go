package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// lstmCase is one FusedLSTM problem: T steps of a batch of B, hidden H.
type lstmCase struct {
	steps, batch, hidden int
	reverse              bool
}

// lstmInputs draws gx, h0, c0 and W_hh (all requiring grad) and the
// output gradients for c, in dtype dt.
func lstmInputs(g *tensor.Generator, dt tensor.DType, c lstmCase) (in, gs []*tensor.Tensor) {
	rows := c.steps * c.batch
	draw := func(shape ...int) *tensor.Tensor { return g.Normal(dt, 0, 1, shape...) }
	in = []*tensor.Tensor{
		draw(rows, 4*c.hidden).SetRequiresGrad(true),
		draw(c.batch, c.hidden).SetRequiresGrad(true),
		draw(c.batch, c.hidden).SetRequiresGrad(true),
		draw(4*c.hidden, c.hidden).MulScalar(0.5).Detach().SetRequiresGrad(true),
	}
	gs = []*tensor.Tensor{draw(rows, c.hidden), draw(c.batch, c.hidden)}
	return in, gs
}

// lstmRun is FusedLSTM's outputs and the gradients of its four inputs
// for output gradients gs, with the fused kernels on or off.
func lstmRun(t *testing.T, fused bool, in, gs []*tensor.Tensor, reverse bool) []*tensor.Tensor {
	t.Helper()
	defer tensor.SetLSTMFused(tensor.SetLSTMFused(fused))
	out, cN := tensor.FusedLSTM(in[0], in[1], in[2], in[3], reverse)
	grads := autograd.Grad([]*tensor.Tensor{out, cN}, in, gs, autograd.GradOptions{})
	return append([]*tensor.Tensor{out.Detach(), cN.Detach()}, grads...)
}

// TestFusedLSTMMatchesComposed checks the fused kernels, forward and
// backward, against the same recurrence in composed ops (each of which
// has its own gradcheck), over sizes that exercise the vector tails (H
// not a multiple of 16), one row, one step, both directions, and a batch
// large enough to split over threads.
func TestFusedLSTMMatchesComposed(t *testing.T) {
	names := []string{"out", "cN", "dgx", "dh0", "dc0", "dW_hh"}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 2e-5
		}
		for _, c := range []lstmCase{
			{1, 1, 1, false}, {1, 1, 1, true}, {3, 2, 5, false}, {3, 2, 5, true},
			{4, 3, 17, false}, {2, 1, 33, true}, {5, 4, 16, false}, {3, 32, 256, false}, {2, 19, 130, true},
		} {
			t.Run(fmt.Sprintf("%v/T%d_B%d_H%d_rev%v", dt, c.steps, c.batch, c.hidden, c.reverse), func(t *testing.T) {
				in, gs := lstmInputs(tensor.NewGenerator(7), dt, c)
				got := lstmRun(t, true, in, gs, c.reverse)
				want := lstmRun(t, false, in, gs, c.reverse)
				for i := range want {
					g, w := got[i].Float64s(), want[i].Float64s()
					if len(g) != len(w) {
						t.Fatalf("%s: %d elements, want %d", names[i], len(g), len(w))
					}
					for j := range w {
						if d := math.Abs(g[j] - w[j]); !(d <= tol*(1+math.Abs(w[j]))) {
							t.Fatalf("%s[%d] = %v, composed %v", names[i], j, g[j], w[j])
						}
					}
				}
			})
		}
	}
}

// TestFusedLSTMGradCheck checks FusedLSTM's gradients, and with GradGrad
// its gradients of gradients (the composed backward under CreateGraph),
// against finite differences in float64.
func TestFusedLSTMGradCheck(t *testing.T) {
	for _, c := range []lstmCase{{3, 2, 3, false}, {2, 3, 2, true}, {1, 1, 2, false}} {
		t.Run(fmt.Sprintf("T%d_B%d_H%d_rev%v", c.steps, c.batch, c.hidden, c.reverse), func(t *testing.T) {
			in, _ := lstmInputs(tensor.NewGenerator(3), tensor.Float64, c)
			f := func(in []*tensor.Tensor) *tensor.Tensor {
				out, cN := tensor.FusedLSTM(in[0], in[1], in[2], in[3], c.reverse)
				return tensor.Cat([]*tensor.Tensor{out.Reshape(-1), cN.Reshape(-1)}, 0)
			}
			if err := autograd.GradCheck(f, in, autograd.GradCheckOptions{GradGrad: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFusedLSTMNoGrad checks that inputs needing no gradient (a constant
// initial state, a frozen weight) get none, and the others still do.
func TestFusedLSTMNoGrad(t *testing.T) {
	c := lstmCase{3, 2, 4, false}
	in, gs := lstmInputs(tensor.NewGenerator(9), tensor.Float32, c)
	h0, c0 := in[1].Detach(), in[2].Detach()
	out, cN := tensor.FusedLSTM(in[0], h0, c0, in[3], false)
	g := autograd.Grad([]*tensor.Tensor{out, cN}, []*tensor.Tensor{in[0], in[3]}, gs, autograd.GradOptions{})
	want := lstmRun(t, false, []*tensor.Tensor{in[0], h0.SetRequiresGrad(true), c0.SetRequiresGrad(true), in[3]}, gs, false)
	for i, w := range []*tensor.Tensor{want[2], want[5]} {
		gv, wv := g[i].Float64s(), w.Float64s()
		for j := range wv {
			if math.Abs(gv[j]-wv[j]) > 1e-5*(1+math.Abs(wv[j])) {
				t.Fatalf("gradient %d [%d] = %v, composed %v", i, j, gv[j], wv[j])
			}
		}
	}
	x := tensor.Randn(6, 16)
	if y, _ := tensor.FusedLSTM(x, tensor.Zeros(2, 4), tensor.Zeros(2, 4), tensor.Randn(16, 4), true); y.RequiresGrad() {
		t.Fatal("output of inputs without grad requires grad")
	}
}
