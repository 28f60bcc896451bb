package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// nearestIndex are the indices of nearest interpolation from in to out
// elements (o reads ⌊o·in/out⌋), or with random any indices in any order.
func nearestIndex(r *rand.Rand, in, out int, random bool) []int {
	idx := make([]int, out)
	for o := range idx {
		idx[o] = o * in / out
		if random {
			idx[o] = r.IntN(in)
		}
	}
	return idx
}

// TestInterpolateNearestFused holds InterpolateNearest's kernels to the
// composed ops (an IndexSelect per spatial dim): the output bit for bit
// and the input gradient, with the backward recorded (CreateGraph) or
// not, exactly (both sum each input element's terms over H, then over
// W, in the order of the output indices), in float32 and float64, over
// the cases of the linear kernels' tests (upscaling, downscaling,
// size-1 dims, empty batch and channel dims, transposed, channels-last
// and broadcast inputs, random indices, non-finite inputs and a batch
// large enough to split over threads).
func TestInterpolateNearestFused(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, c := range interpCases {
			t.Run(fmt.Sprintf("%v/%s", dt, c.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(3, 1))
				index := make([][]int, len(c.out))
				for d, o := range c.out {
					index[d] = nearestIndex(r, c.shape[2+d], o, c.random)
				}
				x := c.input(dt, 7).SetRequiresGrad(true)
				osh := append(c.shape[:2:2], c.out...)
				g := tensor.NewGenerator(11).Normal(dt, 0, 1, osh...)
				if c.expand {
					g = tensor.NewGenerator(11).Normal(dt, 0, 1, append([]int{1}, osh[1:]...)...).Expand(osh...)
				}
				run := func(fused, createGraph bool) (y, gx []float64) {
					defer tensor.SetNearestFused(tensor.SetNearestFused(fused))
					out := tensor.InterpolateNearest(x, index)
					if out.DType() != dt || !slices.Equal(out.Shape(), osh) {
						t.Fatalf("output is %v %v, want %v %v", out.DType(), out.Shape(), dt, osh)
					}
					d := autograd.Grad([]*tensor.Tensor{out}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{CreateGraph: createGraph})[0]
					return out.Float64s(), d.Float64s()
				}
				wantY, wantGX := run(false, false)
				for _, createGraph := range []bool{false, true} {
					y, gx := run(true, createGraph)
					if i := sameBits(y, wantY); i >= 0 {
						t.Fatalf("output [%d] = %v, composed %v", i, y[i], wantY[i])
					}
					for i := range wantGX {
						if gx[i] != wantGX[i] && !(math.IsNaN(gx[i]) && math.IsNaN(wantGX[i])) {
							t.Fatalf("create graph %v: gradient [%d] = %v, composed %v", createGraph, i, gx[i], wantGX[i])
						}
					}
				}
			})
		}
	}
}

// TestInterpolateNearestGradcheck: float64 gradcheck of the fused op and
// of its gradients (on squared outputs, so that the second derivatives
// are not zero), and the gradient of its input gradient with respect to
// the output gradient, which is the forward again, against the composed
// ops'.
func TestInterpolateNearestGradcheck(t *testing.T) {
	for _, c := range interpCasesNamed("linear/up", "linear/down", "bilinear/up", "bilinear/down", "bilinear/transposed", "bilinear/random") {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 1))
			index := make([][]int, len(c.out))
			for d, o := range c.out {
				index[d] = nearestIndex(r, c.shape[2+d], o, c.random)
			}
			x := c.input(tensor.Float64, 23).SetRequiresGrad(true)
			f := func(in []*tensor.Tensor) *tensor.Tensor { return tensor.InterpolateNearest(in[0], index).Square() }
			if err := autograd.GradCheck(f, []*tensor.Tensor{x}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
				t.Fatal(err)
			}
			gen := tensor.NewGenerator(17)
			v := gen.Normal(tensor.Float64, 0, 1, append(c.shape[:2:2], c.out...)...).SetRequiresGrad(true)
			u := gen.Normal(tensor.Float64, 0, 1, c.shape...)
			run := func(fused bool) []float64 {
				defer tensor.SetNearestFused(tensor.SetNearestFused(fused))
				y := tensor.InterpolateNearest(x, index)
				gx := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, []*tensor.Tensor{v}, autograd.GradOptions{CreateGraph: true})[0]
				return autograd.Grad([]*tensor.Tensor{gx}, []*tensor.Tensor{v}, []*tensor.Tensor{u}, autograd.GradOptions{})[0].Float64s()
			}
			if i := sameBits(run(true), run(false)); i >= 0 {
				t.Fatalf("second derivative [%d] differs from the composed ops'", i)
			}
		})
	}
}

// TestInterpolateNearestFloat16: dtypes without kernels take the composed
// ops and keep their dtype.
func TestInterpolateNearestFloat16(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 4}, 1, 1, 3).To(tensor.Float16)
	y := tensor.InterpolateNearest(x, [][]int{{0, 0, 1, 2, 2}})
	if y.DType() != tensor.Float16 {
		t.Fatalf("output is %v", y.DType())
	}
	if got := y.Float64s(); !slices.Equal(got, []float64{1, 1, 2, 4, 4}) {
		t.Fatalf("got %v, want [1 1 2 4 4]", got)
	}
}

// TestInterpolateNearestErrors: inputs that do not fit the indices name
// the op and the shapes.
func TestInterpolateNearestErrors(t *testing.T) {
	x := tensor.Zeros(1, 2, 3, 4)
	for _, c := range []struct {
		name string
		f    func()
		want []string
	}{
		{"rank", func() { tensor.InterpolateNearest(tensor.Zeros(2, 3), [][]int{{0}}) }, []string{"interpolate_nearest", "[2 3]", "1 spatial dims"}},
		{"dims", func() { tensor.InterpolateNearest(x, [][]int{{0}}) }, []string{"interpolate_nearest", "[1 2 3 4]"}},
		{"three dims", func() { tensor.InterpolateNearest(tensor.Zeros(1, 1, 2, 2, 2), [][]int{{0}, {0}, {0}}) }, []string{"interpolate_nearest", "[1 1 2 2 2]"}},
		{"index", func() { tensor.InterpolateNearest(x, [][]int{{0, 3}, {1}}) }, []string{"interpolate_nearest", "out of range for input [1 2 3 4]"}},
		{"dtype", func() { tensor.InterpolateNearest(tensor.ZerosOf(tensor.Int64, 1, 1, 3), [][]int{{0}}) }, []string{"interpolate_nearest", "int64"}},
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

func ExampleInterpolateNearest() {
	x := tensor.FromSlice([]float32{1, 2, 3}, 1, 1, 3)
	// 3 → 6 elements: output o reads input ⌊o/2⌋
	fmt.Println(tensor.InterpolateNearest(x, [][]int{{0, 0, 1, 1, 2, 2}}))
	// Output:
	// tensor([[[1., 1., 2., 2., 3., 3.]]])
}
