package optim

import (
	"errors"
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// SGDConfig holds torch.optim.SGD's options. The zero value of each field
// is torch's default, except LR, which torch requires too: an LR of 0
// panics.
type SGDConfig struct {
	LR          float64 // learning rate; required
	Momentum    float64 // momentum factor; default 0
	Dampening   float64 // dampening for momentum; default 0
	WeightDecay float64 // L2 penalty; default 0
	Nesterov    bool    // Nesterov momentum (needs Momentum > 0 and no Dampening)
	Maximize    bool    // maximize the objective instead of minimizing
	// Fused updates each qualifying parameter in one pass over its
	// elements (tensor.FusedSGD), as torch's SGD(fused=True) asks for;
	// by default the update is composed from in-place tensor ops. Both
	// give the same bits. On the CPU the fused pass allocates nothing and,
	// with the AVX2/AVX-512 kernels, takes about a third of the composed
	// update's time for float32. It is not part of the state dict.
	Fused bool
}

func (c *SGDConfig) hyper() []hyperparam {
	return []hyperparam{{name: "lr", f: &c.LR}, {name: "momentum", f: &c.Momentum},
		{name: "dampening", f: &c.Dampening}, {name: "weight_decay", f: &c.WeightDecay},
		{name: "nesterov", b: &c.Nesterov}, {name: "maximize", b: &c.Maximize}}
}
func (c *SGDConfig) lrRef() *float64       { return &c.LR }
func (c *SGDConfig) momentumRef() *float64 { return &c.Momentum }
func (c *SGDConfig) clone() Options        { d := *c; return &d }

func (c *SGDConfig) check() error {
	switch {
	case c.LR < 0:
		return fmt.Errorf("optim: sgd: invalid learning rate %v", c.LR)
	case c.Momentum < 0:
		return fmt.Errorf("optim: sgd: invalid momentum value %v", c.Momentum)
	case c.WeightDecay < 0:
		return fmt.Errorf("optim: sgd: invalid weight_decay value %v", c.WeightDecay)
	case c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0):
		return errors.New("optim: sgd: Nesterov momentum requires a momentum and zero dampening")
	}
	return nil
}

// SGD is stochastic gradient descent, optionally with momentum, Nesterov
// momentum and weight decay: torch.optim.SGD. Its state per parameter is
// momentum_buffer (when Momentum is not 0).
type SGD struct {
	*optimizer
}

var _ Optimizer = (*SGD)(nil)

var sgdAlgorithm = &algorithm{
	name:  "sgd",
	slots: []string{"momentum_buffer"},
	required: func(o Options) []int {
		return nil // torch makes the buffer on the first step with momentum
	},
	update: sgdUpdate,
	fused:  sgdFused,
}

// NewSGD returns an SGD optimizer of params with one group of options
// cfg. It panics, as torch raises, when cfg.LR is 0 (torch requires one),
// an option is out of range, or params is empty or holds a parameter
// twice.
func NewSGD(params []*nn.Parameter, cfg SGDConfig) *SGD {
	o := &SGD{newOptimizer(sgdAlgorithm)}
	o.AddParamGroup(params, cfg)
	return o
}

// AddParamGroup adds a group of parameters with their own options, as
// torch's add_param_group. Fields left zero take torch's defaults, not the
// first group's: copy the first config to inherit from it.
func (o *SGD) AddParamGroup(params []*nn.Parameter, cfg SGDConfig) {
	if cfg.LR == 0 {
		panic(errors.New("optim: sgd: LR is required (torch.optim.SGD has no default learning rate)"))
	}
	o.addGroup(params, &cfg)
}

// sgdUpdate is torch 1.13's _single_tensor_sgd for one parameter.
func sgdUpdate(opts Options, p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor) {
	c := opts.(*SGDConfig)
	g, t, u := tmp[0], tmp[1], tmp[2]
	d := effectiveGrad(grad, p, c.Maximize, c.WeightDecay, g, t)
	if c.Momentum != 0 {
		buf := st.slots[0]
		if buf == nil {
			buf = d.Clone()
			st.slots[0] = buf
		} else {
			buf.MulScalarIn(c.Momentum)
			addScaled(buf, d, 1-c.Dampening, t)
		}
		if c.Nesterov {
			if d != g {
				d = g.CopyIn(d)
			}
			addScaled(d, buf, c.Momentum, t)
		} else {
			d = buf
		}
	}
	p.AddIn(u.CopyIn(d).MulScalarIn(-c.LR))
}

// sgdFused is sgdUpdate as one tensor.FusedSGD call; on the first step with
// momentum it makes the buffer, which the kernel fills with the gradient.
func sgdFused(opts Options, p, grad *tensor.Tensor, st *paramState) bool {
	c := opts.(*SGDConfig)
	h := tensor.SGDHyper{LR: c.LR, Momentum: c.Momentum, Dampening: c.Dampening, WeightDecay: c.WeightDecay,
		Nesterov: c.Nesterov, Maximize: c.Maximize}
	var buf *tensor.Tensor
	if c.Momentum != 0 {
		buf = st.slots[0]
		if buf == nil {
			buf = tensor.EmptyLike(p)
			h.First = true
		}
	}
	if !tensor.FusedSGD(p, grad, buf, h) {
		return false // a new buffer is dropped: the composed update makes its own
	}
	st.slots[0] = buf
	return true
}
