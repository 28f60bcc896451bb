package optim_test

import (
	"math"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

type clipCase struct {
	Name     string     `json:"name"`
	Kind     string     `json:"kind"`
	DType    string     `json:"dtype"`
	MaxNorm  float64    `json:"max_norm"`
	NormType any        `json:"norm_type"`
	Clip     float64    `json:"clip"`
	Grads    []fixValue `json:"grads"`
	Total    float64    `json:"total"`
	Clipped  []fixValue `json:"clipped"`
}

// TestClipGrad compares ClipGradNorm and ClipGradValue with torch's
// clip_grad_norm_ and clip_grad_value_ (clip.json): the returned total
// norm and the clipped gradients.
func TestClipGrad(t *testing.T) {
	var fx struct{ Cases []clipCase }
	readJSON(t, "clip.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no clip cases")
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			dt := fixDTypes[c.DType]
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-6
			}
			var ps []*nn.Parameter
			for _, g := range c.Grads {
				p := nn.NewParameter(tensor.ZerosOf(dt, g.Shape...))
				p.SetGrad(g.tensor(dt))
				ps = append(ps, p)
			}
			// a parameter without a gradient is ignored
			ps = append(ps, nn.NewParameter(tensor.ZerosOf(dt, 2)))
			switch c.Kind {
			case "norm":
				total := optim.ClipGradNorm(ps, c.MaxNorm, jsonFloat(c.NormType))
				if !near(total, c.Total, tol) {
					t.Errorf("total norm %.17g, want %.17g", total, c.Total)
				}
			case "value":
				optim.ClipGradValue(ps, c.Clip)
			}
			for i, want := range c.Clipped {
				compare(t, "grad", ps[i].Grad().Float64s(), want.floats(), tol)
			}
			if ps[len(ps)-1].Grad() != nil {
				t.Error("a parameter without a gradient got one")
			}
		})
	}
}

func TestClipGradNormEdgeCases(t *testing.T) {
	p := nn.NewParameter(tensor.Zeros(3))
	if got := optim.ClipGradNorm([]*nn.Parameter{p}, 1); got != 0 {
		t.Errorf("no gradients: total %v, want 0", got)
	}
	p.SetGrad(tensor.FromSlice([]float32{3, 4, 0}))
	if got := optim.ClipGradNorm([]*nn.Parameter{p}, 10); got != 5 {
		t.Errorf("total %v, want 5", got)
	}
	if g := p.Grad().Float64s(); g[0] != 3 || g[1] != 4 {
		t.Errorf("a norm below max_norm changed the gradient: %v", g)
	}
	p.SetGrad(tensor.FromSlice([]float32{float32(math.NaN()), 1, 0}))
	if got := optim.ClipGradNorm([]*nn.Parameter{p}, 1); !math.IsNaN(got) {
		t.Errorf("total %v, want NaN", got)
	}
	if g := p.Grad().Float64s(); !math.IsNaN(g[1]) {
		t.Errorf("a NaN norm should spread to the gradients, as in torch: %v", g)
	}
	defer func() {
		if recover() == nil {
			t.Error("norm type 0 did not panic")
		}
	}()
	optim.ClipGradNorm([]*nn.Parameter{p}, 1, 0)
}
