package tensor_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// avgCase is one input of the average pooling tests: AvgPool with kernel
// and opt, or with kernel nil AdaptiveAvgPool to size, of an x of shape
// shape laid out as layout says: "transposed" (the last two dims swapped
// in memory), "sliced" (every other element of a wider last dim),
// "expanded" (a stride-0 batch dim), "channels_last" (memory order
// [N, S…, C]) or "" (contiguous).
type avgCase struct {
	name   string
	shape  []int
	kernel []int
	opt    tensor.AvgPoolOptions
	size   []int
	layout string
}

var avgCases = []avgCase{
	{name: "2d/k2", shape: []int{2, 3, 6, 6}, kernel: []int{2}},
	{name: "2d/k3s2p1", shape: []int{2, 2, 7, 8}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}}},
	{name: "2d/k3s2p1/exclude", shape: []int{2, 2, 7, 8}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}, ExcludePadding: true}},
	{name: "2d/ceil", shape: []int{1, 2, 7, 6}, kernel: []int{3, 2}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1, 0}, CeilMode: true}},
	{name: "2d/ceil/exclude", shape: []int{2, 1, 6, 7}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}, CeilMode: true, ExcludePadding: true}},
	{name: "2d/divisor", shape: []int{1, 2, 5, 5}, kernel: []int{2}, opt: tensor.AvgPoolOptions{Stride: []int{1}, Padding: []int{1}, DivisorOverride: 3}},
	{name: "2d/divisor/ceil", shape: []int{2, 2, 7, 7}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}, CeilMode: true, DivisorOverride: 5}},
	{name: "2d/rect", shape: []int{2, 3, 5, 7}, kernel: []int{2, 3}, opt: tensor.AvgPoolOptions{Stride: []int{1, 2}}},
	{name: "2d/floor_drops_edges", shape: []int{1, 2, 5, 7}, kernel: []int{2}},
	{name: "2d/k1", shape: []int{2, 2, 3, 4}, kernel: []int{1}},
	{name: "2d/n1c1", shape: []int{1, 1, 6, 8}, kernel: []int{2}},
	{name: "2d/batch0", shape: []int{0, 3, 6, 6}, kernel: []int{2}},
	{name: "2d/channels0", shape: []int{2, 0, 6, 6}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}}},
	{name: "2d/transposed", shape: []int{2, 3, 6, 8}, kernel: []int{3, 2}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}}, layout: "transposed"},
	{name: "2d/sliced", shape: []int{2, 3, 6, 8}, kernel: []int{2}, layout: "sliced"},
	{name: "2d/expanded", shape: []int{3, 2, 6, 6}, kernel: []int{2}, layout: "expanded"},
	{name: "2d/channels_last", shape: []int{2, 3, 6, 6}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}}, layout: "channels_last"},
	{name: "2d/threads", shape: []int{4, 16, 20, 24}, kernel: []int{2}},
	{name: "2d/threads/k3", shape: []int{4, 16, 20, 24}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}, CeilMode: true, ExcludePadding: true}},
	{name: "1d/k3s2", shape: []int{2, 3, 9}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}}},
	{name: "1d/ceil/exclude", shape: []int{1, 2, 10}, kernel: []int{4}, opt: tensor.AvgPoolOptions{Stride: []int{3}, Padding: []int{2}, CeilMode: true, ExcludePadding: true}},
	{name: "1d/divisor", shape: []int{2, 2, 7}, kernel: []int{2}, opt: tensor.AvgPoolOptions{Stride: []int{1}, Padding: []int{1}, DivisorOverride: 3}},
	{name: "1d/transposed", shape: []int{2, 5, 7}, kernel: []int{2}, layout: "transposed"},
	{name: "1d/batch0", shape: []int{0, 2, 5}, kernel: []int{2}},
	{name: "3d/k2", shape: []int{2, 2, 4, 6, 6}, kernel: []int{2}},
	{name: "3d/k3s2p1/ceil/exclude", shape: []int{1, 2, 5, 6, 7}, kernel: []int{3}, opt: tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}, CeilMode: true, ExcludePadding: true}},
	{name: "3d/divisor", shape: []int{1, 2, 4, 5, 5}, kernel: []int{2, 3, 2}, opt: tensor.AvgPoolOptions{Stride: []int{1}, Padding: []int{1}, DivisorOverride: 7}},
	{name: "3d/transposed", shape: []int{2, 2, 4, 5, 6}, kernel: []int{2, 2, 3}, opt: tensor.AvgPoolOptions{Stride: []int{1, 2, 2}}, layout: "transposed"},
	{name: "3d/batch0", shape: []int{0, 2, 4, 4, 4}, kernel: []int{2}},
	{name: "adaptive2d/divides", shape: []int{1, 2, 6, 6}, size: []int{3, 3}},
	{name: "adaptive2d/overlaps", shape: []int{2, 3, 7, 5}, size: []int{3, 2}},
	{name: "adaptive2d/upsample", shape: []int{1, 2, 3, 4}, size: []int{5, 7}},
	{name: "adaptive2d/global", shape: []int{2, 4, 5, 6}, size: []int{1, 1}},
	{name: "adaptive2d/same", shape: []int{2, 2, 4, 5}, size: []int{4, 5}},
	{name: "adaptive2d/56to7", shape: []int{2, 4, 56, 56}, size: []int{7, 7}},
	{name: "adaptive2d/n1c1", shape: []int{1, 1, 9, 7}, size: []int{4, 3}},
	{name: "adaptive2d/batch0", shape: []int{0, 3, 7, 7}, size: []int{3, 3}},
	{name: "adaptive2d/channels0", shape: []int{2, 0, 7, 7}, size: []int{3, 3}},
	{name: "adaptive2d/transposed", shape: []int{2, 3, 7, 9}, size: []int{4, 5}, layout: "transposed"},
	{name: "adaptive2d/sliced", shape: []int{2, 3, 7, 9}, size: []int{3, 4}, layout: "sliced"},
	{name: "adaptive2d/expanded", shape: []int{3, 2, 7, 6}, size: []int{3, 4}, layout: "expanded"},
	{name: "adaptive1d", shape: []int{2, 3, 10}, size: []int{4}},
	{name: "adaptive1d/overlaps", shape: []int{2, 2, 7}, size: []int{3}},
	{name: "adaptive3d/overlaps", shape: []int{1, 2, 5, 7, 6}, size: []int{3, 4, 4}},
	{name: "adaptive3d/divides", shape: []int{2, 2, 4, 6, 6}, size: []int{2, 3, 3}},
	{name: "adaptive3d/transposed", shape: []int{1, 2, 3, 5, 6}, size: []int{2, 2, 4}, layout: "transposed"},
}

