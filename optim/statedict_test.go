package optim_test

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
)

func cloneStateDict(sd map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range sd {
		out[k] = v.Clone()
	}
	return out
}

// TestStateDictRoundTrip checks, for every float64 configuration of the
// fixture, that 10 steps, a state dict, a fresh optimizer on copies of the
// parameters that loads it from a safetensors file, and 10 more steps give bit for bit the
// parameters of 20 uninterrupted steps.
func TestStateDictRoundTrip(t *testing.T) {
	fx := loadOptimFixture(t)
	for i := range fx.Cases {
		c := &fx.Cases[i]
		if c.DType != "float64" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			straight := newProblem(fx, tensor.Float64)
			o := straight.optimizer(c)
			for range 20 {
				straight.step(o)
			}

			first := newProblem(fx, tensor.Float64)
			o1 := first.optimizer(c)
			for range 10 {
				first.step(o1)
			}
			// through a safetensors file, as a checkpoint would go
			path := filepath.Join(t.TempDir(), "optim.safetensors")
			if err := safetensors.Save(path, o1.StateDict(), nil, nil); err != nil {
				t.Fatal(err)
			}
			sd, _, err := safetensors.Load(path)
			if err != nil {
				t.Fatal(err)
			}

			second := newProblem(fx, tensor.Float64)
			for j, p := range first.params {
				second.params[j] = nn.NewParameter(p.Clone())
			}
			// a fresh optimizer, made with other options, takes the saved ones
			o2 := second.optimizer(c)
			for _, g := range o2.ParamGroups() {
				g.SetLR(g.LR() * 3)
			}
			if err := o2.LoadStateDict(sd); err != nil {
				t.Fatal(err)
			}
			// the optimizer copied the state: changing the map changes nothing
			for _, v := range sd {
				if v.DType().IsFloat() {
					v.FillIn(math.NaN())
				}
			}
			for range 10 {
				second.step(o2)
			}
			got, want := second.flat(), straight.flat()
			for j := range want {
				if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
					t.Fatalf("value %d after resuming: %.17g, uninterrupted %.17g", j, got[j], want[j])
				}
			}
		})
	}
}

func TestLoadStateDictErrors(t *testing.T) {
	ps := []*nn.Parameter{nn.NewParameter(tensor.Ones(2, 3)), nn.NewParameter(tensor.Ones(4))}
	for _, p := range ps {
		p.SetGrad(tensor.OnesLike(p.Tensor))
	}
	o := optim.NewAdam(ps[:1], optim.AdamConfig{AMSGrad: true})
	o.AddParamGroup(ps[1:], optim.AdamConfig{})
	o.Step()
	good := cloneStateDict(o.StateDict())
	if err := o.LoadStateDict(good); err != nil {
		t.Fatalf("own state dict: %v", err)
	}

	bad := cloneStateDict(good)
	delete(bad, "state.0.max_exp_avg_sq")           // amsgrad needs it
	delete(bad, "param_groups.1.eps")               // an option
	bad["state.1.exp_avg"] = tensor.Zeros(5)        // wrong shape
	bad["state.7.exp_avg"] = tensor.Zeros(4)        // no parameter 7
	bad["param_groups.0.momentum"] = tensor.Zeros() // not an Adam option
	bad["param_groups.0.betas"] = tensor.Zeros(3)   // a pair
	bad["extra"] = tensor.Zeros(1)
	before := o.StateDict()["state.1.exp_avg"].Float64s()
	err := o.LoadStateDict(bad)
	var le *optim.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *LoadError", err)
	}
	wantMissing := []string{"param_groups.1.eps", "state.0.max_exp_avg_sq"}
	wantUnexpected := []string{"extra", "param_groups.0.momentum", "state.7.exp_avg"}
	if !slices.Equal(le.Missing, wantMissing) {
		t.Errorf("missing %v, want %v", le.Missing, wantMissing)
	}
	if !slices.Equal(le.Unexpected, wantUnexpected) {
		t.Errorf("unexpected %v, want %v", le.Unexpected, wantUnexpected)
	}
	if len(le.Mismatched) != 2 || !strings.HasPrefix(le.Mismatched[0], "param_groups.0.betas") ||
		!strings.HasPrefix(le.Mismatched[1], "state.1.exp_avg") {
		t.Errorf("mismatched %q", le.Mismatched)
	}
	if !strings.HasPrefix(err.Error(), "optim: load state dict: ") {
		t.Errorf("message %q", err)
	}
	if after := o.StateDict()["state.1.exp_avg"].Float64s(); !slices.Equal(before, after) {
		t.Error("a failed load changed the state")
	}

	// a state dict of another shape of optimizer
	o3 := optim.NewAdam(ps, optim.AdamConfig{})
	err = o3.LoadStateDict(good)
	if err == nil || !strings.Contains(err.Error(), "parameter groups") {
		t.Errorf("one group loading two: %v", err)
	}
	// another optimizer's state dict
	sgd := optim.NewSGD(ps[:1], optim.SGDConfig{LR: 0.1})
	sgd.AddParamGroup(ps[1:], optim.SGDConfig{LR: 0.1})
	if err := sgd.LoadStateDict(good); err == nil {
		t.Error("SGD loaded Adam's state dict")
	}
	// invalid option values are reported, not panicked on
	neg := cloneStateDict(good)
	neg["param_groups.0.lr"] = tensor.FromSlice([]float64{-1}, []int{}...)
	if err := o.LoadStateDict(neg); err == nil || !strings.Contains(err.Error(), "invalid learning rate") {
		t.Errorf("negative lr: %v", err)
	}
}

