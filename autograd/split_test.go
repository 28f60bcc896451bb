package autograd_test

import (
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// The pieces of a Split are views recorded as one node, and the
// gradient they send back is built by one Cat (not one full-size
// scatter per piece), with zeros in place of unused pieces.
func TestSplitBackwardIsOneCat(t *testing.T) {
	x := tensor.Arange(0, 12, 1).To(tensor.Float64).Reshape(3, 4).SetRequiresGrad(true)
	ps := x.Split(1, 1)
	if len(ps) != 4 {
		t.Fatalf("%d pieces, want 4", len(ps))
	}
	fn := ps[0].GradFn()
	for i, p := range ps {
		if p.GradFn() != fn {
			t.Fatalf("piece %d has its own grad_fn %s", i, p.GradFn().Name())
		}
		if !p.SharesStorage(x) {
			t.Fatalf("piece %d is not a view of x", i)
		}
		for r := 0; r < 3; r++ {
			if got, want := p.At(r, 0), x.At(r, i); got != want {
				t.Fatalf("piece %d row %d = %v, want %v", i, r, got, want)
			}
		}
	}
	if fn.Name() != "SplitBackward0" {
		t.Fatalf("grad_fn %s, want SplitBackward0", fn.Name())
	}
	// pieces 0 and 2 used (piece 0 squared, so its gradient is recorded
	// with CreateGraph); pieces 1 and 3 unused
	y := ps[0].Square().Sum().Add(ps[2].MulScalar(3).Sum())
	g := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, nil, autograd.GradOptions{CreateGraph: true})[0]
	if g.GradFn() == nil || g.GradFn().Op() != "Cat" {
		t.Fatalf("the gradient was not made by one Cat (grad_fn %v)", g.GradFn())
	}
	want := []float64{0, 0, 3, 0, 8, 0, 3, 0, 16, 0, 3, 0} // 2·x[r,0] = 0, 8, 16
	for i, v := range g.Float64s() {
		if v != want[i] {
			t.Fatalf("gradient %v, want %v", g.Float64s(), want)
		}
	}
}

// Backward through Split accumulates into the leaf like any other op,
// and Chunk, Split and SplitSizes agree on the pieces.
func TestSplitVariants(t *testing.T) {
	x := tensor.Arange(0, 10, 1).To(tensor.Float32).SetRequiresGrad(true)
	sizes := func(ps []*tensor.Tensor) []int {
		var s []int
		for _, p := range ps {
			s = append(s, p.Size(0))
		}
		return s
	}
	for _, c := range []struct {
		name string
		ps   []*tensor.Tensor
		want []int
	}{
		{"chunk4", x.Chunk(4, 0), []int{3, 3, 3, 1}},
		{"split4", x.Split(4, 0), []int{4, 4, 2}},
		{"sizes", x.SplitSizes([]int{1, 0, 9}, 0), []int{1, 0, 9}},
		{"split_big", x.Split(20, 0), []int{10}},
	} {
		got := sizes(c.ps)
		if len(got) != len(c.want) {
			t.Fatalf("%s: sizes %v, want %v", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%s: sizes %v, want %v", c.name, got, c.want)
			}
		}
	}
	ps := x.Split(4, 0)
	ps[2].Sum().Backward()
	want := []float32{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}
	for i, v := range x.Grad().Float32s() {
		if v != want[i] {
			t.Fatalf("grad %v, want %v", x.Grad().Float32s(), want)
		}
	}
	if err := tensor.Try(func() { x.SplitSizes([]int{3, 3}, 0) }); err == nil {
		t.Fatal("SplitSizes accepted sizes that do not add up")
	}
	// in place on a piece while recording is refused (a view)
	y := x.MulScalar(1)
	if err := tensor.Try(func() { y.Split(5, 0)[0].AddScalarIn(1) }); err == nil {
		t.Fatal("in-place write to a recorded split piece was allowed")
	}
}
