package optim_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// The fixtures come from testdata/gen_optim.py, run with Debian's PyTorch
// 1.13; see that script for what each holds.

// fixValue is a tensor or number as the generator encodes it.
type fixValue struct {
	Shape []int `json:"shape"`
	Data  []any `json:"data"`
	Bool  bool  `json:"bool"`
}

func (v fixValue) floats() []float64 {
	out := make([]float64, len(v.Data))
	for i, x := range v.Data {
		out[i] = jsonFloat(x)
	}
	return out
}

func jsonFloat(x any) float64 {
	switch x := x.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "nan":
			return math.NaN()
		case "inf":
			return math.Inf(1)
		case "-inf":
			return math.Inf(-1)
		}
	}
	panic(fmt.Sprintf("bad fixture number %v", x))
}

// tensor builds the value as a tensor of dtype dt.
func (v fixValue) tensor(dt tensor.DType) *tensor.Tensor {
	return tensor.FromSlice(v.floats(), v.Shape...).To(dt)
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

type optimFixture struct {
	Steps   int `json:"steps"`
	Problem struct {
		A, B  fixValue
		C     float64    `json:"c"`
		Init  []fixValue `json:"init"`
		Names []string   `json:"names"`
	} `json:"problem"`
	Cases []optimCase `json:"cases"`
}

type optimCase struct {
	Name   string `json:"name"`
	Optim  string `json:"optim"`
	DType  string `json:"dtype"`
	Groups []struct {
		Params  []int          `json:"params"`
		Options map[string]any `json:"options"`
	} `json:"groups"`
	Traj        [][]float64         `json:"traj"`
	State       map[string]fixValue `json:"state"`
	ParamGroups map[string]fixValue `json:"param_groups"`
}

var fixDTypes = map[string]tensor.DType{"float32": tensor.Float32, "float64": tensor.Float64}

// opts reads torch's keyword arguments.
type opts map[string]any

func (o opts) f(k string) float64 {
	if v, ok := o[k]; ok {
		return v.(float64)
	}
	return 0
}

func (o opts) b(k string) bool {
	v, _ := o[k].(bool)
	return v
}

func (o opts) has(k string) bool { _, ok := o[k]; return ok }

func (o opts) betas() [2]float64 {
	v, ok := o["betas"].([]any)
	if !ok {
		return [2]float64{}
	}
	return [2]float64{v[0].(float64), v[1].(float64)}
}

// The Go configs for torch's keyword arguments: options torch was not
// given stay zero, which must mean torch's default.
func sgdConfig(o opts) optim.SGDConfig {
	return optim.SGDConfig{LR: o.f("lr"), Momentum: o.f("momentum"), Dampening: o.f("dampening"),
		WeightDecay: o.f("weight_decay"), Nesterov: o.b("nesterov"), Maximize: o.b("maximize")}
}

func adamConfig(o opts) optim.AdamConfig {
	return optim.AdamConfig{LR: o.f("lr"), Betas: o.betas(), Eps: o.f("eps"), WeightDecay: o.f("weight_decay"),
		AMSGrad: o.b("amsgrad"), Maximize: o.b("maximize")}
}

func adamWConfig(o opts) optim.AdamWConfig {
	return optim.AdamWConfig{LR: o.f("lr"), Betas: o.betas(), Eps: o.f("eps"), WeightDecay: o.f("weight_decay"),
		NoWeightDecay: o.has("weight_decay") && o.f("weight_decay") == 0,
		AMSGrad:       o.b("amsgrad"), Maximize: o.b("maximize")}
}

func rmspropConfig(o opts) optim.RMSpropConfig {
	return optim.RMSpropConfig{LR: o.f("lr"), Alpha: o.f("alpha"), Eps: o.f("eps"), WeightDecay: o.f("weight_decay"),
		Momentum: o.f("momentum"), Centered: o.b("centered"), Maximize: o.b("maximize")}
}

func adagradConfig(o opts) optim.AdagradConfig {
	return optim.AdagradConfig{LR: o.f("lr"), LRDecay: o.f("lr_decay"), WeightDecay: o.f("weight_decay"),
		InitialAccumulatorValue: o.f("initial_accumulator_value"), Eps: o.f("eps"), Maximize: o.b("maximize")}
}

func adadeltaConfig(o opts) optim.AdadeltaConfig {
	return optim.AdadeltaConfig{LR: o.f("lr"), Rho: o.f("rho"), Eps: o.f("eps"), WeightDecay: o.f("weight_decay"),
		Maximize: o.b("maximize")}
}

// newOptimizer makes the optimizer of kind with one group per entry, the
// first through the constructor and the others with AddParamGroup.
func newOptimizer(kind string, groups [][]*nn.Parameter, options []opts) optim.Optimizer {
	switch kind {
	case "sgd":
		o := optim.NewSGD(groups[0], sgdConfig(options[0]))
		for i := 1; i < len(groups); i++ {
			o.AddParamGroup(groups[i], sgdConfig(options[i]))
		}
		return o
	case "adam":
		o := optim.NewAdam(groups[0], adamConfig(options[0]))
		for i := 1; i < len(groups); i++ {
			o.AddParamGroup(groups[i], adamConfig(options[i]))
		}
		return o
	case "adamw":
		o := optim.NewAdamW(groups[0], adamWConfig(options[0]))
		for i := 1; i < len(groups); i++ {
			o.AddParamGroup(groups[i], adamWConfig(options[i]))
		}
		return o
	case "rmsprop":
		o := optim.NewRMSprop(groups[0], rmspropConfig(options[0]))
		for i := 1; i < len(groups); i++ {
			o.AddParamGroup(groups[i], rmspropConfig(options[i]))
		}
		return o
	case "adagrad":
		o := optim.NewAdagrad(groups[0], adagradConfig(options[0]))
		for i := 1; i < len(groups); i++ {
			o.AddParamGroup(groups[i], adagradConfig(options[i]))
		}
		return o
	case "adadelta":
		o := optim.NewAdadelta(groups[0], adadeltaConfig(options[0]))
		for i := 1; i < len(groups); i++ {
			o.AddParamGroup(groups[i], adadeltaConfig(options[i]))
		}
		return o
	}
	panic("unknown optimizer " + kind)
}

// problem is the fixture's objective with its parameters.
type problem struct {
	a, b   *tensor.Tensor
	c      float64
	params []*nn.Parameter
}

func newProblem(fx *optimFixture, dt tensor.DType) *problem {
	p := &problem{a: fx.Problem.A.tensor(dt), b: fx.Problem.B.tensor(dt), c: fx.Problem.C}
	for _, v := range fx.Problem.Init {
		p.params = append(p.params, nn.NewParameter(v.tensor(dt)))
	}
	return p
}

// loss is sum((A@W - B)^2) + c*sum(sin(v)) + (u*u - 1)^2; z is unused.
func (p *problem) loss() *tensor.Tensor {
	W, v, u := p.params[0], p.params[1], p.params[2]
	t1 := p.a.MatMul(W.Tensor).Sub(p.b).Square().Sum()
	t2 := v.Sin().Sum().MulScalar(p.c)
	t3 := u.Square().SubScalar(1).Square()
	return t1.Add(t2).Add(t3)
}

// step runs one training step as the generator does.
func (p *problem) step(o optim.Optimizer) {
	o.ZeroGrad()
	p.loss().Backward()
	o.Step()
}

// flat returns all parameters' values, concatenated.
func (p *problem) flat() []float64 {
	var out []float64
	for _, q := range p.params {
		out = append(out, q.Float64s()...)
	}
	return out
}

func (p *problem) optimizer(c *optimCase) optim.Optimizer {
	var groups [][]*nn.Parameter
	var options []opts
	for _, g := range c.Groups {
		var ps []*nn.Parameter
		for _, i := range g.Params {
			ps = append(ps, p.params[i])
		}
		groups = append(groups, ps)
		options = append(options, g.Options)
	}
	return newOptimizer(c.Optim, groups, options)
}

func loadOptimFixture(t testing.TB) *optimFixture {
	var fx optimFixture
	readJSON(t, "optim.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no optimizer cases")
	}
	return &fx
}

// tolerance for a case: 1e-9 relative (to max(1, |want|)) in float64; the
// float32 cases differ from torch by float32 rounding.
func tolerance(dt string) float64 {
	if dt == "float32" {
		return 1e-5
	}
	return 1e-9
}

func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func compare(t *testing.T, what string, got, want []float64, tol float64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return false
	}
	for i := range want {
		if !near(got[i], want[i], tol) {
			t.Errorf("%s[%d] = %.17g, want %.17g (diff %.3g)", what, i, got[i], want[i], got[i]-want[i])
			return false
		}
	}
	return true
}
