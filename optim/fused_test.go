package optim_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// The fused optimizer updates (tensor.FusedSGD, tensor.FusedAdam) against
// the composed in-place updates (the default), which the fixture tests check
// against PyTorch: both round the same operations in the same order, so
// their trajectories must agree bit for bit, in float32 as in float64.

// fusedShapes are the parameters of the comparisons: a matrix, a vector, a
// 0-d scalar, an empty parameter, and one past the CPU backend's parallel
// threshold (so its chunks run on several goroutines where there are
// several cores).
var fusedShapes = [][]int{{7, 5}, {13}, {}, {0, 4}, {160, 300}}

// fusedCase is one optimizer configuration, as one or two param groups.
type fusedCase struct {
	name   string
	kind   string
	groups []opts
}

var fusedCases = []fusedCase{
	{"sgd", "sgd", []opts{{"lr": 0.05}}},
	{"sgd_momentum", "sgd", []opts{{"lr": 0.05, "momentum": 0.9}}},
	{"sgd_dampening", "sgd", []opts{{"lr": 0.05, "momentum": 0.9, "dampening": 0.3}}},
	{"sgd_nesterov", "sgd", []opts{{"lr": 0.05, "momentum": 0.9, "nesterov": true}}},
	{"sgd_weight_decay", "sgd", []opts{{"lr": 0.05, "weight_decay": 0.1}}},
	{"sgd_maximize", "sgd", []opts{{"lr": 0.01, "maximize": true}}},
	{"sgd_momentum_wd_max", "sgd", []opts{{"lr": 0.03, "momentum": 0.7, "dampening": 0.1, "weight_decay": 0.05, "maximize": true}}},
	{"sgd_all", "sgd", []opts{{"lr": 0.01, "momentum": 0.8, "nesterov": true, "weight_decay": 0.05, "maximize": true}}},
	{"sgd_groups", "sgd", []opts{{"lr": 0.05, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.5, "nesterov": true, "weight_decay": 0.01}}},
	{"adam_defaults", "adam", []opts{{}}},
	{"adam", "adam", []opts{{"lr": 0.05}}},
	{"adam_betas", "adam", []opts{{"lr": 0.05, "betas": []any{0.5, 0.9}}}},
	{"adam_beta1_zero", "adam", []opts{{"lr": 0.05, "betas": []any{0.0, 0.99}}}},
	{"adam_eps", "adam", []opts{{"lr": 0.05, "eps": 1e-3}}},
	{"adam_weight_decay", "adam", []opts{{"lr": 0.05, "weight_decay": 0.1}}},
	{"adam_amsgrad", "adam", []opts{{"lr": 0.05, "amsgrad": true}}},
	{"adam_maximize", "adam", []opts{{"lr": 0.05, "maximize": true}}},
	{"adam_all", "adam", []opts{{"lr": 0.05, "amsgrad": true, "betas": []any{0.8, 0.95}, "eps": 1e-6, "maximize": true, "weight_decay": 0.05}}},
	{"adam_groups", "adam", []opts{{"lr": 0.05, "amsgrad": true}, {"lr": 0.02, "betas": []any{0.8, 0.99}, "weight_decay": 0.05}}},
	{"adamw_defaults", "adamw", []opts{{}}},
	{"adamw_weight_decay", "adamw", []opts{{"lr": 0.05, "weight_decay": 0.2}}},
	{"adamw_no_weight_decay", "adamw", []opts{{"lr": 0.05, "weight_decay": 0.0}}},
	{"adamw_amsgrad", "adamw", []opts{{"lr": 0.05, "amsgrad": true, "weight_decay": 0.1}}},
	{"adamw_maximize", "adamw", []opts{{"lr": 0.05, "betas": []any{0.7, 0.9}, "maximize": true}}},
	{"adamw_groups", "adamw", []opts{{"lr": 0.05, "weight_decay": 0.0}, {"lr": 0.03, "amsgrad": true, "eps": 1e-4}}},
}

// fusedRun is one optimizer over fresh parameters, with the gradients
// fed to it drawn from its own seeded stream.
type fusedRun struct {
	params []*nn.Parameter
	o      optim.Optimizer
	rng    *rand.Rand
	dt     tensor.DType
}

