package optim

import (
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// AdagradConfig holds torch.optim.Adagrad's options; the zero value of
// each field is torch's default.
type AdagradConfig struct {
	LR                      float64 // learning rate; 0 means 1e-2
	LRDecay                 float64 // learning-rate decay; default 0
	WeightDecay             float64 // L2 penalty; default 0
	InitialAccumulatorValue float64 // starting value of the sum of squares; default 0
	Eps                     float64 // added to the denominator; 0 means 1e-10
	Maximize                bool    // maximize the objective instead of minimizing
}

func (c *AdagradConfig) resolve() {
	if c.LR == 0 {
		c.LR = 1e-2
	}
	if c.Eps == 0 {
		c.Eps = 1e-10
	}
}

func (c *AdagradConfig) hyper() []hyperparam {
	return []hyperparam{{name: "lr", f: &c.LR}, {name: "lr_decay", f: &c.LRDecay}, {name: "eps", f: &c.Eps},
		{name: "weight_decay", f: &c.WeightDecay}, {name: "initial_accumulator_value", f: &c.InitialAccumulatorValue},
		{name: "maximize", b: &c.Maximize}}
}
func (c *AdagradConfig) lrRef() *float64       { return &c.LR }
func (c *AdagradConfig) momentumRef() *float64 { return nil }
func (c *AdagradConfig) clone() Options        { d := *c; return &d }
func (c *AdagradConfig) check() error {
	switch {
	case !(c.LR >= 0):
		return fmt.Errorf("optim: adagrad: invalid learning rate %v", c.LR)
	case !(c.LRDecay >= 0):
		return fmt.Errorf("optim: adagrad: invalid lr_decay value %v", c.LRDecay)
	case !(c.WeightDecay >= 0):
		return fmt.Errorf("optim: adagrad: invalid weight_decay value %v", c.WeightDecay)
	case !(c.InitialAccumulatorValue >= 0):
		return fmt.Errorf("optim: adagrad: invalid initial_accumulator_value value %v", c.InitialAccumulatorValue)
	case !(c.Eps >= 0):
		return fmt.Errorf("optim: adagrad: invalid epsilon value %v", c.Eps)
	}
	return nil
}

// Adagrad is torch.optim.Adagrad. Its state per parameter, made when the
// parameter joins the optimizer as torch does, is step and sum.
type Adagrad struct {
	*optimizer
}

var _ Optimizer = (*Adagrad)(nil)

var adagradAlgorithm = &algorithm{
	name:     "adagrad",
	slots:    []string{"sum"},
	hasStep:  true,
	required: func(Options) []int { return []int{0} },
	init: func(o Options, p *tensor.Tensor) *paramState {
		return &paramState{slots: [3]*tensor.Tensor{tensor.FullLike(p, o.(*AdagradConfig).InitialAccumulatorValue)}}
	},
	update: adagradUpdate,
}

// NewAdagrad returns an Adagrad optimizer of params with one group of
// options cfg. It panics, as torch raises, when an option is out of range
// or params is empty or holds a parameter twice.
func NewAdagrad(params []*nn.Parameter, cfg AdagradConfig) *Adagrad {
	o := &Adagrad{newOptimizer(adagradAlgorithm)}
	o.AddParamGroup(params, cfg)
	return o
}

// AddParamGroup adds a group of parameters with their own options, as
// torch's add_param_group, and makes their state. Fields left zero take
// torch's defaults, not the first group's.
func (o *Adagrad) AddParamGroup(params []*nn.Parameter, cfg AdagradConfig) {
	cfg.resolve()
	o.addGroup(params, &cfg)
}

// adagradUpdate is torch 1.13's _single_tensor_adagrad (dense) for one
// parameter.
func adagradUpdate(opts Options, p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor) {
	c := opts.(*AdagradConfig)
	if st.slots[0] == nil { // after a Step on a parameter added behind our back
		st.slots[0] = tensor.FullLike(p, c.InitialAccumulatorValue)
	}
	st.step++
	g, t, u := tmp[0], tmp[1], tmp[2]
	grad = effectiveGrad(grad, p, c.Maximize, c.WeightDecay, g, t)
	clr := c.LR / (1 + (st.step-1)*c.LRDecay)
	sum := st.slots[0]
	addcmul(sum, grad, grad, 1, t)
	std := t.CopyIn(sum).SqrtIn().AddScalarIn(c.Eps)
	addcdiv(p, grad, std, -clr, u)
}
