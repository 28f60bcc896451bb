package tensor

import (
	"math"
	"testing"
)

// TestAddScaledIn holds t.AddScaledIn(o, alpha) to a Go loop that rounds
// as torch's add_(o, alpha=…) does, the product then the sum, on the
// operands the one-pass path takes (same shape and dtype, contiguous,
// separate storage) and on those it leaves to the composed update
// (broadcast, another dtype, aliased, transposed).
func TestAddScaledIn(t *testing.T) {
	seq := func(n int, scale float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Sin(float64(i)*0.7+scale) * scale
		}
		return v
	}
	for _, c := range []struct {
		name   string
		tShape []int
		oShape []int
		dt     DType // t's dtype
		odt    DType // o's dtype
		alias  bool  // o is t
		trans  bool  // t is a transposed view
		alpha  float64
	}{
		{name: "empty", tShape: []int{0}, oShape: []int{0}, dt: Float32, odt: Float32, alpha: -0.01},
		{name: "one", tShape: []int{1}, oShape: []int{1}, dt: Float32, odt: Float32, alpha: -0.01},
		{name: "tail", tShape: []int{17}, oShape: []int{17}, dt: Float32, odt: Float32, alpha: 3},
		{name: "matrix", tShape: []int{31, 33}, oShape: []int{31, 33}, dt: Float32, odt: Float32, alpha: -0.37},
		{name: "parallel", tShape: []int{70001}, oShape: []int{70001}, dt: Float32, odt: Float32, alpha: -1e-3},
		{name: "float64", tShape: []int{3, 50}, oShape: []int{3, 50}, dt: Float64, odt: Float64, alpha: 0.3},
		{name: "broadcast", tShape: []int{4, 5}, oShape: []int{5}, dt: Float32, odt: Float32, alpha: -0.5},
		{name: "wider o", tShape: []int{4, 5}, oShape: []int{4, 5}, dt: Float32, odt: Float64, alpha: -0.1},
		{name: "aliased", tShape: []int{40}, oShape: []int{40}, dt: Float32, odt: Float32, alias: true, alpha: 2},
		{name: "transposed", tShape: []int{6, 7}, oShape: []int{6, 7}, dt: Float32, odt: Float32, trans: true, alpha: -0.25},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, on := 1, 1
			for _, d := range c.tShape {
				n *= d
			}
			for _, d := range c.oShape {
				on *= d
			}
			pv, gv := seq(n, 1.3), seq(on, 0.9)
			var x *Tensor
			if c.trans { // a [r,c] view of a [c,r] tensor, filled so that x's logical order is pv
				r, cc := c.tShape[0], c.tShape[1]
				base := make([]float64, n)
				for i := range r {
					for j := range cc {
						base[j*r+i] = pv[i*cc+j]
					}
				}
				x = FromSlice(base, cc, r).To(c.dt).T()
			} else {
				x = FromSlice(pv, c.tShape...).To(c.dt)
			}
			o := FromSlice(gv, c.oShape...).To(c.odt)
			if c.alias {
				o, gv = x, pv
			}
			want := make([]float64, n)
			for i := range want {
				g := gv[i%on]
				switch {
				case c.dt == Float64:
					want[i] = pv[i] + g*c.alpha
				case c.odt == Float64: // the product in float64, rounded to t's type by the cast
					want[i] = float64(float32(pv[i]) + float32(g*c.alpha))
				default:
					want[i] = float64(float32(pv[i]) + float32(float32(g)*float32(c.alpha)))
				}
			}
			v0 := x.Version()
			if r := x.AddScaledIn(o, c.alpha); r != x {
				t.Fatal("AddScaledIn did not return its receiver")
			}
			if x.Version() == v0 && n > 0 {
				t.Error("the version counter did not move")
			}
			got := x.Float64s()
			for i := range want {
				if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
					t.Fatalf("element %d: got %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestAddScaledInOnePass checks that the update of a training loop,
// p.AddScaledIn(g, −lr) on same-shaped float32 tensors, takes the
// one-pass path: no temporary for alpha·g.
func TestAddScaledInOnePass(t *testing.T) {
	p, g := Randn(256, 64), Randn(256, 64)
	if a := testing.AllocsPerRun(20, func() { p.AddScaledIn(g, -0.01) }); a != 0 {
		t.Errorf("AddScaledIn allocates %v objects per call, want 0", a)
	}
}