// avgCasesNamed are the cases of avgCases with these names.
func avgCasesNamed(names ...string) []avgCase {
	var cs []avgCase
	for _, n := range names {
		for _, c := range avgCases {
			if c.name == n {
				cs = append(cs, c)
			}
		}
	}
	if len(cs) != len(names) {
		panic(fmt.Sprintf("avgCasesNamed(%q): %d found", names, len(cs)))
	}
	return cs
}

// pool runs the case's op on x.
func (c avgCase) pool(x *tensor.Tensor) *tensor.Tensor {
	if c.kernel == nil {
		return tensor.AdaptiveAvgPool(x, c.size)
	}
	return tensor.AvgPool(x, c.kernel, c.opt)
}

// input makes the case's x of dtype dt.
func (c avgCase) input(dt tensor.DType, seed uint64) *tensor.Tensor {
	gen := tensor.NewGenerator(seed)
	sh := slices.Clone(c.shape)
	r := len(sh)
	switch c.layout {
	case "transposed":
		sh[r-1], sh[r-2] = sh[r-2], sh[r-1]
		return gen.Normal(dt, 0, 1, sh...).Transpose(-1, -2)
	case "sliced":
		sh[r-1] = 2*sh[r-1] + 1
		return gen.Normal(dt, 0, 1, sh...).Slice(r-1, 1, sh[r-1], 2)
	case "expanded":
		one := append([]int{1}, sh[1:]...)
		return gen.Normal(dt, 0, 1, one...).Expand(sh...)
	case "channels_last":
		cl, perm := []int{sh[0]}, []int{0, r - 1}
		for d := 2; d < r; d++ {
			cl = append(cl, sh[d])
			perm = append(perm, d-1)
		}
		cl = append(cl, sh[1])
		return gen.Normal(dt, 0, 1, cl...).Permute(perm...)
	}
	return gen.Normal(dt, 0, 1, sh...)
}

