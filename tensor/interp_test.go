package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// interpTaps are linear-interpolation taps from in to out elements as
// torch computes them in float64 (the functional package rounds them as
// torch does per dtype; the kernels take any taps): with align, the
// corner centres coincide, else the outer edges, the source coordinate
// clamped at 0 and the upper index at in−1.
func interpTaps(in, out int, align bool) tensor.LinearTaps {
	t := tensor.LinearTaps{I0: make([]int, out), I1: make([]int, out), W0: make([]float64, out), W1: make([]float64, out)}
	for o := range out {
		var src float64
		switch {
		case align && out > 1:
			src = float64(in-1) / float64(out-1) * float64(o)
		case !align:
			src = max((float64(o)+0.5)*float64(in)/float64(out)-0.5, 0)
		}
		i0 := int(src)
		t.I0[o], t.I1[o] = i0, min(i0+1, in-1)
		t.W1[o] = src - float64(i0)
		t.W0[o] = 1 - t.W1[o]
	}
	return t
}

// randomTaps are taps with indices anywhere in [0, in), in any order, and
// weights of any sign: what the kernels must get right beyond the
// monotone taps of linear interpolation (their row cache).
func randomTaps(r *rand.Rand, in, out int) tensor.LinearTaps {
	t := tensor.LinearTaps{I0: make([]int, out), I1: make([]int, out), W0: make([]float64, out), W1: make([]float64, out)}
	for o := range out {
		t.I0[o], t.I1[o] = r.IntN(in), r.IntN(in)
		t.W0[o], t.W1[o] = r.NormFloat64(), r.NormFloat64()
	}
	return t
}

// interpCase is one input of the InterpolateLinear tests: x's shape (or,
// with transpose, the shape before its last two dims are swapped; with
// channelsLast, x is made [N, S…, C] and permuted to [N, C, S…]; with
// expand, its batch dim is a stride-0 broadcast), and the output size.
type interpCase struct {
	name                            string
	shape, out                      []int
	transpose, channelsLast, expand bool
	random, specials                bool // random taps; ±Inf, NaN and −0 among the inputs
}

var interpCases = []interpCase{
	{name: "linear/up", shape: []int{2, 3, 5}, out: []int{8}},
	{name: "linear/down", shape: []int{2, 3, 8}, out: []int{3}},
	{name: "linear/in1", shape: []int{2, 2, 1}, out: []int{4}},
	{name: "linear/out1", shape: []int{2, 2, 5}, out: []int{1}},
	{name: "linear/same", shape: []int{2, 3, 6}, out: []int{6}},
	{name: "linear/batch0", shape: []int{0, 3, 5}, out: []int{7}},
	{name: "linear/channels0", shape: []int{2, 0, 5}, out: []int{7}},
	{name: "linear/channels_last", shape: []int{2, 3, 5}, out: []int{9}, channelsLast: true},
	{name: "linear/expand", shape: []int{3, 2, 5}, out: []int{7}, expand: true},
	{name: "linear/random", shape: []int{3, 2, 7}, out: []int{9}, random: true},
	{name: "linear/specials", shape: []int{2, 2, 6}, out: []int{6}, specials: true},
	{name: "bilinear/up", shape: []int{2, 3, 4, 5}, out: []int{7, 9}},
	{name: "bilinear/down", shape: []int{1, 2, 9, 8}, out: []int{4, 3}},
	{name: "bilinear/mixed", shape: []int{1, 2, 5, 6}, out: []int{3, 12}},
	{name: "bilinear/h1", shape: []int{2, 1, 1, 5}, out: []int{3, 5}},
	{name: "bilinear/w1", shape: []int{2, 1, 4, 1}, out: []int{6, 2}},
	{name: "bilinear/out1", shape: []int{1, 2, 4, 4}, out: []int{1, 1}},
	{name: "bilinear/same", shape: []int{2, 2, 3, 3}, out: []int{3, 3}},
	{name: "bilinear/batch0", shape: []int{0, 2, 3, 4}, out: []int{5, 6}},
	{name: "bilinear/transposed", shape: []int{2, 3, 4, 6}, out: []int{11, 5}, transpose: true},
	{name: "bilinear/channels_last", shape: []int{2, 3, 4, 5}, out: []int{8, 10}, channelsLast: true},
	{name: "bilinear/expand", shape: []int{2, 3, 4, 5}, out: []int{6, 7}, expand: true},
	{name: "bilinear/threads", shape: []int{4, 16, 20, 24}, out: []int{40, 48}},
	{name: "bilinear/random", shape: []int{2, 3, 6, 7}, out: []int{9, 8}, random: true},
	{name: "bilinear/specials", shape: []int{1, 2, 4, 4}, out: []int{4, 8}, specials: true},
}

// interpCasesNamed are the cases of interpCases with these names.
func interpCasesNamed(names ...string) []interpCase {
	var cs []interpCase
	for _, n := range names {
		for _, c := range interpCases {
			if c.name == n {
				cs = append(cs, c)
			}
		}
	}
	if len(cs) != len(names) {
		panic(fmt.Sprintf("interpCasesNamed(%q): %d found", names, len(cs)))
	}
	return cs
}

