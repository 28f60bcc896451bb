package tensor_test

import (
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func TestStringMatchesPyTorch(t *testing.T) {
	var fx struct {
		Cases []*fixTensor `json:"cases"`
	}
	loadJSON(t, "print.json", &fx)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			x := c.build()
			if c.RG {
				x.SetRequiresGrad(true)
			}
			if c.Name == "grad_fn_mul" {
				// the generator printed a*2 for a = [1, 2] requiring grad
				x = tensor.FromSlice([]float32{1, 2}).SetRequiresGrad(true).MulScalar(2)
			}
			if got := x.String(); got != c.Str {
				t.Fatalf("got\n%s\nwant\n%s", got, c.Str)
			}
		})
	}
}
