package optim

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// AdamConfig holds torch.optim.Adam's options; the zero value of each
// field is torch's default.
type AdamConfig struct {
	LR float64 // learning rate; 0 means 1e-3
	// Betas are the decay rates of the running averages of the gradient
	// and of its square. The zero pair means (0.9, 0.999); any other pair
	// is taken as it is, so {0, 0.99} has β1 = 0.
	Betas       [2]float64
	Eps         float64 // added to the denominator; 0 means 1e-8
	WeightDecay float64 // L2 penalty added to the gradient; default 0
	AMSGrad     bool    // use the AMSGrad variant
	Maximize    bool    // maximize the objective instead of minimizing
	// Fused updates each qualifying parameter in one pass over its
	// elements (tensor.FusedAdam), as torch's Adam(fused=True) asks for;
	// by default the update is composed from in-place tensor ops. Both
	// give the same bits. On the CPU the fused pass allocates nothing and,
	// with the AVX2/AVX-512 kernels, takes about a fifth of the composed
	// update's time for float32. It is not part of the state dict.
	Fused bool
}

func (c *AdamConfig) resolve() {
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Betas == [2]float64{} {
		c.Betas = [2]float64{0.9, 0.999}
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
}

func (c *AdamConfig) hyper() []hyperparam {
	return []hyperparam{{name: "lr", f: &c.LR}, {name: "betas", pair: &c.Betas}, {name: "eps", f: &c.Eps},
		{name: "weight_decay", f: &c.WeightDecay}, {name: "amsgrad", b: &c.AMSGrad}, {name: "maximize", b: &c.Maximize}}
}
func (c *AdamConfig) lrRef() *float64       { return &c.LR }
func (c *AdamConfig) momentumRef() *float64 { return &c.Betas[0] }
func (c *AdamConfig) clone() Options        { d := *c; return &d }
func (c *AdamConfig) check() error {
	return checkAdam("adam", c.LR, c.Betas, c.Eps, c.WeightDecay)
}

func checkAdam(name string, lr float64, betas [2]float64, eps, wd float64) error {
	switch {
	case !(lr >= 0):
		return fmt.Errorf("optim: %s: invalid learning rate %v", name, lr)
	case !(eps >= 0):
		return fmt.Errorf("optim: %s: invalid epsilon value %v", name, eps)
	case !(betas[0] >= 0 && betas[0] < 1):
		return fmt.Errorf("optim: %s: invalid beta parameter at index 0: %v", name, betas[0])
	case !(betas[1] >= 0 && betas[1] < 1):
		return fmt.Errorf("optim: %s: invalid beta parameter at index 1: %v", name, betas[1])
	case !(wd >= 0):
		return fmt.Errorf("optim: %s: invalid weight_decay value %v", name, wd)
	}
	return nil
}

// AdamWConfig holds torch.optim.AdamW's options; the zero value of each
// field is torch's default. torch's default weight decay is 0.01, so a
// zero WeightDecay means 0.01: set NoWeightDecay for none.
type AdamWConfig struct {
	LR            float64    // learning rate; 0 means 1e-3
	Betas         [2]float64 // as AdamConfig.Betas; the zero pair means (0.9, 0.999)
	Eps           float64    // added to the denominator; 0 means 1e-8
	WeightDecay   float64    // decoupled weight decay; 0 means 0.01 unless NoWeightDecay
	NoWeightDecay bool       // no weight decay at all (weight_decay=0)
	AMSGrad       bool       // use the AMSGrad variant
	Maximize      bool       // maximize the objective instead of minimizing
	Fused         bool       // as AdamConfig.Fused
}

func (c *AdamWConfig) resolve() {
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Betas == [2]float64{} {
		c.Betas = [2]float64{0.9, 0.999}
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	if c.NoWeightDecay {
		c.WeightDecay = 0
	} else if c.WeightDecay == 0 {
		c.WeightDecay = 1e-2
	}
}

func (c *AdamWConfig) hyper() []hyperparam {
	return []hyperparam{{name: "lr", f: &c.LR}, {name: "betas", pair: &c.Betas}, {name: "eps", f: &c.Eps},
		{name: "weight_decay", f: &c.WeightDecay}, {name: "amsgrad", b: &c.AMSGrad}, {name: "maximize", b: &c.Maximize}}
}
func (c *AdamWConfig) lrRef() *float64       { return &c.LR }
func (c *AdamWConfig) momentumRef() *float64 { return &c.Betas[0] }
func (c *AdamWConfig) clone() Options        { d := *c; return &d }
func (c *AdamWConfig) loaded()               { c.NoWeightDecay = c.WeightDecay == 0 }
func (c *AdamWConfig) check() error {
	return checkAdam("adamw", c.LR, c.Betas, c.Eps, c.WeightDecay)
}

// Adam is torch.optim.Adam: adaptive moment estimation, with L2 weight
// decay added to the gradient. Its state per parameter is step, exp_avg,
// exp_avg_sq and, with AMSGrad, max_exp_avg_sq.
type Adam struct {
	*optimizer
}

// AdamW is torch.optim.AdamW: Adam with decoupled weight decay (the
// parameter shrinks by lr·weight_decay before each update). Its state is
// Adam's.
type AdamW struct {
	*optimizer
}

var (
	_ Optimizer = (*Adam)(nil)
	_ Optimizer = (*AdamW)(nil)
)

func adamRequired(amsgrad bool) []int {
	if amsgrad {
		return []int{0, 1, 2}
	}
	return []int{0, 1}
}

var adamAlgorithm = &algorithm{
	name:     "adam",
	slots:    []string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
	hasStep:  true,
	required: func(o Options) []int { return adamRequired(o.(*AdamConfig).AMSGrad) },
	update: func(opts Options, p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor) {
		c := opts.(*AdamConfig)
		adamUpdate(c.LR, c.Betas, c.Eps, c.WeightDecay, 0, c.AMSGrad, c.Maximize, p, grad, st, tmp)
	},
	fused: func(opts Options, p, grad *tensor.Tensor, st *paramState) bool {
		c := opts.(*AdamConfig)
		return adamFused(tensor.AdamHyper{LR: c.LR, Beta1: c.Betas[0], Beta2: c.Betas[1], Eps: c.Eps,
			WeightDecay: c.WeightDecay, AMSGrad: c.AMSGrad, Maximize: c.Maximize}, p, grad, st)
	},
}

var adamWAlgorithm = &algorithm{
	name:     "adamw",
	slots:    []string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
	hasStep:  true,
	required: func(o Options) []int { return adamRequired(o.(*AdamWConfig).AMSGrad) },
	update: func(opts Options, p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor) {
		c := opts.(*AdamWConfig)
		adamUpdate(c.LR, c.Betas, c.Eps, 0, c.WeightDecay, c.AMSGrad, c.Maximize, p, grad, st, tmp)
	},
	fused: func(opts Options, p, grad *tensor.Tensor, st *paramState) bool {
		c := opts.(*AdamWConfig)
		return adamFused(tensor.AdamHyper{LR: c.LR, Beta1: c.Betas[0], Beta2: c.Betas[1], Eps: c.Eps,
			WeightDecay: c.WeightDecay, Decoupled: true, AMSGrad: c.AMSGrad, Maximize: c.Maximize}, p, grad, st)
	},
}

// NewAdam returns an Adam optimizer of params with one group of options
// cfg. It panics, as torch raises, when an option is out of range or
// params is empty or holds a parameter twice.
func NewAdam(params []*nn.Parameter, cfg AdamConfig) *Adam {
	o := &Adam{newOptimizer(adamAlgorithm)}
	o.AddParamGroup(params, cfg)
	return o
}

// AddParamGroup adds a group of parameters with their own options, as
// torch's add_param_group. Fields left zero take torch's defaults, not the
// first group's.
func (o *Adam) AddParamGroup(params []*nn.Parameter, cfg AdamConfig) {
	cfg.resolve()
	o.addGroup(params, &cfg)
}

// NewAdamW returns an AdamW optimizer of params with one group of options
// cfg. It panics, as torch raises, when an option is out of range or
// params is empty or holds a parameter twice.
func NewAdamW(params []*nn.Parameter, cfg AdamWConfig) *AdamW {
	o := &AdamW{newOptimizer(adamWAlgorithm)}
	o.AddParamGroup(params, cfg)
	return o
}

// AddParamGroup adds a group of parameters with their own options, as
// torch's add_param_group. Fields left zero take torch's defaults, not the
// first group's.
func (o *AdamW) AddParamGroup(params []*nn.Parameter, cfg AdamWConfig) {
	cfg.resolve()
	o.addGroup(params, &cfg)
}

// adamFused is adamUpdate as one tensor.FusedAdam call (h without its
// step count); it makes the state on the first step, and counts the step
// only when the fused kernel ran.
func adamFused(h tensor.AdamHyper, p, grad *tensor.Tensor, st *paramState) bool {
	if st.slots[0] == nil {
		st.step = 0
		st.slots[0], st.slots[1] = zerosLike(p), zerosLike(p)
	}
	if h.AMSGrad && st.slots[2] == nil {
		st.slots[2] = zerosLike(p)
	}
	h.Step = st.step + 1
	if !tensor.FusedAdam(p, grad, st.slots[0], st.slots[1], st.slots[2], h) {
		return false
	}
	st.step++
	return true
}

// adamUpdate is torch 1.13's _single_tensor_adam (l2 is the weight decay
// added to the gradient) and _single_tensor_adamw (decoupled is the
// decoupled weight decay) for one parameter.
func adamUpdate(lr float64, betas [2]float64, eps, l2, decoupled float64, amsgrad, maximize bool,
	p, grad *tensor.Tensor, st *paramState, tmp *[3]*tensor.Tensor) {
	if st.slots[0] == nil {
		st.step = 0
		st.slots[0], st.slots[1] = zerosLike(p), zerosLike(p)
	}
	if amsgrad && st.slots[2] == nil {
		st.slots[2] = zerosLike(p)
	}
	expAvg, expAvgSq := st.slots[0], st.slots[1]
	g, t, u := tmp[0], tmp[1], tmp[2]
	beta1, beta2 := betas[0], betas[1]

	st.step++
	if decoupled != 0 {
		p.MulScalarIn(1 - lr*decoupled)
	}
	grad = effectiveGrad(grad, p, maximize, l2, g, t)

	expAvg.MulScalarIn(beta1)
	addScaled(expAvg, grad, 1-beta1, t)
	expAvgSq.MulScalarIn(beta2)
	addcmul(expAvgSq, grad, grad, 1-beta2, t)

	biasCorrection1 := 1 - math.Pow(beta1, st.step)
	biasCorrection2 := 1 - math.Pow(beta2, st.step)
	stepSize := lr / biasCorrection1
	biasCorrection2Sqrt := math.Sqrt(biasCorrection2)

	v := expAvgSq
	if amsgrad {
		// torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq);
		// there is no in-place maximum, so this step allocates.
		st.slots[2].CopyIn(st.slots[2].Maximum(expAvgSq))
		v = st.slots[2]
	}
	denom := t.CopyIn(v).SqrtIn().DivScalarIn(biasCorrection2Sqrt).AddScalarIn(eps)
	addcdiv(p, expAvg, denom, -stepSize, u)
}