// newFusedRun makes the parameters of shapes (each built by mk from
// row-major values, so a test can pass non-contiguous ones), split into
// the case's groups round-robin, and the optimizer, on the composed path
// when noFused is set.
func newFusedRun(c fusedCase, dt tensor.DType, shapes [][]int, mk func(vals []float64, shape []int, dt tensor.DType) *tensor.Tensor, noFused bool) *fusedRun {
	r := &fusedRun{rng: rand.New(rand.NewPCG(1, 2)), dt: dt}
	groups := make([][]*nn.Parameter, len(c.groups))
	for i, sh := range shapes {
		vals := make([]float64, numel(sh))
		for j := range vals {
			vals[j] = r.rng.NormFloat64()
		}
		p := nn.NewParameter(mk(vals, sh, dt))
		r.params = append(r.params, p)
		groups[i%len(groups)] = append(groups[i%len(groups)], p)
	}
	r.o = newOptimizer(c.kind, groups, c.groups)
	optim.SetFused(r.o, !noFused)
	return r
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

func contiguousOf(vals []float64, shape []int, dt tensor.DType) *tensor.Tensor {
	return tensor.FromSlice(vals, shape...).To(dt)
}

// step sets each gradient to 0.5·p plus noise of a scale that changes
// from step to step (some steps tiny, some large, some with exact zeros),
// then steps. The gradient depends on the parameter, so a difference
// between two runs feeds back.
func (r *fusedRun) step(s int) {
	scale := []float64{1, 1e-3, 30, 0.1}[s%4]
	for _, p := range r.params {
		noise := make([]float64, p.Numel())
		for j := range noise {
			if (j+s)%11 != 0 {
				noise[j] = scale * r.rng.NormFloat64()
			}
		}
		g := tensor.FromSlice(noise, p.Shape()...).To(r.dt)
		g.AddIn(p.Detach().MulScalar(0.5))
		p.SetGrad(g)
	}
	r.o.Step()
}

// bits returns every parameter's and state tensor's elements as bits
// (float64 of the element, which is exact for float32), by name.
func (r *fusedRun) bits() map[string][]uint64 {
	out := map[string][]uint64{}
	add := func(name string, t *tensor.Tensor) {
		var b []uint64
		for _, v := range t.Float64s() {
			b = append(b, math.Float64bits(v))
		}
		out[name] = b
	}
	for i, p := range r.params {
		add(fmt.Sprint("param.", i), p.Tensor)
	}
	for k, t := range r.o.StateDict() {
		if strings.HasPrefix(k, "state.") {
			add(k, t)
		}
	}
	return out
}

// sameBits compares two runs' parameters and state element by element and
// reports the first difference in units in the last place.
func sameBits(t *testing.T, what string, got, want map[string][]uint64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d tensors, want %d", what, len(got), len(want))
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || len(g) != len(w) {
			t.Errorf("%s: %s missing or of another size", what, k)
			return false
		}
		for i := range w {
			if g[i] != w[i] {
				gf, wf := math.Float64frombits(g[i]), math.Float64frombits(w[i])
				t.Errorf("%s: %s[%d] = %.9g, want %.9g (composed)", what, k, i, gf, wf)
				return false
			}
		}
	}
	return true
}

// TestFusedMatchesComposed runs each configuration for 20 steps on the
// fused and on the composed path and requires the same bits after every
// step, in float32 and float64. The fused run must take the fused path
// for every update.
func TestFusedMatchesComposed(t *testing.T) {
	steps := 20
	shapes := fusedShapes
	if testing.Short() {
		shapes = shapes[:len(shapes)-1] // the parallel one is slow under -race
	}
	for _, c := range fusedCases {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			t.Run(c.name+"/"+dt.String(), func(t *testing.T) {
				fused := newFusedRun(c, dt, shapes, contiguousOf, false)
				composed := newFusedRun(c, dt, shapes, contiguousOf, true)
				for s := range steps {
					fused.step(s)
					composed.step(s)
					if !sameBits(t, fmt.Sprint("step ", s+1), fused.bits(), composed.bits()) {
						return
					}
				}
				nf, nc := optim.PathCounts(fused.o)
				if want := steps * len(shapes); nf != want || nc != 0 {
					t.Errorf("fused run: %d fused and %d composed updates, want %d and 0", nf, nc, want)
				}
				if nf, _ := optim.PathCounts(composed.o); nf != 0 {
					t.Errorf("composed run: %d fused updates", nf)
				}
				// the trajectory went somewhere: not a no-op on both paths
				p := fused.params[0].Float64s()
				moved := false
				for i, v := range newFusedRun(c, dt, shapes, contiguousOf, true).params[0].Float64s() {
					moved = moved || v != p[i]
				}
				if !moved {
					t.Error("20 steps left the first parameter unchanged")
				}
			})
		}
	}
}

// transposedOf builds a non-contiguous parameter: the values stored
// transposed and viewed back through T (only for 2-d shapes; others are
// contiguous).
func transposedOf(vals []float64, shape []int, dt tensor.DType) *tensor.Tensor {
	t := tensor.FromSlice(vals, shape...).To(dt)
	if len(shape) != 2 {
		return t
	}
	return t.T().Contiguous().T()
}

