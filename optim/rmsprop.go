package optim

import (
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// RMSpropConfig holds torch.optim.RMSprop's options; the zero value of
// each field is torch's default.
type RMSpropConfig struct {
	LR          float64 // learning rate; 0 means 1e-2
	Alpha       float64 // smoothing constant; 0 means 0.99
	Eps         float64 // added to the denominator; 0 means 1e-8
	WeightDecay float64 // L2 penalty; default 0
	Momentum    float64 // momentum factor; default 0
	Centered    bool    // normalize by an estimate of the gradient's variance
	Maximize    bool    // maximize the objective instead of minimizing
}

func (c *RMSpropConfig) resolve() {
	if c.LR == 0 {
		c.LR = 1e-2
	}
	if c.Alpha == 0 {
		c.Alpha = 0.99
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
}

func (c *RMSpropConfig) hyper() []hyperparam {
	return []hyperparam{{name: "lr", f: &c.LR}, {name: "alpha", f: &c.Alpha}, {name: "eps", f: &c.Eps},
		{name: "weight_decay", f: &c.WeightDecay}, {name: "momentum", f: &c.Momentum},
		{name: "centered", b: &c.Centered}, {name: "maximize", b: &c.Maximize}}
}
func (c *RMSpropConfig) lrRef() *float64       { return &c.LR }
func (c *RMSpropConfig) momentumRef() *float64 { return &c.Momentum }
func (c *RMSpropConfig) clone() Options        { d := *c; return &d }
func (c *RMSpropConfig) check() error {
	switch {
	case !(c.LR >= 0):
		return fmt.Errorf("optim: rmsprop: invalid learning rate %v", c.LR)
	case !(c.Eps >= 0):
		return fmt.Errorf("optim: rmsprop: invalid epsilon value %v", c.Eps)
	case !(c.Momentum >= 0):
		return fmt.Errorf("optim: rmsprop: invalid momentum value %v", c.Momentum)
	case !(c.WeightDecay >= 0):
		return fmt.Errorf("optim: rmsprop: invalid weight_decay value %v", c.WeightDecay)
	case !(c.Alpha >= 0):
		return fmt.Errorf("optim: rmsprop: invalid alpha value %v", c.Alpha)
	}
	return nil
}

// RMSprop is torch.optim.RMSprop. Its state per parameter is step,
// square_avg, momentum_buffer (with Momentum) and grad_avg (Centered).
type RMSprop struct {
	*optimizer
}

var _ Optimizer = (*RMSprop)(nil)

var rmspropAlgorithm = &algorithm{
	name:    "rmsprop",
	slots:   []string{"square_avg", "momentum_buffer", "grad_avg"},
	hasStep: true,
	required: func(o Options) []int {
		c := o.(*RMSpropConfig)
		req := []int{0}
		if c.Momentum > 0 {
			req = append(req, 1)
		}
		if c.Centered {
			req = append(req, 2)
		}
		return req
	},
	update: rmspropUpdate,
}

// NewRMSprop returns an RMSprop optimizer of params with one group of
// options cfg. It panics, as torch raises, when an option is out of range
// or params is empty or holds a parameter twice.
func NewRMSprop(params []*nn.Parameter, cfg RMSpropConfig) *RMSprop {
	o := &RMSprop{newOptimizer(rmspropAlgorithm)}
	o.AddParamGroup(params, cfg)
	return o
}

// AddParamGroup adds a group of parameters with their own options, as
// torch's add_param_group. Fields left zero take torch's defaults, not the
// first group's.
func (o *RMSprop) AddParamGroup(params []*nn.Parameter, cfg RMSpropConfig) {
	cfg.resolve()
	o.addGroup(params, &cfg)
}

// rmspropUpdate is torch 1.13's _single_tensor_rmsprop for one parameter.
func rmspropUpdate(opts Options, p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor) {
	c := opts.(*RMSpropConfig)
	if st.slots[0] == nil {
		st.step = 0
		st.slots[0] = zerosLike(p)
	}
	// torch makes these at the first step; make them later if the
	// options change (OneCycleLR may turn momentum on)
	if c.Momentum > 0 && st.slots[1] == nil {
		st.slots[1] = zerosLike(p)
	}
	if c.Centered && st.slots[2] == nil {
		st.slots[2] = zerosLike(p)
	}
	st.step++
	g, t, u := tmp[0], tmp[1], tmp[2]
	grad = effectiveGrad(grad, p, c.Maximize, c.WeightDecay, g, t)

	squareAvg := st.slots[0]
	squareAvg.MulScalarIn(c.Alpha)
	addcmul(squareAvg, grad, grad, 1-c.Alpha, t)

	var avg *tensor.Tensor
	if c.Centered {
		gradAvg := st.slots[2]
		gradAvg.MulScalarIn(c.Alpha)
		addScaled(gradAvg, grad, 1-c.Alpha, t)
		// square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
		avg = t.CopyIn(gradAvg).NegIn().MulIn(gradAvg).AddIn(squareAvg).SqrtIn()
	} else {
		avg = t.CopyIn(squareAvg).SqrtIn()
	}
	avg.AddScalarIn(c.Eps)

	if c.Momentum > 0 {
		buf := st.slots[1]
		buf.MulScalarIn(c.Momentum)
		addcdiv(buf, grad, avg, 1, u)
		addScaled(p, buf, -c.LR, u)
	} else {
		addcdiv(p, grad, avg, -c.LR, u)
	}
}
