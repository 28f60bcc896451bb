package nninit_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"testing"

	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// moments returns the mean and the (population) standard deviation.
func moments(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

func TestCalculateGainMatchesTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/gains.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Gains []struct {
			Nonlinearity string   `json:"nonlinearity"`
			Param        *float64 `json:"param"`
			Gain         float64  `json:"gain"`
		} `json:"gains"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Gains) == 0 {
		t.Fatal("no gains in fixture")
	}
	for _, g := range doc.Gains {
		var got float64
		if g.Param != nil {
			got = nninit.CalculateGain(g.Nonlinearity, *g.Param)
		} else {
			got = nninit.CalculateGain(g.Nonlinearity)
		}
		if math.Abs(got-g.Gain) > 1e-12*math.Abs(g.Gain) {
			t.Errorf("CalculateGain(%q, %v) = %v, torch %v", g.Nonlinearity, g.Param, got, g.Gain)
		}
	}
}

// Large-sample statistics: n draws, checked within about five standard
// errors of the distribution's moments.
func TestDistributions(t *testing.T) {
	const rows, cols = 400, 500 // fan_in 500, fan_out 400, n = 200000
	n := float64(rows * cols)
	in, out := 500.0, 400.0
	tests := []struct {
		name      string
		fill      func(x *tensor.Tensor, g *tensor.Generator)
		mean, std float64
		bound     float64 // |x| ≤ bound when > 0
		uniform   bool
	}{
		{"Uniform(-2,3)", func(x *tensor.Tensor, g *tensor.Generator) { nninit.Uniform(x, -2, 3, g) }, 0.5, 5 / math.Sqrt(12), 3, true},
		{"Normal(1,2)", func(x *tensor.Tensor, g *tensor.Generator) { nninit.Normal(x, 1, 2, g) }, 1, 2, 0, false},
		{"XavierUniform(gain 2)", func(x *tensor.Tensor, g *tensor.Generator) { nninit.XavierUniform(x, 2, g) },
			0, 2 * math.Sqrt(2/(in+out)), 2 * math.Sqrt(6/(in+out)), true},
		{"XavierNormal", func(x *tensor.Tensor, g *tensor.Generator) { nninit.XavierNormal(x, 1, g) },
			0, math.Sqrt(2 / (in + out)), 0, false},
		{"KaimingUniform(a=√5) = U(±1/√fan_in)", func(x *tensor.Tensor, g *tensor.Generator) {
			nninit.KaimingUniform(x, math.Sqrt(5), "", "", g)
		}, 0, 1 / math.Sqrt(in) / math.Sqrt(3), 1 / math.Sqrt(in), true},
		{"KaimingUniform relu fan_out", func(x *tensor.Tensor, g *tensor.Generator) {
			nninit.KaimingUniform(x, 0, "fan_out", "relu", g)
		}, 0, math.Sqrt(2 / out), math.Sqrt(6 / out), true},
		{"KaimingNormal relu fan_out", func(x *tensor.Tensor, g *tensor.Generator) {
			nninit.KaimingNormal(x, 0, "fan_out", "relu", g)
		}, 0, math.Sqrt(2 / out), 0, false},
		{"KaimingNormal leaky 0.2", func(x *tensor.Tensor, g *tensor.Generator) {
			nninit.KaimingNormal(x, 0.2, "fan_in", "leaky_relu", g)
		}, 0, math.Sqrt(2/(1+0.04)) / math.Sqrt(in), 0, false},
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for i, tc := range tests {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				x := tensor.ZerosOf(dt, rows, cols)
				tc.fill(x, tensor.NewGenerator(uint64(100+i)))
				if x.DType() != dt || !slices.Equal(x.Shape(), []int{rows, cols}) {
					t.Fatalf("tensor changed to %v %v", x.DType(), x.Shape())
				}
				v := x.Float64s()
				mean, std := moments(v)
				if se := tc.std / math.Sqrt(n); math.Abs(mean-tc.mean) > 5*se {
					t.Errorf("mean %.6g, want %.6g ± %.3g", mean, tc.mean, 5*se)
				}
				// the sample std's relative standard error is below 1/√n
				// times a small factor for these distributions
				if math.Abs(std/tc.std-1) > 5/math.Sqrt(n) {
					t.Errorf("std %.6g, want %.6g (rel. error %.3g)", std, tc.std, std/tc.std-1)
				}
				if tc.bound > 0 {
					lo, hi := slices.Min(v), slices.Max(v)
					want := tc.bound
					if tc.uniform && tc.mean != 0 {
						want = math.Max(math.Abs(tc.mean-math.Sqrt(3)*tc.std), math.Abs(tc.mean+math.Sqrt(3)*tc.std))
					}
					if math.Max(-lo, hi) > want*(1+1e-6) {
						t.Errorf("values in [%g, %g] exceed bound %g", lo, hi, want)
					}
					// and they reach close to it
					if math.Max(-lo, hi) < want*0.999 {
						t.Errorf("values in [%g, %g] stay well inside bound %g", lo, hi, want)
					}
				}
			})
		}
	}
}

func TestTruncNormal(t *testing.T) {
	x := tensor.Zeros(200000)
	nninit.TruncNormal(x, 1, 2, -1, 2, tensor.NewGenerator(3))
	v := x.Float64s()
	if lo, hi := slices.Min(v), slices.Max(v); lo < -1 || hi > 2 {
		t.Errorf("values in [%g, %g], want within [-1, 2]", lo, hi)
	}
	// Moments of N(1, 2²) truncated to [-1, 2]: α = -1, β = 0.5.
	phi := func(z float64) float64 { return math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) }
	cdf := func(z float64) float64 { return (1 + math.Erf(z/math.Sqrt2)) / 2 }
	a, b := -1.0, 0.5
	z := cdf(b) - cdf(a)
	wantMean := 1 + 2*(phi(a)-phi(b))/z
	wantVar := 4 * (1 + (a*phi(a)-b*phi(b))/z - math.Pow((phi(a)-phi(b))/z, 2))
	mean, std := moments(v)
	se := math.Sqrt(wantVar / float64(len(v)))
	if math.Abs(mean-wantMean) > 5*se {
		t.Errorf("mean %g, want %g ± %g", mean, wantMean, 5*se)
	}
	if math.Abs(std/math.Sqrt(wantVar)-1) > 0.01 {
		t.Errorf("std %g, want %g", std, math.Sqrt(wantVar))
	}
}

func TestOrthogonal(t *testing.T) {
	for _, shape := range [][]int{{6, 4}, {4, 6}, {5, 5}, {3, 2, 2, 2}, {1, 7}} {
		for _, gain := range []float64{1, 2.5} {
			x := tensor.ZerosOf(tensor.Float64, shape...)
			nninit.Orthogonal(x, gain, tensor.NewGenerator(9))
			rows := shape[0]
			cols := x.Numel() / rows
			m := x.Reshape(rows, cols)
			var p *tensor.Tensor // the Gram matrix of the orthonormal side
			if rows >= cols {
				p = m.T().MatMul(m)
			} else {
				p = m.MatMul(m.T())
			}
			k := p.Size(0)
			pv := p.Float64s()
			for i := range k {
				for j := range k {
					want := 0.0
					if i == j {
						want = gain * gain
					}
					if d := math.Abs(pv[i*k+j] - want); d > 1e-12 {
						t.Errorf("shape %v gain %v: QᵀQ[%d,%d] = %g, want %g", shape, gain, i, j, pv[i*k+j], want)
					}
				}
			}
		}
	}
	// float32 within float32 rounding
	x := tensor.Zeros(64, 32)
	nninit.Orthogonal(x, 1)
	p := x.T().MatMul(x).Sub(tensor.Eye(32)).Abs().Amax().Item()
	if p > 1e-5 {
		t.Errorf("float32 64×32: max |QᵀQ − I| = %g", p)
	}
}

func TestDeterministicAndInPlace(t *testing.T) {
	fills := map[string]func(x *tensor.Tensor, g ...*tensor.Generator){
		"uniform":         func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.Uniform(x, 0, 1, g...) },
		"normal":          func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.Normal(x, 0, 1, g...) },
		"xavier_uniform":  func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.XavierUniform(x, 1, g...) },
		"xavier_normal":   func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.XavierNormal(x, 1, g...) },
		"kaiming_uniform": func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.KaimingUniform(x, 0, "", "relu", g...) },
		"kaiming_normal":  func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.KaimingNormal(x, 0, "", "relu", g...) },
		"orthogonal":      func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.Orthogonal(x, 1, g...) },
		"trunc_normal":    func(x *tensor.Tensor, g ...*tensor.Generator) { nninit.TruncNormal(x, 0, 1, -2, 2, g...) },
	}
	for name, fill := range fills {
		// a parameter-like leaf that requires grad is filled in place
		a := tensor.Zeros(3, 4, 2).SetRequiresGrad(true)
		b := tensor.Zeros(3, 4, 2)
		fill(a, tensor.NewGenerator(42))
		fill(b, tensor.NewGenerator(42))
		if !slices.Equal(a.Float32s(), b.Float32s()) {
			t.Errorf("%s: the same seed gave different values", name)
		}
		if !a.RequiresGrad() || !a.IsLeaf() || a.GradFn() != nil {
			t.Errorf("%s: filling a leaf changed its autograd state", name)
		}
		if slices.Max(a.Float64s()) == 0 && slices.Min(a.Float64s()) == 0 {
			t.Errorf("%s: left the tensor zero", name)
		}
		c := tensor.Zeros(3, 4, 2)
		fill(c, tensor.NewGenerator(43))
		if slices.Equal(a.Float32s(), c.Float32s()) {
			t.Errorf("%s: different seeds gave the same values", name)
		}
		// the default generator, reseeded, repeats itself
		tensor.ManualSeed(7)
		fill(b)
		tensor.ManualSeed(7)
		fill(c)
		if !slices.Equal(b.Float32s(), c.Float32s()) {
			t.Errorf("%s: ManualSeed did not repeat the default generator", name)
		}
	}
}

func TestConstants(t *testing.T) {
	x := tensor.Zeros(2, 3).SetRequiresGrad(true)
	nninit.Constant(x, 2.5)
	for _, v := range x.Float64s() {
		if v != 2.5 {
			t.Fatalf("Constant: %v", x.Float64s())
		}
	}
	if nninit.Ones(x); slices.Max(x.Float64s()) != 1 || slices.Min(x.Float64s()) != 1 {
		t.Errorf("Ones: %v", x.Float64s())
	}
	if nninit.Zeros(x); slices.Max(x.Float64s()) != 0 || slices.Min(x.Float64s()) != 0 {
		t.Errorf("Zeros: %v", x.Float64s())
	}
	e := nninit.Eye(tensor.Ones(2, 3))
	if got := e.Float64s(); !slices.Equal(got, []float64{1, 0, 0, 0, 1, 0}) {
		t.Errorf("Eye: %v", got)
	}
}

func TestFans(t *testing.T) {
	for _, tc := range []struct {
		shape   []int
		in, out int
	}{{[]int{3, 5}, 5, 3}, {[]int{8, 4, 3, 3}, 36, 72}, {[]int{6, 2, 5}, 10, 30}} {
		in, out := nninit.FanInAndFanOut(tensor.Zeros(tc.shape...))
		if in != tc.in || out != tc.out {
			t.Errorf("shape %v: fans %d, %d, want %d, %d", tc.shape, in, out, tc.in, tc.out)
		}
	}
}

func TestBadArgumentsPanicWithTensorError(t *testing.T) {
	for name, f := range map[string]func(){
		"1-d fan":             func() { nninit.XavierUniform(tensor.Zeros(5), 1) },
		"unknown nonlinear":   func() { nninit.CalculateGain("swish") },
		"bad mode":            func() { nninit.KaimingUniform(tensor.Zeros(2, 2), 0, "fan_avg", "") },
		"integer tensor":      func() { nninit.Normal(tensor.FromSlice([]int64{1, 2}), 0, 1) },
		"orthogonal 1-d":      func() { nninit.Orthogonal(tensor.Zeros(4), 1) },
		"uniform bad bounds":  func() { nninit.Uniform(tensor.Zeros(4), 1, 0) },
		"trunc normal bounds": func() { nninit.TruncNormal(tensor.Zeros(4), 0, 1, 2, -2) },
	} {
		err := tensor.Try(f)
		var te *tensor.Error
		if !errors.As(err, &te) {
			t.Errorf("%s: got %v, want a *tensor.Error", name, err)
		}
	}
}