// outShape is the shape of the case's output, as the composed op makes
// it.
func (c avgCase) outShape() []int {
	defer tensor.SetAvgPoolFused(tensor.SetAvgPoolFused(false))
	return c.pool(tensor.Zeros(c.shape...)).Shape()
}

// taps bounds the number of terms of each output's sum and of each input
// gradient's: the kernel's size, or for adaptive pooling the largest
// bins' (a bin's neighbours overlap it by at most one element).
func (c avgCase) taps() int {
	n := 1
	for d := 2; d < len(c.shape); d++ {
		if c.kernel == nil {
			n *= (c.shape[d]+c.size[d-2]-1)/c.size[d-2] + 1
		} else {
			n *= c.kernel[min(d-2, len(c.kernel)-1)]
		}
	}
	return n
}

// withinRounding fails unless got and want, two evaluations of sums of at
// most taps terms in dtype dt (in different orders, or one summing terms
// multiplied by 1/count where the other divides the sum by count), agree
// to within their rounding: 2·(taps + 2)·eps·mag[i], mag being the same
// sums of the terms' magnitudes.
func withinRounding(t *testing.T, what string, dt tensor.DType, taps int, got, want, mag []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	eps := math.Nextafter(1, 2) - 1
	if dt == tensor.Float32 {
		eps = float64(math.Nextafter32(1, 2) - 1)
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= 2*float64(taps+2)*eps*mag[i]) {
			t.Fatalf("%s [%d] = %v, want %v (off by %.3g ulps of the magnitude %v)", what, i, got[i], want[i], d/eps/mag[i], mag[i])
		}
	}
}

// TestAvgPoolFused holds AvgPool's and AdaptiveAvgPool's kernels to the
// composed ops (Unfold, Sum and Div; products with averaging matrices),
// in float32 and float64: the output and the input gradient, with the
// backward recorded (CreateGraph) or not, over kernels, strides,
// padding, ceil mode, excluded padding and divisor overrides in one, two
// and three spatial dims, adaptive sizes that divide, overlap, upsample
// and pool globally, N and C of 1, empty batch and channel dims,
// transposed, sliced, channels-last and broadcast inputs and a batch
// large enough to split over threads. Both sum in their own order, so they agree to within
// rounding (withinRounding), bounded by the same ops on the magnitudes.
func TestAvgPoolFused(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, c := range avgCases {
			t.Run(fmt.Sprintf("%v/%s", dt, c.name), func(t *testing.T) {
				x := c.input(dt, 7).SetRequiresGrad(true)
				osh := c.outShape()
				g := tensor.NewGenerator(11).Normal(dt, 0, 1, osh...)
				if c.layout == "expanded" {
					// a broadcast output gradient, as a sum's backward makes
					g = tensor.NewGenerator(11).Normal(dt, 0, 1, append([]int{1}, osh[1:]...)...).Expand(osh...)
				}
				// run pools x (x itself or its magnitudes), and returns the
				// output and the gradient for the output gradient gy
				run := func(fused, createGraph bool, x, gy *tensor.Tensor) (y, gx []float64) {
					defer tensor.SetAvgPoolFused(tensor.SetAvgPoolFused(fused))
					out := c.pool(x)
					if out.DType() != dt || !slices.Equal(out.Shape(), osh) {
						t.Fatalf("output is %v %v, want %v %v", out.DType(), out.Shape(), dt, osh)
					}
					d := autograd.Grad([]*tensor.Tensor{out}, []*tensor.Tensor{x}, []*tensor.Tensor{gy}, autograd.GradOptions{CreateGraph: createGraph})[0]
					if !slices.Equal(d.Shape(), c.shape) {
						t.Fatalf("gradient of shape %v, want %v", d.Shape(), c.shape)
					}
					return out.Float64s(), d.Float64s()
				}
				wantY, wantGX := run(false, false, x, g)
				magY, magGX := run(false, false, x.Detach().Abs().SetRequiresGrad(true), g.Abs())
				for _, createGraph := range []bool{false, true} {
					y, gx := run(true, createGraph, x, g)
					withinRounding(t, "output", dt, c.taps(), y, wantY, magY)
					withinRounding(t, fmt.Sprintf("gradient (create graph %v)", createGraph), dt, c.taps(), gx, wantGX, magGX)
				}
			})
		}
	}
}

