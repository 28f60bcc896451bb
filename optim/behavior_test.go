package optim_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

func params(n int) []*nn.Parameter {
	var ps []*nn.Parameter
	for i := range n {
		ps = append(ps, nn.NewParameter(tensor.Full(float64(i+1), 2, 2)))
	}
	return ps
}

// TestDefaults checks that zero config fields become torch's defaults in
// the groups' resolved options.
func TestDefaults(t *testing.T) {
	cases := []struct {
		name string
		opt  optim.Optimizer
		want optim.Options
	}{
		{"adam", optim.NewAdam(params(1), optim.AdamConfig{}),
			&optim.AdamConfig{LR: 1e-3, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8}},
		{"adam beta1 0", optim.NewAdam(params(1), optim.AdamConfig{Betas: [2]float64{0, 0.99}}),
			&optim.AdamConfig{LR: 1e-3, Betas: [2]float64{0, 0.99}, Eps: 1e-8}},
		{"adamw", optim.NewAdamW(params(1), optim.AdamWConfig{}),
			&optim.AdamWConfig{LR: 1e-3, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8, WeightDecay: 1e-2}},
		{"adamw no decay", optim.NewAdamW(params(1), optim.AdamWConfig{NoWeightDecay: true, WeightDecay: 0.5}),
			&optim.AdamWConfig{LR: 1e-3, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8, NoWeightDecay: true}},
		{"rmsprop", optim.NewRMSprop(params(1), optim.RMSpropConfig{}),
			&optim.RMSpropConfig{LR: 1e-2, Alpha: 0.99, Eps: 1e-8}},
		{"adagrad", optim.NewAdagrad(params(1), optim.AdagradConfig{}),
			&optim.AdagradConfig{LR: 1e-2, Eps: 1e-10}},
		{"adadelta", optim.NewAdadelta(params(1), optim.AdadeltaConfig{}),
			&optim.AdadeltaConfig{LR: 1, Rho: 0.9, Eps: 1e-6}},
		{"sgd", optim.NewSGD(params(1), optim.SGDConfig{LR: 0.1}), &optim.SGDConfig{LR: 0.1}},
	}
	for _, c := range cases {
		got := c.opt.ParamGroups()[0].Options
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", c.want) {
			t.Errorf("%s: options %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestPanics checks the constructors' checks, which panic as torch's
// raise, with messages that start with the package name.
func TestPanics(t *testing.T) {
	ps := params(2)
	intParam := &nn.Parameter{Tensor: tensor.FromSlice([]int64{1, 2})}
	adagrad := optim.NewAdagrad(ps, optim.AdagradConfig{})
	cases := []struct {
		name string
		f    func()
		want string
	}{
		{"sgd without lr", func() { optim.NewSGD(ps, optim.SGDConfig{}) }, "LR is required"},
		{"negative lr", func() { optim.NewSGD(ps, optim.SGDConfig{LR: -1}) }, "invalid learning rate"},
		{"nesterov without momentum", func() { optim.NewSGD(ps, optim.SGDConfig{LR: 1, Nesterov: true}) }, "Nesterov"},
		{"nesterov with dampening", func() {
			optim.NewSGD(ps, optim.SGDConfig{LR: 1, Nesterov: true, Momentum: 0.9, Dampening: 0.1})
		}, "Nesterov"},
		{"empty", func() { optim.NewAdam(nil, optim.AdamConfig{}) }, "empty parameter list"},
		{"twice", func() { optim.NewAdam([]*nn.Parameter{ps[0], ps[0]}, optim.AdamConfig{}) }, "more than one parameter group"},
		{"twice across groups", func() {
			optim.NewAdam(ps, optim.AdamConfig{}).AddParamGroup(ps[1:], optim.AdamConfig{})
		}, "more than one parameter group"},
		{"beta 1", func() { optim.NewAdam(ps, optim.AdamConfig{Betas: [2]float64{1, 0.9}}) }, "beta parameter at index 0"},
		{"beta2 negative", func() { optim.NewAdamW(ps, optim.AdamWConfig{Betas: [2]float64{0.9, -1}}) }, "beta parameter at index 1"},
		{"negative eps", func() { optim.NewRMSprop(ps, optim.RMSpropConfig{Eps: -1}) }, "invalid epsilon"},
		{"negative lr decay", func() { optim.NewAdagrad(ps, optim.AdagradConfig{LRDecay: -1}) }, "invalid lr_decay"},
		{"rho above 1", func() { optim.NewAdadelta(ps, optim.AdadeltaConfig{Rho: 2}) }, "invalid rho"},
		{"integer parameter", func() { optim.NewSGD([]*nn.Parameter{intParam}, optim.SGDConfig{LR: 1}) }, "floating-point"},
		{"one cycle without momentum", func() { optim.NewOneCycleLR(adagrad, 0.1, 10) }, "support momentum"},
		{"one cycle past the end", func() {
			s := optim.NewOneCycleLR(optim.NewSGD(ps, optim.SGDConfig{LR: 1}), 0.1, 3)
			for range 4 {
				s.Step()
			}
		}, "tried to step 5 times"},
		{"one cycle strategy", func() {
			optim.NewOneCycleLR(optim.NewSGD(ps, optim.SGDConfig{LR: 1}), 0.1, 3, optim.OneCycleLRConfig{AnnealStrategy: "exp"})
		}, "anneal strategy"},
		{"plateau factor", func() {
			optim.NewReduceLROnPlateau(adagrad, optim.ReduceLROnPlateauConfig{Factor: 1})
		}, "factor"},
		{"plateau mode", func() {
			optim.NewReduceLROnPlateau(adagrad, optim.ReduceLROnPlateauConfig{Mode: "up"})
		}, "mode"},
		{"linear factor", func() { optim.NewLinearLR(adagrad, 0, 1, 5) }, "starting multiplicative factor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg := fmt.Sprint(r)
				if r == nil || !strings.HasPrefix(msg, "optim: ") || !strings.Contains(msg, c.want) {
					t.Errorf("panic %q, want one about %q", msg, c.want)
				}
			}()
			c.f()
		})
	}
}

// TestStepRecordsNothing: after Step the parameters are still leaves and
// the state does not require grad, even with a gradient that does
// (computed with CreateGraph).
func TestStepRecordsNothing(t *testing.T) {
	p := nn.NewParameter(tensor.FromSlice([]float64{1, -2, 3}))
	loss := p.Square().Sum()
	g := autograd.Grad([]*tensor.Tensor{loss}, []*tensor.Tensor{p.Tensor}, nil, autograd.GradOptions{CreateGraph: true})[0]
	if !g.RequiresGrad() {
		t.Fatal("the gradient made with CreateGraph does not require grad")
	}
	p.SetGrad(g)
	before := p.Version()
	o := optim.NewAdam([]*nn.Parameter{p}, optim.AdamConfig{LR: 0.1})
	o.Step()
	if !p.IsLeaf() || !p.RequiresGrad() || p.GradFn() != nil {
		t.Error("the parameter stopped being a leaf that requires grad")
	}
	if p.Version() == before {
		t.Error("the update did not bump the parameter's version counter")
	}
	for k, v := range o.StateDict() {
		if v.RequiresGrad() {
			t.Errorf("%s requires grad", k)
		}
	}
	// Adam's first step moves each element by lr against its gradient's sign
	want := []float64{0.9, -1.9, 2.9}
	compare(t, "param", p.Float64s(), want, 1e-7)
}

// TestStateDTypes: state is made in the parameter's dtype, and follows the
// parameter when its tensor is converted (as nn.To does).
func TestStateDTypes(t *testing.T) {
	p := nn.NewParameter(tensor.FromSlice([]float32{1, 2}))
	p.SetGrad(tensor.FromSlice([]float32{1, 1}))
	o := optim.NewRMSprop([]*nn.Parameter{p}, optim.RMSpropConfig{Momentum: 0.5, Centered: true})
	o.Step()
	for k, v := range o.StateDict() {
		if strings.HasPrefix(k, "state.") && !strings.HasSuffix(k, ".step") && v.DType() != tensor.Float32 {
			t.Errorf("%s has dtype %v", k, v.DType())
		}
	}
	p.Tensor = p.To(tensor.Float64).Detach().SetRequiresGrad(true)
	p.SetGrad(tensor.FromSlice([]float64{1, 1}))
	o.Step()
	for k, v := range o.StateDict() {
		if strings.HasPrefix(k, "state.") && !strings.HasSuffix(k, ".step") && v.DType() != tensor.Float64 {
			t.Errorf("after conversion %s has dtype %v", k, v.DType())
		}
	}
	if p.DType() != tensor.Float64 {
		t.Errorf("the parameter became %v", p.DType())
	}
}

// TestGroupAccessors checks what schedulers use: LR, momentum (β1 for
// Adam) and initial_lr.
func TestGroupAccessors(t *testing.T) {
	adam := optim.NewAdam(params(1), optim.AdamConfig{})
	g := adam.ParamGroups()[0]
	g.SetLR(0.5)
	if !g.SetMomentum(0.7) {
		t.Fatal("Adam has no momentum")
	}
	c := g.Options.(*optim.AdamConfig)
	if c.LR != 0.5 || c.Betas != [2]float64{0.7, 0.999} {
		t.Errorf("options %+v", c)
	}
	if _, ok := g.InitialLR(); ok {
		t.Error("initial_lr set before any scheduler")
	}
	optim.NewExponentialLR(adam, 0.5)
	optim.NewStepLR(adam, 2, 0.1) // keeps the first scheduler's initial_lr
	if lr, ok := g.InitialLR(); !ok || lr != 0.5 {
		t.Errorf("initial_lr %v %v, want 0.5", lr, ok)
	}
	ada := optim.NewAdadelta(params(1), optim.AdadeltaConfig{})
	if _, ok := ada.ParamGroups()[0].Momentum(); ok || ada.ParamGroups()[0].SetMomentum(1) {
		t.Error("Adadelta reports a momentum")
	}
}

// TestZeroGradAndSkip: ZeroGrad clears gradients (set to none), and a
// parameter without a gradient is left alone and gets no state.
func TestZeroGradAndSkip(t *testing.T) {
	ps := params(2)
	ps[0].SetGrad(tensor.Ones(2, 2))
	o := optim.NewSGD(ps, optim.SGDConfig{LR: 0.5, Momentum: 0.9})
	o.Step()
	if got := ps[0].Float64s()[0]; got != 0.5 {
		t.Errorf("stepped parameter %v, want 0.5", got)
	}
	if got := ps[1].Float64s()[0]; got != 2 {
		t.Errorf("parameter without grad changed to %v", got)
	}
	sd := o.StateDict()
	if _, ok := sd["state.1.momentum_buffer"]; ok {
		t.Error("a parameter without grad got state")
	}
	o.ZeroGrad()
	if ps[0].Grad() != nil {
		t.Error("ZeroGrad left a gradient")
	}
}

// TestEmptyParameter: a parameter with no elements steps without trouble.
func TestEmptyParameter(t *testing.T) {
	for _, kind := range []string{"sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"} {
		p := nn.NewParameter(tensor.Zeros(0, 3))
		q := nn.NewParameter(tensor.Ones(2))
		p.SetGrad(tensor.Zeros(0, 3))
		q.SetGrad(tensor.Ones(2))
		o := newOptimizer(kind, [][]*nn.Parameter{{p, q}}, []opts{{"lr": 0.1, "momentum": 0.5}})
		if err := tensor.Try(func() { o.Step(); o.Step() }); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
}
