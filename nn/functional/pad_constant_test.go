package functional_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// padRef is constant padding by its definition: out[o] = x[o − lo] where
// that index lies in x, value elsewhere, over x's row-major values xs of
// shape sh; lo and the output shape come from pad per dim (negative pads
// crop). It also returns the output shape.
func padRef(xs []float64, sh, pad []int, value float64) ([]float64, []int) {
	lo, out := padLayout(sh, pad)
	total := 1
	for _, s := range out {
		total *= s
	}
	res := make([]float64, total)
	idx := make([]int, len(out))
	for k := range res {
		r, src, in := k, 0, true
		for d := len(out) - 1; d >= 0; d-- {
			idx[d] = r % out[d]
			r /= out[d]
		}
		for d := range out {
			i := idx[d] - lo[d]
			if i < 0 || i >= sh[d] {
				in = false
				break
			}
			src = src*sh[d] + i
		}
		res[k] = value
		if in {
			res[k] = xs[src]
		}
	}
	return res, out
}

// padLayout returns, per dim, where x's index 0 lands in the output, and
// the output's shape.
func padLayout(sh, pad []int) (lo, out []int) {
	lo, out = make([]int, len(sh)), append([]int(nil), sh...)
	for j := 0; j < len(pad)/2; j++ {
		d := len(sh) - 1 - j
		lo[d] = pad[2*j]
		out[d] += pad[2*j] + pad[2*j+1]
	}
	return lo, out
}

// padGradRef is d/dx Σ w·Pad(x): w at each x element's output position,
// 0 for the elements cropped away.
func padGradRef(ws []float64, sh, pad []int) []float64 {
	lo, out := padLayout(sh, pad)
	n := 1
	for _, s := range sh {
		n *= s
	}
	g := make([]float64, n)
	for k := range g {
		r, dst, in := k, 0, true
		idx := make([]int, len(sh))
		for d := len(sh) - 1; d >= 0; d-- {
			idx[d] = r % sh[d]
			r /= sh[d]
		}
		for d := range sh {
			o := idx[d] + lo[d]
			if o < 0 || o >= out[d] {
				in = false
				break
			}
			dst = dst*out[d] + o
		}
		if in {
			g[k] = ws[dst]
		}
	}
	return g
}

type padCase struct {
	name  string
	shape []int
	view  func(*tensor.Tensor) *tensor.Tensor // nil: x as made
	pad   []int
	value float64
}

func padCases() []padCase {
	tr := func(x *tensor.Tensor) *tensor.Tensor { return x.Transpose(-1, -2) }
	return []padCase{
		{"last_two", []int{2, 3, 4, 5}, nil, []int{1, 1, 1, 1}, 0},
		{"asymmetric_value", []int{2, 3, 4}, nil, []int{2, 0, 0, 3}, -1.5},
		{"every_dim", []int{2, 3, 4}, nil, []int{1, 2, 0, 1, 2, 1}, 7},
		{"last_only", []int{3, 5}, nil, []int{0, 4}, 2},
		{"one_d", []int{5}, nil, []int{3, 1}, 0.25},
		{"all_zero", []int{2, 3}, nil, []int{0, 0, 0, 0}, 9},
		{"negative", []int{3, 6, 5}, nil, []int{-1, -2, -2, 0}, 1},
		{"crop_and_pad", []int{4, 6}, nil, []int{-2, 3, 1, -3}, 3},
		{"crop_to_empty", []int{3, 4}, nil, []int{-2, -2, 1, 0}, 3},
		{"crop_all_then_pad", []int{3, 4}, nil, []int{0, 0, -3, 2}, 3},
		{"transposed", []int{2, 4, 3}, tr, []int{1, 2, 2, 1}, 0.5},
		{"transposed_negative", []int{2, 5, 4}, tr, []int{-1, 1, 1, -2}, 0.5},
		{"narrowed", []int{3, 8}, func(x *tensor.Tensor) *tensor.Tensor { return x.Narrow(1, 2, 5) }, []int{1, 1, 1, 0}, 4},
		{"empty_dim", []int{0, 3}, nil, []int{1, 1}, 2},
		{"empty_padded_dim", []int{2, 0}, nil, []int{1, 2}, 2},
		{"empty_padded_both", []int{0, 2}, nil, []int{1, 0, 2, 1}, 2},
		{"size_one", []int{1, 1, 1}, nil, []int{1, 1, 0, 2, 1, 0}, -2},
		// outputs past the fill block: split along dim 0, and along
		// dims 1 and 2 where one index of the outer dim is too large
		{"blocks_batch", []int{9, 4, 40, 40}, nil, []int{1, 1, 2, 1}, -3},
		{"blocks_inner", []int{1, 2, 200, 110}, nil, []int{2, 1, 3, 4, 1, 0, 0, 1}, 5},
		{"blocks_transposed_crop", []int{3, 2, 120, 130}, tr, []int{-3, 2, 1, -4, 2, 1}, 6},
	}
}

