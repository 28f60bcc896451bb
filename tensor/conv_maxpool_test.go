package tensor_test

// MaxPool's gradient through the backend's one-pass kernel against the
// composed gradient (zeros and ScatterAdd), bit for bit, on windows that
// take each of the kernel's paths (the 2×2 stride-2 rows, the general
// scatter for overlapping, padded, dilated, ceil-mode and 1-d windows),
// with inputs full of ties and NaNs and output gradients that are not
// contiguous.

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func TestMaxPoolGradKernelMatchesComposed(t *testing.T) {
	cases := []struct {
		shape       []int
		k, s, p, d  []int
		ceil        bool
		transposedG bool
	}{
		{shape: []int{4, 8, 26, 26}, k: []int{2}},
		{shape: []int{4, 8, 11, 11}, k: []int{2}, transposedG: true},
		{shape: []int{2, 3, 9, 70}, k: []int{2}},
		{shape: []int{2, 3, 5, 5}, k: []int{2}, ceil: true},
		{shape: []int{2, 3, 9, 9}, k: []int{3}, s: []int{2}, p: []int{1}},
		{shape: []int{2, 3, 7, 8}, k: []int{3}, s: []int{1}},
		{shape: []int{2, 3, 9, 9}, k: []int{2}, d: []int{2}},
		{shape: []int{3, 2, 13}, k: []int{2}},
		{shape: []int{3, 2, 13}, k: []int{3}, s: []int{2}, p: []int{1}},
	}
	gen := tensor.NewGenerator(11)
	for _, c := range cases {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			for _, data := range []string{"normal", "ties", "nan"} {
				name := fmt.Sprintf("%v_k%v_s%v_p%v_d%v_ceil%v/%v/%s", c.shape, c.k, c.s, c.p, c.d, c.ceil, dt, data)
				x := gen.Normal(tensor.Float64, 0, 1, c.shape...)
				switch data {
				case "ties":
					x = x.MulScalar(2).Round().Clamp(-1, 1)
				case "nan":
					x = x.MaskedFill(x.GtScalar(1.5), math.NaN())
				}
				x = x.To(dt)
				grads := [2]*tensor.Tensor{}
				for i, on := range []bool{false, true} {
					old := tensor.SetMaxPoolBackwarder(on)
					leaf := x.Detach().SetRequiresGrad(true)
					v, _ := tensor.MaxPool(leaf, c.k, c.s, c.p, c.d, c.ceil)
					var g *tensor.Tensor
					if c.transposedG && v.Dim() == 4 {
						sh := v.Shape()
						g = tensor.NewGenerator(5).Normal(dt, 0, 1, sh[0], sh[1], sh[3], sh[2]).Transpose(2, 3)
					} else {
						g = tensor.NewGenerator(5).Normal(dt, 0, 1, v.Shape()...)
					}
					// some −0 gradients: the scatter into zeros makes them +0
					g = g.MaskedFill(g.Abs().LtScalar(0.2), math.Copysign(0, -1))
					v.BackwardWith(g)
					tensor.SetMaxPoolBackwarder(old)
					grads[i] = leaf.Grad()
				}
				a, b := grads[0].Float64s(), grads[1].Float64s()
				for i := range a {
					if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
						t.Fatalf("%s: [%d] kernel %v, composed %v", name, i, b[i], a[i])
					}
				}
			}
		}
	}
}
