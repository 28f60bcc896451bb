package functional_test

import (
	"math"
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
