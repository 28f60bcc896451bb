package functional

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// composedLinear is the linear modes of Interpolate composed as they
// were before tensor.InterpolateLinear: per spatial dim, the last first,
// two IndexSelects with linearCoeffs' indices, each multiplied by its
// weights broadcast along the dim, and their sum. out is the output's
// spatial size; scale[d] is the scale factor of dim d, or 0 for none.
func composedLinear(x *tensor.Tensor, out []int, scale []float64, align bool) *tensor.Tensor {
	in := x.Shape()[2:]
	f32 := x.DType() != tensor.Float64
	y := x
	for d := len(out) - 1; d >= 0; d-- {
		i0, i1 := make([]int64, out[d]), make([]int64, out[d])
		w0, w1 := make([]float64, out[d]), make([]float64, out[d])
		for o := range i0 {
			a, b, l0, l1 := linearCoeffs(o, in[d], out[d], scale[d], align, f32)
			i0[o], i1[o], w0[o], w1[o] = int64(a), int64(b), l0, l1
		}
		wsh := make([]int, y.Dim()-2-d)
		for i := range wsh {
			wsh[i] = 1
		}
		wsh[0] = out[d]
		wt := func(w []float64) *tensor.Tensor { return tensor.FromSlice(w).Reshape(wsh...).To(x.DType()) }
		x0 := y.IndexSelect(2+d, tensor.FromSlice(i0))
		x1 := y.IndexSelect(2+d, tensor.FromSlice(i1))
		y = x0.Mul(wt(w0)).Add(x1.Mul(wt(w1)))
	}
	return y
}

// TestInterpolateLinearMatchesComposed holds the linear modes of
// Interpolate, one fused op, to their former composition, bit for bit:
// float32 and float64, with and without aligned corners, upscaling and
// downscaling by size and by scale factor (which, not the ratio of the
// sizes, maps the coordinates), size-1 input dims, output size 1,
// unchanged sizes, transposed input and an empty batch.
func TestInterpolateLinearMatchesComposed(t *testing.T) {
	type tc struct {
		name      string
		shape     []int
		size      []int
		scale     []float64
		transpose bool
	}
	cases := []tc{
		{"linear/up2", []int{2, 3, 7}, nil, []float64{2}, false},
		{"linear/scale1.7", []int{2, 2, 5}, nil, []float64{1.7}, false},
		{"linear/down", []int{2, 3, 9}, []int{4}, nil, false},
		{"linear/half", []int{1, 2, 9}, nil, []float64{0.5}, false},
		{"linear/in1", []int{2, 2, 1}, []int{5}, nil, false},
		{"linear/out1", []int{2, 2, 6}, []int{1}, nil, false},
		{"linear/same", []int{2, 2, 6}, []int{6}, nil, false},
		{"linear/batch0", []int{0, 2, 6}, []int{9}, nil, false},
		{"bilinear/up2", []int{2, 3, 5, 7}, nil, []float64{2}, false},
		{"bilinear/scales", []int{1, 2, 5, 6}, nil, []float64{1.5, 0.7}, false},
		{"bilinear/size", []int{2, 2, 6, 4}, []int{3, 9}, nil, false},
		{"bilinear/h1", []int{1, 2, 1, 5}, []int{4, 5}, nil, false},
		{"bilinear/w1", []int{1, 2, 5, 1}, []int{2, 3}, nil, false},
		{"bilinear/out1", []int{1, 2, 4, 5}, []int{1, 1}, nil, false},
		{"bilinear/same", []int{2, 2, 4, 5}, []int{4, 5}, nil, false},
		{"bilinear/transposed", []int{2, 3, 6, 4}, []int{7, 11}, nil, true},
		{"bilinear/batch0", []int{0, 3, 4, 4}, nil, []float64{2}, false},
		{"bilinear/large", []int{2, 16, 28, 28}, nil, []float64{2}, false},
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, c := range cases {
			for _, align := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%s/align=%v", dt, c.name, align), func(t *testing.T) {
					x := tensor.NewGenerator(3).Normal(dt, 0, 1, c.shape...)
					if c.transpose {
						sh := append([]int(nil), c.shape...)
						sh[2], sh[3] = sh[3], sh[2]
						x = tensor.NewGenerator(3).Normal(dt, 0, 1, sh...).Transpose(2, 3)
					}
					mode := map[int]string{3: "linear", 4: "bilinear"}[len(c.shape)]
					got := Interpolate(x, InterpolateOptions{Size: c.size, ScaleFactor: c.scale, Mode: mode, AlignCorners: align})
					nsp := len(c.shape) - 2
					out, scale := make([]int, nsp), make([]float64, nsp)
					for d := range nsp {
						if c.size != nil {
							out[d] = c.size[d%len(c.size)]
						} else {
							scale[d] = c.scale[d%len(c.scale)]
							out[d] = int(math.Floor(float64(c.shape[2+d]) * scale[d]))
						}
					}
					want := composedLinear(x, out, scale, align)
					if fmt.Sprint(got.Shape()) != fmt.Sprint(want.Shape()) || got.DType() != dt {
						t.Fatalf("got %v %v, want %v %v", got.DType(), got.Shape(), dt, want.Shape())
					}
					g, w := got.Float64s(), want.Float64s()
					for i := range w {
						if math.Float64bits(g[i]) != math.Float64bits(w[i]) {
							t.Fatalf("[%d] = %v, composed %v", i, g[i], w[i])
						}
					}
				})
			}
		}
	}
}