// Constant Pad agrees with the reference loop across shapes, views,
// negative pads and empty dims, in float32, float64 and int64, and
// returns a new contiguous tensor of x's dtype where it pads.
func TestPadConstantMatchesReference(t *testing.T) {
	for i, c := range padCases() {
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32, tensor.Int64} {
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				g := tensor.NewGenerator(uint64(100 + i))
				var x *tensor.Tensor
				if dt == tensor.Int64 {
					x = g.RandInt(-50, 50, c.shape...)
				} else {
					x = g.Normal(dt, 0, 1, c.shape...)
				}
				if c.view != nil {
					x = c.view(x)
				}
				value := c.value
				if dt == tensor.Int64 {
					value = float64(int64(value))
				}
				want, shape := padRef(x.Float64s(), x.Shape(), c.pad, value)
				y := F.Pad(x, c.pad, "constant", value)
				if fmt.Sprint(y.Shape()) != fmt.Sprint(shape) || y.DType() != dt {
					t.Fatalf("got %v %v, want %v %v", y.Shape(), y.DType(), shape, dt)
				}
				got := y.Float64s()
				if dt == tensor.Float32 {
					for k := range want {
						want[k] = float64(float32(want[k]))
					}
				}
				for k := range want {
					if got[k] != want[k] {
						t.Fatalf("element %d (flat) = %v, want %v", k, got[k], want[k])
					}
				}
				grows := false
				for _, p := range c.pad {
					grows = grows || p > 0
				}
				// only crops stay views of x, as they were
				if grows && !y.IsContiguous() {
					t.Errorf("result has strides %v", y.Strides())
				}
			})
		}
	}
}

// The gradient of Σ w·Pad(x) is w at each kept element's output position
// and 0 for cropped ones, for float32 and float64 leaves seen through
// views.
func TestPadConstantGradient(t *testing.T) {
	for i, c := range padCases() {
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				g := tensor.NewGenerator(uint64(200 + i))
				leaf := g.Normal(dt, 0, 1, c.shape...).SetRequiresGrad(true)
				x := leaf
				if c.view != nil {
					x = c.view(leaf)
				}
				y := F.Pad(x, c.pad, "constant", c.value)
				if !y.RequiresGrad() {
					t.Fatal("result does not require grad")
				}
				w := g.Normal(dt, 0, 1, y.Shape()...)
				y.Mul(w).Sum().Backward()
				want := padGradRef(w.Float64s(), x.Shape(), c.pad)
				if leaf.Grad() == nil {
					t.Fatal("no gradient")
				}
				gx := leaf.Grad()
				if c.view != nil {
					gx = c.view(gx)
				}
				got := gx.Float64s()
				for k := range want {
					if got[k] != want[k] {
						t.Fatalf("grad element %d (flat) = %v, want %v", k, got[k], want[k])
					}
				}
			})
		}
	}
}

// First and second derivatives by float64 finite differences, for the
// small cases.
func TestPadConstantGradCheck(t *testing.T) {
	for i, c := range padCases() {
		n := 1
		for _, s := range c.shape {
			n *= s
		}
		if n > 200 {
			continue
		}
		spGradCheck(t, c.name, func(in []*tensor.Tensor) *tensor.Tensor {
			x := in[0]
			if c.view != nil {
				x = c.view(x)
			}
			// squared, so that the second derivative is not zero
			return F.Pad(x, c.pad, "constant", c.value).Square()
		}, spLeaf(uint64(300+i), c.shape...))
	}
}

// Double backward through the pad: the gradient of x.grad·v, for x.grad
// of Σ w·Pad(x)², is 2·w²·v at the kept elements.
func TestPadConstantDoubleBackward(t *testing.T) {
	g := tensor.NewGenerator(7)
	x := g.Normal(tensor.Float64, 0, 1, 2, 3, 4).SetRequiresGrad(true)
	pad := []int{1, -1, 2, 0}
	y := F.Pad(x, pad, "constant", 0.5)
	w := g.Normal(tensor.Float64, 0, 1, y.Shape()...)
	gs := autograd.Grad([]*tensor.Tensor{y.Square().Mul(w).Sum()}, []*tensor.Tensor{x}, nil, autograd.GradOptions{CreateGraph: true})
	v := g.Normal(tensor.Float64, 0, 1, 2, 3, 4)
	gs[0].Mul(v).Sum().Backward()
	wx := padGradRef(w.Float64s(), x.Shape(), pad)
	vs, got := v.Float64s(), x.Grad().Float64s()
	for k := range got {
		if want := 2 * wx[k] * vs[k]; math.Abs(got[k]-want) > 1e-12*(1+math.Abs(want)) {
			t.Fatalf("element %d: %v, want %v", k, got[k], want)
		}
	}
}