// TestStateDictLayout checks the keys and dtypes of a state dict and that
// it survives a dtype round trip (loading float32 state into float64
// parameters converts it, as torch does).
func TestStateDictLayout(t *testing.T) {
	p := nn.NewParameter(tensor.FromSlice([]float64{1, 2}))
	q := nn.NewParameter(tensor.FromSlice([]float64{3}))
	o := optim.NewSGD([]*nn.Parameter{p, q}, optim.SGDConfig{LR: 0.5, Momentum: 0.9})
	optim.NewStepLR(o, 2, 0.5) // sets initial_lr
	p.SetGrad(tensor.FromSlice([]float64{1, 1}))
	o.Step()
	sd := o.StateDict()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range sd {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"param_groups.0.dampening", "param_groups.0.initial_lr", "param_groups.0.lr",
		"param_groups.0.maximize", "param_groups.0.momentum", "param_groups.0.nesterov",
		"param_groups.0.params", "param_groups.0.weight_decay", "state.0.momentum_buffer"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v\nwant %v", keys, want)
	}
	if dt := sd["param_groups.0.lr"].DType(); dt != tensor.Float64 || sd["param_groups.0.lr"].Dim() != 0 {
		t.Errorf("lr: %v %v", dt, sd["param_groups.0.lr"].Shape())
	}
	if dt := sd["param_groups.0.nesterov"].DType(); dt != tensor.Bool {
		t.Errorf("nesterov: %v", dt)
	}
	if got := sd["param_groups.0.params"].Int64s(); !slices.Equal(got, []int64{0, 1}) {
		t.Errorf("params %v", got)
	}
	f32 := cloneStateDict(sd)
	f32["state.0.momentum_buffer"] = f32["state.0.momentum_buffer"].To(tensor.Float32)
	o2 := optim.NewSGD([]*nn.Parameter{nn.NewParameter(p.Clone()), nn.NewParameter(q.Clone())}, optim.SGDConfig{LR: 1})
	if err := o2.LoadStateDict(f32); err != nil {
		t.Fatal(err)
	}
	back := o2.StateDict()
	if dt := back["state.0.momentum_buffer"].DType(); dt != tensor.Float64 {
		t.Errorf("state loaded into float64 parameters has dtype %v", dt)
	}
	if lr, ok := o2.ParamGroups()[0].InitialLR(); !ok || lr != 0.5 {
		t.Errorf("initial_lr %v %v", lr, ok)
	}
	if got := o2.ParamGroups()[0].LR(); got != 0.5 {
		t.Errorf("lr %v after loading, want 0.5", got)
	}
}

func TestSchedulerStateDict(t *testing.T) {
	newOpt := func() *optim.SGD {
		return optim.NewSGD([]*nn.Parameter{nn.NewParameter(tensor.Zeros(1))}, optim.SGDConfig{LR: 1, Momentum: 0.9})
	}
	// 7 steps straight vs 3, save, 4 in a fresh one
	o := newOpt()
	s := optim.NewCosineAnnealingLR(o, 5, 0.1)
	for range 7 {
		s.Step()
	}
	o1 := newOpt()
	s1 := optim.NewCosineAnnealingLR(o1, 5, 0.1)
	for range 3 {
		s1.Step()
	}
	osd, ssd := o1.StateDict(), s1.StateDict()
	o2 := newOpt()
	s2 := optim.NewCosineAnnealingLR(o2, 5, 0.1)
	if err := o2.LoadStateDict(osd); err != nil {
		t.Fatal(err)
	}
	if err := s2.LoadStateDict(ssd); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		s2.Step()
	}
	if got, want := s2.LastLR()[0], s.LastLR()[0]; got != want {
		t.Errorf("resumed lr %v, want %v", got, want)
	}
	if err := s2.LoadStateDict(map[string]*tensor.Tensor{"last_epoch": tensor.Zeros(2)}); err == nil {
		t.Error("a bad scheduler state dict loaded")
	}

	p := optim.NewReduceLROnPlateau(o, optim.ReduceLROnPlateauConfig{NoPatience: true})
	p.Step(1)
	p.Step(2)
	p2 := optim.NewReduceLROnPlateau(newOpt())
	if err := p2.LoadStateDict(p.StateDict()); err != nil {
		t.Fatal(err)
	}
	if p2.Best() != 1 {
		t.Errorf("best %v, want 1", p2.Best())
	}
}