// input makes the case's x of dtype dt.
func (c interpCase) input(dt tensor.DType, seed uint64) *tensor.Tensor {
	gen := tensor.NewGenerator(seed)
	sh := c.shape
	switch {
	case c.transpose:
		sh = append([]int(nil), sh...)
		sh[len(sh)-1], sh[len(sh)-2] = sh[len(sh)-2], sh[len(sh)-1]
		return gen.Normal(dt, 0, 1, sh...).Transpose(-1, -2)
	case c.channelsLast:
		perm := []int{0, len(sh) - 1}
		cl := []int{sh[0]}
		for d := 2; d < len(sh); d++ {
			cl = append(cl, sh[d])
			perm = append(perm, d-1)
		}
		cl = append(cl, sh[1])
		return gen.Normal(dt, 0, 1, cl...).Permute(perm...)
	case c.expand:
		one := append([]int{1}, sh[1:]...)
		return gen.Normal(dt, 0, 1, one...).Expand(sh...)
	case c.specials:
		v := gen.Normal(tensor.Float64, 0, 1, sh...).Float64s()
		for i, s := range []float64{math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), 0} {
			v[(7*i+3)%len(v)] = s
		}
		return tensor.FromSlice(v, sh...).To(dt)
	}
	return gen.Normal(dt, 0, 1, sh...)
}

// taps are the case's taps, with align for the interpolation ones.
func (c interpCase) taps(align bool, seed uint64) []tensor.LinearTaps {
	r := rand.New(rand.NewPCG(seed, 1))
	taps := make([]tensor.LinearTaps, len(c.out))
	for d, o := range c.out {
		if c.random {
			taps[d] = randomTaps(r, c.shape[2+d], o)
		} else {
			taps[d] = interpTaps(c.shape[2+d], o, align)
		}
	}
	return taps
}

// sameBits reports the first element where got and want differ
// bitwise (NaNs match any NaN), or −1.
func sameBits(got, want []float64) int {
	if len(got) != len(want) {
		return 0
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			return i
		}
	}
	return -1
}

// TestInterpolateLinearFused holds InterpolateLinear's kernels to the
// composed ops (IndexSelect, Mul and Add along W, then H): the forward
// bit for bit, in float32 and float64, with and without aligned corners,
// over upscaling, downscaling, size-1 input and output dims, unchanged
// sizes, empty batch and channel dims, transposed, channels-last and
// broadcast inputs, non-finite inputs, random taps (any order and sign)
// and a batch large enough to split over threads; and the gradients,
// with the backward recorded (CreateGraph) or not, to rounding.
func TestInterpolateLinearFused(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		for _, c := range interpCases {
			for _, align := range []bool{false, true} {
				if align && (c.random || c.specials) {
					continue
				}
				t.Run(fmt.Sprintf("%v/%s/align=%v", dt, c.name, align), func(t *testing.T) {
					taps := c.taps(align, 3)
					x := c.input(dt, 7).SetRequiresGrad(true)
					osh := append(c.shape[:2:2], c.out...)
					g := tensor.NewGenerator(11).Normal(dt, 0, 1, osh...)
					if c.expand {
						// a broadcast output gradient, as a sum's backward makes
						g = tensor.NewGenerator(11).Normal(dt, 0, 1, append([]int{1}, osh[1:]...)...).Expand(osh...)
					}
					run := func(fused, createGraph bool) [][]float64 {
						defer tensor.SetInterpFused(tensor.SetInterpFused(fused))
						y := tensor.InterpolateLinear(x, taps)
						if y.DType() != dt {
							t.Fatalf("output is %v", y.DType())
						}
						out := [][]float64{y.Float64s()}
						if x.RequiresGrad() {
							gx := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{CreateGraph: createGraph})[0]
							out = append(out, gx.Float64s())
						}
						return out
					}
					want := run(false, false)
					if len(want[0]) != tensor.Zeros(osh...).Numel() {
						t.Fatalf("composed output has %d elements", len(want[0]))
					}
					for _, createGraph := range []bool{false, true} {
						got := run(true, createGraph)
						if i := sameBits(got[0], want[0]); i >= 0 {
							t.Fatalf("output [%d] = %v, composed %v", i, got[0][i], want[0][i])
						}
						for k := 1; k < len(want); k++ {
							for i := range want[k] {
								if d := math.Abs(got[k][i] - want[k][i]); !(d <= tol*(1+math.Abs(want[k][i]))) {
									t.Fatalf("create graph %v: gradient [%d] = %v, composed %v", createGraph, i, got[k][i], want[k][i])
								}
							}
						}
					}
				})
			}
		}
	}
}