// TestAvgPoolGradGrad: the gradient of the input gradient with respect to
// the output gradient is the pooling again; the fused op's matches the
// composed ops' and the pooling of the same vector (float64).
func TestAvgPoolGradGrad(t *testing.T) {
	for _, c := range avgCasesNamed("2d/k3s2p1/exclude", "2d/divisor/ceil", "1d/ceil/exclude", "3d/k3s2p1/ceil/exclude",
		"adaptive2d/overlaps", "adaptive3d/overlaps", "2d/transposed") {
		t.Run(c.name, func(t *testing.T) {
			x := c.input(tensor.Float64, 13).Detach().SetRequiresGrad(true)
			gen := tensor.NewGenerator(17)
			v := gen.Normal(tensor.Float64, 0, 1, c.outShape()...).SetRequiresGrad(true)
			u := gen.Normal(tensor.Float64, 0, 1, c.shape...)
			run := func(fused bool) []float64 {
				defer tensor.SetAvgPoolFused(tensor.SetAvgPoolFused(fused))
				y := c.pool(x)
				gx := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, []*tensor.Tensor{v}, autograd.GradOptions{CreateGraph: true})[0]
				return autograd.Grad([]*tensor.Tensor{gx}, []*tensor.Tensor{v}, []*tensor.Tensor{u}, autograd.GradOptions{})[0].Float64s()
			}
			want, got := run(false), run(true)
			defer tensor.SetAvgPoolFused(tensor.SetAvgPoolFused(false))
			pooled, mag := c.pool(u).Float64s(), c.pool(u.Abs()).Float64s()
			withinRounding(t, "fused", tensor.Float64, c.taps(), got, want, mag)
			withinRounding(t, "composed", tensor.Float64, c.taps(), want, pooled, mag)
		})
	}
}