// TestFusedFallsBack: parameters that do not qualify for the fused kernel
// (non-contiguous ones, a gradient of another dtype or a non-contiguous
// gradient) take the composed update, the others still the fused one,
// and the results are the composed run's bits.
func TestFusedFallsBack(t *testing.T) {
	shapes := [][]int{{7, 5}, {13}, {160, 300}, {4, 6}}
	for _, c := range []fusedCase{fusedCases[7], fusedCases[18], fusedCases[22]} {
		t.Run(c.name+"/transposed", func(t *testing.T) {
			fused := newFusedRun(c, tensor.Float32, shapes, transposedOf, false)
			composed := newFusedRun(c, tensor.Float32, shapes, contiguousOf, true)
			if fused.params[0].IsContiguous() {
				t.Fatal("the transposed parameter is contiguous")
			}
			for s := range 5 {
				fused.step(s)
				composed.step(s)
				if !sameBits(t, fmt.Sprint("step ", s+1), fused.bits(), composed.bits()) {
					return
				}
			}
			// three of the four are 2-d and transposed: only [13] is fused
			if nf, nc := optim.PathCounts(fused.o); nf != 5 || nc != 15 {
				t.Errorf("%d fused and %d composed updates, want 5 and 15", nf, nc)
			}
		})
		t.Run(c.name+"/odd_gradients", func(t *testing.T) {
			p := nn.NewParameter(tensor.FromSlice([]float32{1, -2, 3, -4, 5, -6}, 2, 3))
			q := nn.NewParameter(tensor.FromSlice([]float32{0.5, 0.25, -1, 2, 3, 4}, 2, 3))
			ref := []*nn.Parameter{nn.NewParameter(p.Clone()), nn.NewParameter(q.Clone())}
			o := newOptimizer(c.kind, [][]*nn.Parameter{{p, q}}, c.groups[:1])
			oref := newOptimizer(c.kind, [][]*nn.Parameter{ref}, c.groups[:1])
			optim.SetFused(o, true)
			optim.SetFused(oref, false)
			for s := range 3 {
				gp := tensor.FromSlice([]float64{0.1, 0.2, -0.3, 0.4, float64(s), -1}, 2, 3) // Float64 for a Float32 parameter
				gq := tensor.FromSlice([]float32{1, 2, 3, 4, 5, float32(s)}, 3, 2).T()       // non-contiguous
				p.SetGrad(gp)
				q.SetGrad(gq)
				ref[0].SetGrad(gp)
				ref[1].SetGrad(gq)
				o.Step()
				oref.Step()
			}
			for i, x := range []*nn.Parameter{p, q} {
				got, want := x.Float32s(), ref[i].Float32s()
				for j := range want {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Errorf("param %d [%d] = %v, want %v", i, j, got[j], want[j])
						break
					}
				}
			}
			if nf, nc := optim.PathCounts(o); nf != 0 || nc != 6 {
				t.Errorf("%d fused and %d composed updates, want 0 and 6", nf, nc)
			}
		})
	}
}

// TestFusedEmptyAndSkipped: an empty parameter takes the fused path and
// gets state of its shape; a parameter without a gradient gets none.
func TestFusedEmptyAndSkipped(t *testing.T) {
	for _, kind := range []string{"sgd", "adam", "adamw"} {
		p := nn.NewParameter(tensor.Zeros(0, 3))
		q := nn.NewParameter(tensor.Ones(2))
		z := nn.NewParameter(tensor.Ones(4))
		p.SetGrad(tensor.Zeros(0, 3))
		q.SetGrad(tensor.Ones(2))
		o := newOptimizer(kind, [][]*nn.Parameter{{p, q, z}}, []opts{{"lr": 0.1, "momentum": 0.5, "amsgrad": true}})
		optim.SetFused(o, true)
		if err := tensor.Try(func() { o.Step(); o.Step() }); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if nf, nc := optim.PathCounts(o); nf != 4 || nc != 0 {
			t.Errorf("%s: %d fused and %d composed updates, want 4 and 0", kind, nf, nc)
		}
		sd := o.StateDict()
		slot := "exp_avg"
		if kind == "sgd" {
			slot = "momentum_buffer"
		}
		if s := sd["state.0."+slot]; s == nil || s.Numel() != 0 || len(s.Shape()) != 2 {
			t.Errorf("%s: state of the empty parameter: %v", kind, s)
		}
		if _, ok := sd["state.2."+slot]; ok {
			t.Errorf("%s: a parameter without a gradient got state", kind)
		}
		if kind != "sgd" && sd["state.1.step"].Item() != 2 {
			t.Errorf("%s: step %v, want 2", kind, sd["state.1.step"].Item())
		}
	}
}

// TestFusedVersionCounter: the fused update bumps the version counter of
// the parameter's storage, so a backward that saved it reports the
// overwrite as the composed update's in-place ops make it do.
func TestFusedVersionCounter(t *testing.T) {
	for _, kind := range []string{"sgd", "adam", "adamw"} {
		p := nn.NewParameter(tensor.FromSlice([]float32{1, 2, 3}))
		y := p.Square().Sum() // saves p
		p.SetGrad(tensor.Ones(3))
		v := p.Version()
		o := newOptimizer(kind, [][]*nn.Parameter{{p}}, []opts{{"lr": 0.1}})
		o.Step()
		if p.Version() == v {
			t.Errorf("%s: the fused step left the version counter at %d", kind, v)
		}
		if err := tensor.Try(func() { y.Backward() }); err == nil {
			t.Errorf("%s: backward through a tensor the step overwrote did not fail", kind)
		}
	}
}
