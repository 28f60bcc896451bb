package optim

import (
	"fmt"
	"slices"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// Optimizer updates parameters from their gradients, as torch.optim's
// optimizers do. Every optimizer of this package implements it.
type Optimizer interface {
	// Step performs one update of every parameter that has a gradient;
	// parameters whose Grad is nil are skipped.
	Step()
	// ZeroGrad clears every parameter's gradient (sets it to nil, as
	// torch's zero_grad(set_to_none=True) and Tensor.ZeroGrad do).
	ZeroGrad()
	// ParamGroups returns the optimizer's parameter groups, in order. The
	// groups are the optimizer's own: changing a group's options (its LR,
	// say) changes the next Step. Schedulers work through them.
	ParamGroups() []*ParamGroup
	// StateDict returns the optimizer's state as a flat map that can be
	// saved with safetensors (see the package documentation for the keys).
	StateDict() map[string]*tensor.Tensor
	// LoadStateDict restores a state saved by StateDict. It checks every
	// key first and returns a *LoadError listing all the problems, in which
	// case nothing is changed.
	LoadStateDict(sd map[string]*tensor.Tensor) error
}

// Options is a parameter group's hyperparameters: *SGDConfig,
// *AdamConfig, *AdamWConfig, *RMSpropConfig, *AdagradConfig or
// *AdadeltaConfig, matching the optimizer. The set is closed.
//
// The Options a ParamGroup holds are resolved: torch's defaults are
// already filled in, and every field is the value Step uses, so a zero
// there means zero. Assert the concrete type to change a field between
// steps:
//
//	opt.ParamGroups()[1].Options.(*optim.AdamConfig).WeightDecay = 0
type Options interface {
	// hyper lists the options by torch's names, for state dicts.
	hyper() []hyperparam
	// lrRef points at the learning rate.
	lrRef() *float64
	// momentumRef points at the momentum that OneCycleLR cycles (SGD's and
	// RMSprop's momentum, Adam's and AdamW's β1), or is nil.
	momentumRef() *float64
	// check reports an invalid value as torch's constructors do.
	check() error
	// clone returns a copy.
	clone() Options
}

// hyperparam names one option for the state dict: a float, a bool or a
// pair of floats (Adam's betas).
type hyperparam struct {
	name string
	f    *float64
	b    *bool
	pair *[2]float64
}

// ParamGroup is a set of parameters that share options, as an entry of
// torch's optimizer.param_groups.
type ParamGroup struct {
	// Params are the group's parameters. Each parameter may belong to one
	// group only.
	Params []*nn.Parameter
	// Options are the group's resolved options (see Options).
	Options Options

	initialLR    float64
	hasInitialLR bool
}

// LR returns the group's learning rate.
func (g *ParamGroup) LR() float64 { return *g.Options.lrRef() }

// SetLR sets the group's learning rate for the next steps.
func (g *ParamGroup) SetLR(lr float64) { *g.Options.lrRef() = lr }

// Momentum returns the momentum that OneCycleLR cycles: SGD's and
// RMSprop's Momentum, or β1 (Betas[0]) for Adam and AdamW. ok is false for
// optimizers without one (Adagrad, Adadelta).
func (g *ParamGroup) Momentum() (m float64, ok bool) {
	if p := g.Options.momentumRef(); p != nil {
		return *p, true
	}
	return 0, false
}

// SetMomentum sets the momentum that Momentum reports; it returns false,
// and does nothing, for optimizers without one.
func (g *ParamGroup) SetMomentum(m float64) bool {
	p := g.Options.momentumRef()
	if p == nil {
		return false
	}
	*p = m
	return true
}

// InitialLR returns torch's initial_lr of the group: the LR it had when
// the first LR scheduler was made on the optimizer (OneCycleLR sets its
// own). ok is false while no scheduler has set it.
func (g *ParamGroup) InitialLR() (lr float64, ok bool) { return g.initialLR, g.hasInitialLR }

// SetInitialLR sets the group's initial_lr, which schedulers made later
// take as their base LR.
func (g *ParamGroup) SetInitialLR(lr float64) { g.initialLR, g.hasInitialLR = lr, true }

// paramState is one parameter's optimizer state: the step count and the
// state tensors, named by the optimizer's slots, in the parameter's dtype.
type paramState struct {
	step  float64
	slots [3]*tensor.Tensor

	// alias is the parameter's tensor, detached: the updates write
	// through it. tmp are the parameter's scratch tensors for the
	// composed update, made on its first use: views, shaped like the
	// parameter, into buffers shared by all parameters of one dtype and
	// device (parameters are updated one at a time). tmpOf is the tensor
	// both were made for.
	alias *tensor.Tensor
	tmp   [3]*tensor.Tensor
	tmpOf *tensor.Tensor
}

type scratchKey struct {
	dt  tensor.DType
	dev tensor.Device
}

// algorithm is what differs between optimizers.
type algorithm struct {
	name string // for messages: "sgd", "adam", …
	// slots are torch's names of the state tensors, in slot order.
	slots []string
	// hasStep says whether the state has a step count.
	hasStep bool
	// required lists the slots that a parameter's saved state must hold
	// under the given options.
	required func(o Options) []int
	// init, when set, makes a parameter's state when it joins the
	// optimizer (Adagrad); otherwise the state is made at its first step.
	init func(o Options, p *tensor.Tensor) *paramState
	// update runs one step for one parameter. p is its detached alias and
	// grad its gradient, neither requiring grad; tmp are three scratch
	// tensors shaped like p.
	update func(o Options, p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor)
	// fused, when set, tries the same update as one fused kernel
	// (tensor.FusedSGD, tensor.FusedAdam) and reports whether it ran; it
	// makes missing state itself. It is called only when the group's
	// options ask for it (Fused).
	fused func(o Options, p, grad *tensor.Tensor, st *paramState) bool
}

// optimizer holds what every optimizer shares: groups, state and the
// scratch buffers.
type optimizer struct {
	alg     *algorithm
	groups  []*ParamGroup
	state   map[*nn.Parameter]*paramState
	scratch map[scratchKey]*[3]*tensor.Tensor

	// fusedSteps and composedSteps count the parameter updates that took
	// each path (for tests).
	fusedSteps, composedSteps int
}

func newOptimizer(alg *algorithm) *optimizer {
	o := &optimizer{alg: alg, state: map[*nn.Parameter]*paramState{}, scratch: map[scratchKey]*[3]*tensor.Tensor{}}
	return o
}

// addGroup adds a group whose options are already resolved; it panics as
// torch raises for bad options, an empty first group, nil or repeated
// parameters.
func (o *optimizer) addGroup(params []*nn.Parameter, opts Options) {
	if err := opts.check(); err != nil {
		panic(err)
	}
	if len(o.groups) == 0 && len(params) == 0 {
		panic(fmt.Errorf("optim: %s: got an empty parameter list", o.alg.name))
	}
	seen := map[*nn.Parameter]bool{}
	for _, g := range o.groups {
		for _, p := range g.Params {
			seen[p] = true
		}
	}
	for i, p := range params {
		if p == nil || p.Tensor == nil {
			panic(fmt.Errorf("optim: %s: parameter %d is nil", o.alg.name, i))
		}
		if seen[p] {
			panic(fmt.Errorf("optim: %s: some parameters appear in more than one parameter group", o.alg.name))
		}
		if !p.DType().IsFloat() {
			panic(fmt.Errorf("optim: %s: parameter %d has dtype %v; optimizers update floating-point parameters", o.alg.name, i, p.DType()))
		}
		seen[p] = true
	}
	g := &ParamGroup{Params: slices.Clone(params), Options: opts}
	o.groups = append(o.groups, g)
	if o.alg.init != nil {
		for _, p := range g.Params {
			o.state[p] = o.alg.init(opts, p.Tensor)
		}
	}
}

// ParamGroups returns the optimizer's parameter groups, in order. The
// slice is the optimizer's own; change the groups through it, but add
// groups with AddParamGroup.
func (o *optimizer) ParamGroups() []*ParamGroup { return o.groups }

// ZeroGrad sets every parameter's gradient to nil, as
// torch.optim.Optimizer.zero_grad(set_to_none=True) and
// tensor.Tensor.ZeroGrad do.
func (o *optimizer) ZeroGrad() {
	for _, g := range o.groups {
		for _, p := range g.Params {
			p.ZeroGrad()
		}
	}
}

// Step performs one update of every parameter that has a gradient;
// parameters whose Grad is nil are skipped and get no state, as in torch.
//
// SGD, Adam and AdamW update each parameter in one fused pass
// (tensor.FusedSGD, tensor.FusedAdam) when the group's options set Fused,
// its device's backend has the fused kernels and the parameter, its
// gradient and its state are contiguous and of one dtype; otherwise the
// update is composed from in-place ops, as torch's
// single-tensor implementation is. Both paths round the same operations
// in the same order, so they give the same bits.
//
// Like torch's step, which runs under torch.no_grad, it records nothing
// for autograd. It gets there without a no-grad scope: the updates write
// through a detached alias of each parameter (same storage, same version
// counter) and read detached gradients, so no operand requires grad.
// Inside an autograd.NoGrad scope every op would look up the calling
// goroutine's grad mode, which costs more than the arithmetic on small
// parameters.
func (o *optimizer) Step() {
	for _, g := range o.groups {
		for _, p := range g.Params {
			grad := p.Grad()
			if grad == nil {
				continue
			}
			if grad.RequiresGrad() { // a gradient made with CreateGraph
				grad = grad.Detach()
			}
			st := o.state[p]
			if st == nil {
				st = &paramState{}
				o.state[p] = st
			}
			o.prepare(st, p.Tensor)
			if o.alg.fused != nil && useFused(g.Options) && o.alg.fused(g.Options, st.alias, grad, st) {
				o.fusedSteps++
				continue
			}
			o.composedSteps++
			o.alg.update(g.Options, st.alias, grad, st, o.scratchFor(st, p.Tensor))
		}
	}
}

// fit converts the state tensors to the parameter's dtype and device when
// the parameter's tensor was replaced after the state was made (nn.To,
// say).
func (o *optimizer) fit(st *paramState, p *tensor.Tensor) {
	for i, s := range st.slots {
		if s == nil {
			continue
		}
		if !slices.Equal(s.Shape(), p.Shape()) {
			panic(fmt.Errorf("optim: %s: state %s has shape %v but its parameter now has shape %v",
				o.alg.name, o.alg.slots[i], s.Shape(), p.Shape()))
		}
		if s.DType() != p.DType() || s.Device() != p.Device() {
			st.slots[i] = s.ToDevice(p.Device()).To(p.DType()).Contiguous()
		}
	}
}

// prepare readies a parameter's state for a step: the state tensors in
// the parameter's dtype and device and, when the parameter (or its
// tensor) is new, its detached alias.
func (o *optimizer) prepare(st *paramState, p *tensor.Tensor) {
	if st.tmpOf == p {
		return
	}
	o.fit(st, p)
	st.alias = p.Detach()
	st.tmp = [3]*tensor.Tensor{}
	st.tmpOf = p
}

// scratchFor returns the parameter's scratch tensors for the composed
// update, making them on first use.
func (o *optimizer) scratchFor(st *paramState, p *tensor.Tensor) *[3]*tensor.Tensor {
	if st.tmp[0] != nil {
		return &st.tmp
	}
	key := scratchKey{p.DType(), p.Device()}
	n := p.Numel()
	buf := o.scratch[key]
	if buf == nil || buf[0].Numel() < n {
		// one set of buffers for the largest parameter of this kind
		size := n
		for _, g := range o.groups {
			for _, q := range g.Params {
				if q.DType() == key.dt && q.Device() == key.dev && q.Numel() > size {
					size = q.Numel()
				}
			}
		}
		buf = &[3]*tensor.Tensor{}
		for i := range buf {
			buf[i] = tensor.ZerosOf(key.dt, size).ToDevice(key.dev)
		}
		o.scratch[key] = buf
	}
	shape := p.Shape()
	for i := range st.tmp {
		st.tmp[i] = buf[i].Narrow(0, 0, n).View(shape...)
	}
	return &st.tmp
}

// useFused reports whether a group's options ask for the fused update.
func useFused(opts Options) bool {
	switch c := opts.(type) {
	case *SGDConfig:
		return c.Fused
	case *AdamConfig:
		return c.Fused
	case *AdamWConfig:
		return c.Fused
	}
	return false
}

// effectiveGrad returns the gradient the update uses: grad itself, or, for
// maximize and L2 weight decay, -grad + wd·p computed into g (torch's
// `grad = -grad; grad = grad.add(param, alpha=wd)`), using t as scratch.
func effectiveGrad(grad, p *tensor.Tensor, maximize bool, wd float64, g, t *tensor.Tensor) *tensor.Tensor {
	if !maximize && wd == 0 {
		return grad
	}
	g.CopyIn(grad)
	if maximize {
		g.NegIn()
	}
	if wd != 0 {
		g.AddIn(t.CopyIn(p).MulScalarIn(wd))
	}
	return g
}

// addScaled adds alpha·x into y (torch's y.add_(x, alpha=alpha)), using t
// as scratch when alpha is not 1.
func addScaled(y, x *tensor.Tensor, alpha float64, t *tensor.Tensor) {
	if alpha == 1 {
		y.AddIn(x)
		return
	}
	y.AddIn(t.CopyIn(x).MulScalarIn(alpha))
}

// addcmul adds value·a·b into y (torch's y.addcmul_(a, b, value=value),
// whose kernel computes y + value*a*b), using t as scratch.
func addcmul(y, a, b *tensor.Tensor, value float64, t *tensor.Tensor) {
	t.CopyIn(a)
	if value != 1 {
		t.MulScalarIn(value)
	}
	y.AddIn(t.MulIn(b))
}

// addcdiv adds value·a/b into y (torch's y.addcdiv_(a, b, value=value),
// whose kernel computes y + value*a/b), using t as scratch.
func addcdiv(y, a, b *tensor.Tensor, value float64, t *tensor.Tensor) {
	t.CopyIn(a)
	if value != 1 {
		t.MulScalarIn(value)
	}
	y.AddIn(t.DivIn(b))
}

// zerosLike makes a state tensor of zeros like p.
func zerosLike(p *tensor.Tensor) *tensor.Tensor { return tensor.ZerosLike(p) }