// TestAvgPoolGradcheck: float64 gradcheck of the fused ops, of their
// gradients (on squared outputs, so that the second derivatives are not
// zero) and, through a function that is itself a second derivative, of
// the third derivatives.
func TestAvgPoolGradcheck(t *testing.T) {
	for _, c := range avgCasesNamed("2d/k3s2p1/exclude", "2d/ceil", "2d/divisor", "2d/transposed", "1d/ceil/exclude",
		"3d/k3s2p1/ceil/exclude", "adaptive2d/overlaps", "adaptive2d/upsample", "adaptive1d/overlaps", "adaptive3d/overlaps") {
		t.Run(c.name, func(t *testing.T) {
			x := c.input(tensor.Float64, 23).Detach().SetRequiresGrad(true)
			f := func(in []*tensor.Tensor) *tensor.Tensor { return c.pool(in[0]).Square() }
			if err := autograd.GradCheck(f, []*tensor.Tensor{x}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
				t.Fatal(err)
			}
			// third order: g2 = ∇ Σ w·∇ Σ pool(x)³ = 6·pool*(pool(x)·pool(w)),
			// pool* the adjoint, is made by the adjoint's recorded backward
			// (the pooling again); its Jacobian takes a third backward
			w := tensor.NewGenerator(29).Normal(tensor.Float64, 0, 1, c.shape...)
			g2 := func(in []*tensor.Tensor) *tensor.Tensor {
				y := c.pool(in[0])
				g1 := autograd.Grad([]*tensor.Tensor{y.Square().Mul(y).Sum()}, in, nil, autograd.GradOptions{CreateGraph: true})[0]
				return autograd.Grad([]*tensor.Tensor{g1.Mul(w).Sum()}, in, nil, autograd.GradOptions{CreateGraph: true})[0]
			}
			if err := autograd.GradCheck(g2, []*tensor.Tensor{x}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAvgPoolFloat16: dtypes without kernels take the composed ops and
// keep their dtype.
func TestAvgPoolFloat16(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 4, 8, 16, 32}, 1, 1, 6).To(tensor.Float16)
	y := tensor.AvgPool(x, []int{2}, tensor.AvgPoolOptions{})
	a := tensor.AdaptiveAvgPool(x, []int{2})
	if y.DType() != tensor.Float16 || a.DType() != tensor.Float16 {
		t.Fatalf("outputs are %v and %v", y.DType(), a.DType())
	}
	if got := y.Float64s(); !slices.Equal(got, []float64{1.5, 6, 24}) {
		t.Fatalf("avg pool: got %v, want [1.5 6 24]", got)
	}
	if got := a.Float64s(); math.Abs(got[0]-7.0/3) > 1e-2 || math.Abs(got[1]-56.0/3) > 1e-1 {
		t.Fatalf("adaptive: got %v, want [2.33 18.67]", got)
	}
}

// TestAvgPoolErrors: arguments that do not fit the input name the op and
// the shapes.
func TestAvgPoolErrors(t *testing.T) {
	x := tensor.Zeros(1, 2, 4, 4)
	for _, c := range []struct {
		name string
		f    func()
		want []string
	}{
		{"rank", func() { tensor.AvgPool(tensor.Zeros(2, 3), []int{2}, tensor.AvgPoolOptions{}) }, []string{"avg_pool", "[2 3]"}},
		{"rank6", func() { tensor.AvgPool(tensor.Zeros(1, 1, 2, 2, 2, 2), []int{2}, tensor.AvgPoolOptions{}) }, []string{"avg_pool", "[1 1 2 2 2 2]"}},
		{"kernel", func() { tensor.AvgPool(x, []int{3, 5}, tensor.AvgPoolOptions{}) }, []string{"avg_pool", "[1 2 4 4]", "too small for the kernel [3 5]"}},
		{"kernel entries", func() { tensor.AvgPool(x, []int{2, 2, 2}, tensor.AvgPoolOptions{}) }, []string{"avg_pool", "kernel [2 2 2] has 3 entries for 2 spatial dims"}},
		{"padding", func() { tensor.AvgPool(x, []int{3}, tensor.AvgPoolOptions{Padding: []int{2}}) }, []string{"avg_pool", "padding [2 2] must be at most half the kernel [3 3]"}},
		{"stride", func() { tensor.AvgPool(x, []int{2}, tensor.AvgPoolOptions{Stride: []int{0}}) }, []string{"avg_pool", "stride [0]"}},
		{"divisor", func() { tensor.AvgPool(x, []int{2}, tensor.AvgPoolOptions{DivisorOverride: -1}) }, []string{"avg_pool", "divisor override"}},
		{"dtype", func() { tensor.AvgPool(tensor.ZerosOf(tensor.Int64, 1, 1, 4), []int{2}, tensor.AvgPoolOptions{}) }, []string{"avg_pool", "int64"}},
		{"adaptive size", func() { tensor.AdaptiveAvgPool(x, []int{0, 2}) }, []string{"adaptive_avg_pool", "[1 2 4 4]", "[0 2]"}},
		{"adaptive entries", func() { tensor.AdaptiveAvgPool(x, []int{2}) }, []string{"adaptive_avg_pool", "[1 2 4 4]", "[2]"}},
		{"adaptive empty", func() { tensor.AdaptiveAvgPool(tensor.Zeros(1, 2, 0), []int{2}) }, []string{"adaptive_avg_pool", "[1 2 0]"}},
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

func ExampleAvgPool() {
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 1, 1, 6)
	fmt.Println(tensor.AvgPool(x, []int{2}, tensor.AvgPoolOptions{}))
	// a window of 3 moving by 2 over x padded with a zero on each side:
	// the padding counts in the averages unless ExcludePadding is set
	fmt.Println(tensor.AvgPool(x, []int{3}, tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}}))
	fmt.Println(tensor.AvgPool(x, []int{3}, tensor.AvgPoolOptions{Stride: []int{2}, Padding: []int{1}, ExcludePadding: true}))
	// Output:
	// tensor([[[1.5000, 3.5000, 5.5000]]])
	// tensor([[[1., 3., 5.]]])
	// tensor([[[1.5000, 3.0000, 5.0000]]])
}

func ExampleAdaptiveAvgPool() {
	// 5 elements into 2 bins: [0, 3) and [2, 5), which overlap
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5}, 1, 1, 5)
	fmt.Println(tensor.AdaptiveAvgPool(x, []int{2}))
	// Output:
	// tensor([[[2., 4.]]])
}
