package functional_test

import (
	"math"
	"slices"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestLinearGradCheck(t *testing.T) {
	g := tensor.NewGenerator(2)
	runGradChecks(t, []gcCase{
		{"Linear", func(in []*tensor.Tensor) *tensor.Tensor { return F.Linear(in[0], in[1], in[2]) },
			[]*tensor.Tensor{leaf(g, 1, 0, 2, 3, 4), leaf(g, 1, 0, 2, 4), leaf(g, 1, 0, 2)}},
		{"Bilinear", func(in []*tensor.Tensor) *tensor.Tensor { return F.Bilinear(in[0], in[1], in[2], in[3]) },
			[]*tensor.Tensor{leaf(g, 1, 0, 3, 2), leaf(g, 1, 0, 3, 3), leaf(g, 1, 0, 2, 2, 3), leaf(g, 1, 0, 2)}},
	})
}

// Bilinear against its defining sum, y[n,k] = Σ_ij x1[n,i]·W[k,i,j]·x2[n,j] + b[k].
func TestBilinearLoop(t *testing.T) {
	g := tensor.NewGenerator(3)
	x1, x2 := g.Normal(tensor.Float64, 0, 1, 4, 3), g.Normal(tensor.Float64, 0, 1, 4, 2)
	w, b := g.Normal(tensor.Float64, 0, 1, 5, 3, 2), g.Normal(tensor.Float64, 0, 1, 5)
	got := F.Bilinear(x1, x2, w, b).Float64s()
	a, c, wv, bv := x1.Float64s(), x2.Float64s(), w.Float64s(), b.Float64s()
	for n := 0; n < 4; n++ {
		for k := 0; k < 5; k++ {
			want := bv[k]
			for i := 0; i < 3; i++ {
				for j := 0; j < 2; j++ {
					want += a[n*3+i] * wv[k*6+i*2+j] * c[n*2+j]
				}
			}
			if d := got[n*5+k] - want; !(math.Abs(d) <= 1e-12) {
				t.Fatalf("y[%d,%d] = %v, want %v", n, k, got[n*5+k], want)
			}
		}
	}
}

func TestLinearPanics(t *testing.T) {
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"features", "linear: input [2 3] and weight [4 5]: input features must be 5",
			func() { F.Linear(tensor.Zeros(2, 3), tensor.Zeros(4, 5), nil) }},
		{"bias", "linear: bias [3] does not fit weight [4 3]: want [4]",
			func() { F.Linear(tensor.Zeros(2, 3), tensor.Zeros(4, 3), tensor.Zeros(3)) }},
		{"weight rank", "linear: weight must be 2-d [out, in], not [3]",
			func() { F.Linear(tensor.Zeros(2, 3), tensor.Zeros(3), nil) }},
		{"bilinear leading", "bilinear: inputs [2 3] and [3 2] do not fit weight [4 3 2]",
			func() { F.Bilinear(tensor.Zeros(2, 3), tensor.Zeros(3, 2), tensor.Zeros(4, 3, 2), nil) }},
	} {
		t.Run(c.name, func(t *testing.T) { expectPanic(t, c.want, c.f) })
	}
}

// Linear on inputs with several leading dims or none (folded into rows
// for the one-op path), one of them a permuted view, against its
// defining sum.
func TestLinearLeadingDimsLoop(t *testing.T) {
	g := tensor.NewGenerator(4)
	w, b := g.Normal(tensor.Float64, 0, 1, 5, 4), g.Normal(tensor.Float64, 0, 1, 5)
	for _, x := range []*tensor.Tensor{
		g.Normal(tensor.Float64, 0, 1, 2, 3, 4),
		g.Normal(tensor.Float64, 0, 1, 3, 2, 4).Permute(1, 0, 2),
		g.Normal(tensor.Float64, 0, 1, 2, 1, 3, 4),
		g.Normal(tensor.Float64, 0, 1, 0, 3, 4),
		g.Normal(tensor.Float64, 0, 1, 4), // one row, a 1-d result
	} {
		y := F.Linear(x, w, b)
		lead := x.Shape()[:x.Dim()-1]
		if want := append(append([]int{}, lead...), 5); !slices.Equal(y.Shape(), want) {
			t.Fatalf("Linear(%v): shape %v, want %v", x.Shape(), y.Shape(), want)
		}
		xv, wv, bv, got := x.Contiguous().Float64s(), w.Float64s(), b.Float64s(), y.Float64s()
		for r := 0; r < len(xv)/4; r++ {
			for k := 0; k < 5; k++ {
				want := bv[k]
				for i := 0; i < 4; i++ {
					want += xv[r*4+i] * wv[k*4+i]
				}
				if d := got[r*5+k] - want; !(math.Abs(d) <= 1e-12) {
					t.Fatalf("Linear(%v): row %d out %d = %v, want %v", x.Shape(), r, k, got[r*5+k], want)
				}
			}
		}
	}
}
