package optim

import (
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// AdadeltaConfig holds torch.optim.Adadelta's options; the zero value of
// each field is torch's default.
type AdadeltaConfig struct {
	LR          float64 // coefficient that scales delta; 0 means 1.0
	Rho         float64 // decay of the running averages; 0 means 0.9
	Eps         float64 // added for numerical stability; 0 means 1e-6
	WeightDecay float64 // L2 penalty; default 0
	Maximize    bool    // maximize the objective instead of minimizing
}

func (c *AdadeltaConfig) resolve() {
	if c.LR == 0 {
		c.LR = 1
	}
	if c.Rho == 0 {
		c.Rho = 0.9
	}
	if c.Eps == 0 {
		c.Eps = 1e-6
	}
}

func (c *AdadeltaConfig) hyper() []hyperparam {
	return []hyperparam{{name: "lr", f: &c.LR}, {name: "rho", f: &c.Rho}, {name: "eps", f: &c.Eps},
		{name: "weight_decay", f: &c.WeightDecay}, {name: "maximize", b: &c.Maximize}}
}
func (c *AdadeltaConfig) lrRef() *float64       { return &c.LR }
func (c *AdadeltaConfig) momentumRef() *float64 { return nil }
func (c *AdadeltaConfig) clone() Options        { d := *c; return &d }
func (c *AdadeltaConfig) check() error {
	switch {
	case !(c.LR >= 0):
		return fmt.Errorf("optim: adadelta: invalid learning rate %v", c.LR)
	case !(c.Rho >= 0 && c.Rho <= 1):
		return fmt.Errorf("optim: adadelta: invalid rho value %v", c.Rho)
	case !(c.Eps >= 0):
		return fmt.Errorf("optim: adadelta: invalid epsilon value %v", c.Eps)
	case !(c.WeightDecay >= 0):
		return fmt.Errorf("optim: adadelta: invalid weight_decay value %v", c.WeightDecay)
	}
	return nil
}

// Adadelta is torch.optim.Adadelta. Its state per parameter is step,
// square_avg and acc_delta.
type Adadelta struct {
	*optimizer
}

var _ Optimizer = (*Adadelta)(nil)

var adadeltaAlgorithm = &algorithm{
	name:     "adadelta",
	slots:    []string{"square_avg", "acc_delta"},
	hasStep:  true,
	required: func(Options) []int { return []int{0, 1} },
	update:   adadeltaUpdate,
}

// NewAdadelta returns an Adadelta optimizer of params with one group of
// options cfg. It panics, as torch raises, when an option is out of range
// or params is empty or holds a parameter twice.
func NewAdadelta(params []*nn.Parameter, cfg AdadeltaConfig) *Adadelta {
	o := &Adadelta{newOptimizer(adadeltaAlgorithm)}
	o.AddParamGroup(params, cfg)
	return o
}

// AddParamGroup adds a group of parameters with their own options, as
// torch's add_param_group. Fields left zero take torch's defaults, not the
// first group's.
func (o *Adadelta) AddParamGroup(params []*nn.Parameter, cfg AdadeltaConfig) {
	cfg.resolve()
	o.addGroup(params, &cfg)
}

// adadeltaUpdate is torch 1.13's _single_tensor_adadelta for one
// parameter.
func adadeltaUpdate(opts Options, p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor) {
	c := opts.(*AdadeltaConfig)
	if st.slots[0] == nil {
		st.step = 0
		st.slots[0], st.slots[1] = zerosLike(p), zerosLike(p)
	}
	st.step++
	g, t, u := tmp[0], tmp[1], tmp[2]
	grad = effectiveGrad(grad, p, c.Maximize, c.WeightDecay, g, t)
	squareAvg, accDelta := st.slots[0], st.slots[1]

	squareAvg.MulScalarIn(c.Rho)
	addcmul(squareAvg, grad, grad, 1-c.Rho, t)
	std := t.CopyIn(squareAvg).AddScalarIn(c.Eps).SqrtIn()
	delta := u.CopyIn(accDelta).AddScalarIn(c.Eps).SqrtIn().DivIn(std).MulIn(grad)
	// acc_delta.mul_(rho).addcmul_(delta, delta, value=1-rho); std is dead
	accDelta.MulScalarIn(c.Rho)
	addcmul(accDelta, delta, delta, 1-c.Rho, t)
	addScaled(p, delta, -c.LR, t)
}