// TestInterpolateLinearGradGrad: the gradient of the input gradient with
// respect to the output gradient is the forward again; the fused op's
// matches the composed ops' (float64, where both are exact up to the
// order of the sums).
func TestInterpolateLinearGradGrad(t *testing.T) {
	for _, c := range interpCasesNamed("linear/up", "bilinear/up", "bilinear/transposed", "bilinear/random") {
		t.Run(c.name, func(t *testing.T) {
			taps := c.taps(false, 5)
			x := c.input(tensor.Float64, 13).Detach().SetRequiresGrad(true)
			gen := tensor.NewGenerator(17)
			v := gen.Normal(tensor.Float64, 0, 1, append(c.shape[:2:2], c.out...)...).SetRequiresGrad(true)
			u := gen.Normal(tensor.Float64, 0, 1, c.shape...)
			run := func(fused bool) []float64 {
				defer tensor.SetInterpFused(tensor.SetInterpFused(fused))
				y := tensor.InterpolateLinear(x, taps)
				gx := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, []*tensor.Tensor{v}, autograd.GradOptions{CreateGraph: true})[0]
				return autograd.Grad([]*tensor.Tensor{gx}, []*tensor.Tensor{v}, []*tensor.Tensor{u}, autograd.GradOptions{})[0].Float64s()
			}
			want, got := run(false), run(true)
			for i := range want {
				if d := math.Abs(got[i] - want[i]); !(d <= 1e-12*(1+math.Abs(want[i]))) {
					t.Fatalf("[%d] = %v, composed %v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestInterpolateLinearGradcheck: float64 gradcheck of the fused op and
// of its gradients, on squared outputs so that the second derivatives
// are not zero.
func TestInterpolateLinearGradcheck(t *testing.T) {
	for _, c := range interpCasesNamed("linear/up", "linear/down", "bilinear/down", "bilinear/transposed", "bilinear/random") {
		for _, align := range []bool{false, true} {
			if align && c.random {
				continue
			}
			t.Run(fmt.Sprintf("%s/align=%v", c.name, align), func(t *testing.T) {
				taps := c.taps(align, 19)
				x := c.input(tensor.Float64, 23).SetRequiresGrad(true)
				f := func(in []*tensor.Tensor) *tensor.Tensor { return tensor.InterpolateLinear(in[0], taps).Square() }
				if err := autograd.GradCheck(f, []*tensor.Tensor{x}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestInterpolateLinearFloat16: dtypes without kernels take the composed
// ops and keep their dtype.
func TestInterpolateLinearFloat16(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 4, 8}, 1, 1, 4).To(tensor.Float16)
	y := tensor.InterpolateLinear(x, []tensor.LinearTaps{interpTaps(4, 2, true)})
	if y.DType() != tensor.Float16 {
		t.Fatalf("output is %v", y.DType())
	}
	if got := y.Float64s(); got[0] != 1 || got[1] != 8 {
		t.Fatalf("got %v, want [1 8]", got)
	}
}

// TestInterpolateLinearErrors: inputs that do not fit the taps name the
// op and the shapes.
func TestInterpolateLinearErrors(t *testing.T) {
	x := tensor.Zeros(1, 2, 3, 4)
	good := []tensor.LinearTaps{interpTaps(3, 5, false), interpTaps(4, 2, false)}
	bad := interpTaps(4, 2, false)
	bad.W1 = bad.W1[:1]
	for _, c := range []struct {
		name string
		f    func()
		want []string
	}{
		{"rank", func() { tensor.InterpolateLinear(tensor.Zeros(2, 3), good[:1]) }, []string{"interpolate_linear", "[2 3]", "1 spatial dims"}},
		{"taps per dim", func() { tensor.InterpolateLinear(x, good[:1]) }, []string{"interpolate_linear", "[1 2 3 4]"}},
		{"three dims", func() { tensor.InterpolateLinear(tensor.Zeros(1, 1, 2, 2, 2), append(good, good[0])) }, []string{"interpolate_linear", "[1 1 2 2 2]"}},
		{"lengths", func() { tensor.InterpolateLinear(x, []tensor.LinearTaps{good[0], bad}) }, []string{"interpolate_linear", "spatial dim 1 have 2, 2, 2 and 1 entries"}},
		{"index", func() { tensor.InterpolateLinear(x, []tensor.LinearTaps{interpTaps(4, 5, false), good[1]}) }, []string{"interpolate_linear", "out of range for input [1 2 3 4]"}},
		{"dtype", func() { tensor.InterpolateLinear(tensor.ZerosOf(tensor.Int64, 1, 1, 3), good[:1]) }, []string{"interpolate_linear", "int64"}},
	} {
		err := tensor.Try(c.f)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

func ExampleInterpolateLinear() {
	x := tensor.FromSlice([]float32{1, 3, 5}, 1, 1, 3)
	// 3 → 5 elements with the corners aligned: output o samples 0.5·o
	taps := tensor.LinearTaps{
		I0: []int{0, 0, 1, 1, 2},
		I1: []int{1, 1, 2, 2, 2},
		W0: []float64{1, 0.5, 1, 0.5, 1},
		W1: []float64{0, 0.5, 0, 0.5, 0},
	}
	fmt.Println(tensor.InterpolateLinear(x, []tensor.LinearTaps{taps}))
	// Output:
	// tensor([[[1., 2., 3., 4., 5.]]])
}
