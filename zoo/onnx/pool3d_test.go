package onnx

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// avgPool3dRef is ONNX AveragePool over [N, C, D, H, W] by its
// definition: windows of kernel k at strides s over the input padded by
// pads (begins, then ends) with floor output sizes, each averaged over
// its in-input elements, or over all k elements with countPad.
func avgPool3dRef(x []float64, shape, k, s, pads []int, countPad bool) ([]float64, []int) {
	sp := shape[2:]
	out := []int{shape[0], shape[1], 0, 0, 0}
	for d := range 3 {
		out[2+d] = (sp[d]+pads[d]+pads[3+d]-k[d])/s[d] + 1
	}
	var y []float64
	for nc := range shape[0] * shape[1] {
		for od := range out[2] {
			for oh := range out[3] {
				for ow := range out[4] {
					sum, cnt := 0.0, 0
					for a := range k[0] {
						for b := range k[1] {
							for c := range k[2] {
								i, j, l := od*s[0]-pads[0]+a, oh*s[1]-pads[1]+b, ow*s[2]-pads[2]+c
								if i < 0 || j < 0 || l < 0 || i >= sp[0] || j >= sp[1] || l >= sp[2] {
									continue
								}
								sum += x[((nc*sp[0]+i)*sp[1]+j)*sp[2]+l]
								cnt++
							}
						}
					}
					if countPad {
						cnt = k[0] * k[1] * k[2]
					}
					y = append(y, sum/float64(cnt))
				}
			}
		}
	}
	return y, out
}

// AveragePool over three spatial dims runs F.AvgPool3d (with its own
// padding when the pads are symmetric, explicit padding otherwise); the
// libonnx node and PyTorch-converted suites only have unpadded 3-d
// cases, so the padded ones are checked here against the definition.
func TestAveragePool3dPads(t *testing.T) {
	shape := []int{1, 2, 4, 5, 3}
	n := 1
	for _, v := range shape {
		n *= v
	}
	xs := make([]float32, n)
	x64 := make([]float64, n)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i)*1.7) * 3)
		x64[i] = float64(xs[i])
	}
	x := tensor.FromSlice(xs, shape...)
	k64 := func(v []int) []int64 {
		out := make([]int64, len(v))
		for i, e := range v {
			out[i] = int64(e)
		}
		return out
	}
	for _, c := range []struct {
		k, s, pads []int
	}{
		{[]int{2, 2, 2}, []int{1, 1, 1}, []int{1, 1, 1, 1, 1, 1}},
		{[]int{3, 2, 2}, []int{2, 2, 1}, []int{1, 0, 1, 1, 0, 1}},
		{[]int{2, 3, 2}, []int{1, 2, 2}, []int{0, 1, 1, 1, 2, 0}}, // asymmetric
	} {
		for _, countPad := range []bool{false, true} {
			name := fmt.Sprintf("k%v s%v pads%v count_include_pad %v", c.k, c.s, c.pads, countPad)
			inc := int64(0)
			if countPad {
				inc = 1
			}
			y := runOne(t, 11, "AveragePool", []*tensor.Tensor{x}, nil, []string{"X0"}, 1,
				intsAttr("kernel_shape", k64(c.k)...), intsAttr("strides", k64(c.s)...), intsAttr("pads", k64(c.pads)...),
				intAttr("count_include_pad", inc))
			want, wshape := avgPool3dRef(x64, shape, c.k, c.s, c.pads, countPad)
			got := y[0]
			if fmt.Sprint(got.Shape()) != fmt.Sprint(wshape) {
				t.Errorf("%s: shape %v, want %v", name, got.Shape(), wshape)
				continue
			}
			for i, g := range got.Float64s() {
				if math.Abs(g-want[i]) > 1e-5 {
					t.Errorf("%s: element %d is %v, want %v", name, i, g, want[i])
					break
				}
			}
		}
	}
}
