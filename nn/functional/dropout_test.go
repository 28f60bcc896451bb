package functional_test

import (
	"math"
	"slices"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestDropoutStatistics(t *testing.T) {
	const n = 100000
	for _, c := range []struct {
		name string
		p    float64
		dt   tensor.DType
	}{
		{"p0.3/float32", 0.3, tensor.Float32},
		{"p0.5/float64", 0.5, tensor.Float64},
		{"p0.9/float32", 0.9, tensor.Float32},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := tensor.Ones(n).To(c.dt).SetRequiresGrad(true)
			y := F.Dropout(x, c.p, true, tensor.NewGenerator(11))
			scale := 1 / (1 - c.p)
			if c.dt == tensor.Float32 {
				scale = float64(float32(scale))
			}
			kept := 0
			for i, v := range y.Float64s() {
				switch v {
				case 0:
				case scale:
					kept++
				default:
					t.Fatalf("element %d = %v, want 0 or %v", i, v, scale)
				}
			}
			// the kept fraction is Binomial(n, 1−p)/n: allow 5 standard deviations
			frac, sd := float64(kept)/n, math.Sqrt(c.p*(1-c.p)/n)
			if math.Abs(frac-(1-c.p)) > 5*sd {
				t.Errorf("kept %.4f of the elements, want %.4f ± %.4f", frac, 1-c.p, 5*sd)
			}
			// the gradient is the same mask, scaled
			y.Sum().Backward()
			if !slices.Equal(x.Grad().Float64s(), y.Float64s()) {
				t.Error("gradient differs from the scaled mask")
			}
		})
	}
}

func TestDropoutDeterminism(t *testing.T) {
	x := tensor.Ones(64)
	a := F.Dropout(x, 0.5, true, tensor.NewGenerator(5)).Float64s()
	b := F.Dropout(x, 0.5, true, tensor.NewGenerator(5)).Float64s()
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different masks")
	}
	g := tensor.NewGenerator(5)
	first := F.Dropout(x, 0.5, true, g).Float64s()
	second := F.Dropout(x, 0.5, true, g).Float64s()
	if slices.Equal(first, second) {
		t.Error("two draws from one generator gave the same mask")
	}
	// no generator: the default one
	tensor.ManualSeed(5)
	if d := F.Dropout(x, 0.5, true).Float64s(); !slices.Equal(d, a) {
		t.Error("Dropout without a generator does not draw from the default generator")
	}
}

func TestDropoutIdentityAndZeros(t *testing.T) {
	x := tensor.FromSlice([]float64{1, -2, 3}).SetRequiresGrad(true)
	if F.Dropout(x, 0.5, false) != x || F.Dropout(x, 0, true) != x || F.Dropout2d(x.Reshape(1, 3), 0.5, false).Numel() != 3 {
		t.Error("eval mode or p = 0 must return the input itself")
	}
	z := F.Dropout(x, 1, true)
	if !slices.Equal(z.Float64s(), []float64{0, 0, 0}) || !z.RequiresGrad() {
		t.Errorf("p = 1 gives %v (requires grad %v), want zeros in the graph", z, z.RequiresGrad())
	}
	expectPanic(t, "dropout: probability must be in [0, 1], not 1.5", func() { F.Dropout(x, 1.5, true) })
	expectPanic(t, "dropout2d: input [3] must have at least 2 dims", func() { F.Dropout2d(x, 0.5, true) })
}

func TestDropout2dChannels(t *testing.T) {
	const n, c, h, w = 8, 16, 3, 5
	x := tensor.Ones(n, c, h, w)
	y := F.Dropout2d(x, 0.4, true, tensor.NewGenerator(9)).Float64s()
	kept := 0
	for m := 0; m < n*c; m++ {
		plane := y[m*h*w : (m+1)*h*w]
		for _, v := range plane {
			if v != plane[0] {
				t.Fatalf("feature map %d is not dropped as a whole: %v", m, plane)
			}
		}
		if plane[0] != 0 {
			kept++
			if want := float64(float32(1 / 0.6)); plane[0] != want {
				t.Fatalf("kept map scaled by %v, want %v", plane[0], want)
			}
		}
	}
	if kept == 0 || kept == n*c {
		t.Errorf("kept %d of %d feature maps", kept, n*c)
	}
}
