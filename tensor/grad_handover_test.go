package tensor_test

import (
	"math"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// TestLinearGradHandOver: Linear's weight gradient reaches the leaf
// through the transpose x·Wᵀ takes of it, and its bias gradient through
// a reshape of a column sum; the engine hands those fresh buffers to the
// leaves. The values must match a float64 reference, accumulate over a
// second backward, and never alias a gradient anyone else holds: a
// retained gradient of the transposed view, or the caller's own
// gradient passed to BackwardWith.
func TestLinearGradHandOver(t *testing.T) {
	gen := tensor.NewGenerator(8)
	const n, in, out = 5, 7, 3
	x := gen.Normal(tensor.Float32, 0, 1, n, in)
	w := gen.Normal(tensor.Float32, 0, 1, out, in).SetRequiresGrad(true)
	b := gen.Normal(tensor.Float32, 0, 1, out).SetRequiresGrad(true)
	g := gen.Normal(tensor.Float32, 0, 1, n, out)
	xv, gv := x.Float64s(), g.Float64s()
	wantW := make([]float64, out*in)
	wantB := make([]float64, out)
	for i := range n {
		for o := range out {
			wantB[o] += gv[i*out+o]
			for k := range in {
				wantW[o*in+k] += gv[i*out+o] * xv[i*in+k]
			}
		}
	}
	check := func(step int, p *tensor.Tensor, want []float64) {
		t.Helper()
		got := p.Grad().Float64s()
		for i := range want {
			if math.Abs(got[i]-float64(step)*want[i]) > 1e-4 {
				t.Fatalf("backward %d: grad element %d is %v, want %v", step, i, got[i], float64(step)*want[i])
			}
		}
	}
	// nothing retained: both leaves get the engine's own buffers
	copies := tensor.LeafCopies()
	x.MatMul(w.T()).Add(b).BackwardWith(g)
	if n := tensor.LeafCopies() - copies; n != 0 {
		t.Errorf("%d leaf gradients were copied, want 0", n)
	}
	check(1, w, wantW)
	check(1, b, wantB)
	w.ZeroGrad()
	b.ZeroGrad()

	wt := w.T()
	wt.RetainGrad()
	y := x.MatMul(wt).Add(b)
	y.BackwardWith(g)
	check(1, w, wantW)
	check(1, b, wantB)
	if tensor.SharesStorageWithGrad(w, wt.Grad()) {
		t.Fatal("the weight's grad shares storage with the retained grad of its transpose")
	}
	retained := wt.Grad().Float64s()
	x.MatMul(w.T()).Add(b).BackwardWith(g)
	check(2, w, wantW)
	check(2, b, wantB)
	if i, ok := sameFloats(wt.Grad().Float64s(), retained); !ok {
		t.Fatalf("the retained grad changed at element %d when the weight's grad accumulated", i)
	}

	// the caller's gradient reaches the leaf through views only: the
	// leaf must get a copy
	v := gen.Normal(tensor.Float32, 0, 1, 4, 6).SetRequiresGrad(true)
	gu := gen.Normal(tensor.Float32, 0, 1, 3, 8)
	v.T().Reshape(3, 8).BackwardWith(gu)
	if tensor.SharesStorageWithGrad(v, gu) {
		t.Fatal("the leaf's grad shares storage with the caller's gradient")
	}
	before := gu.Float64s()
	v.T().Reshape(3, 8).BackwardWith(gu)
	if i, ok := sameFloats(gu.Float64s(), before); !ok {
		t.Fatalf("accumulating into the leaf's grad changed the caller's gradient at element %d", i)
	}
}
