package optim_test

import (
	"fmt"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

type schedCase struct {
	Name       string `json:"name"`
	Optim      string `json:"optim"`
	Opts       []opts `json:"opts"`
	Schedulers []struct {
		Kind string `json:"kind"`
		Args opts   `json:"args"`
	} `json:"schedulers"`
	Steps    int         `json:"steps"`
	Metrics  []float64   `json:"metrics"`
	LRs      [][]float64 `json:"lrs"`
	Momentum [][]float64 `json:"momentum"`
}

// floats reads a number or a list of numbers (one per group).
func (o opts) floats(k string) (one float64, list []float64) {
	switch v := o[k].(type) {
	case float64:
		return v, nil
	case []any:
		for _, x := range v {
			list = append(list, x.(float64))
		}
	}
	return 0, list
}

func (o opts) i(k string, def int) int {
	if v, ok := o[k]; ok {
		return int(v.(float64))
	}
	return def
}

func (o opts) fd(k string, def float64) float64 {
	if v, ok := o[k]; ok {
		return v.(float64)
	}
	return def
}

func (o opts) s(k string) string { v, _ := o[k].(string); return v }

// stepper is a scheduler of the fixture: Scheduler, or ReduceLROnPlateau.
type stepper func(metric float64)

// newScheduler attaches the fixture's scheduler to opt. Arguments torch
// was not given take torch's defaults: positional ones explicitly here,
// config fields by being left zero.
func newScheduler(t *testing.T, opt optim.Optimizer, kind string, a opts) stepper {
	var s optim.Scheduler
	switch kind {
	case "StepLR":
		s = optim.NewStepLR(opt, a.i("step_size", 0), a.fd("gamma", 0.1))
	case "MultiStepLR":
		var ms []int
		for _, m := range a["milestones"].([]any) {
			ms = append(ms, int(m.(float64)))
		}
		s = optim.NewMultiStepLR(opt, ms, a.fd("gamma", 0.1))
	case "ExponentialLR":
		s = optim.NewExponentialLR(opt, a.f("gamma"))
	case "CosineAnnealingLR":
		s = optim.NewCosineAnnealingLR(opt, a.i("T_max", 0), a.f("eta_min"))
	case "LinearLR":
		s = optim.NewLinearLR(opt, a.fd("start_factor", 1.0/3), a.fd("end_factor", 1), a.i("total_iters", 5))
	case "OneCycleLR":
		maxLR, maxLRs := a.floats("max_lr")
		noCycle := a.has("cycle_momentum") && !a.b("cycle_momentum")
		s = optim.NewOneCycleLR(opt, maxLR, a.i("total_steps", 0), optim.OneCycleLRConfig{
			MaxLRs: maxLRs, PctStart: a.f("pct_start"), AnnealStrategy: a.s("anneal_strategy"),
			NoCycleMomentum: noCycle, BaseMomentum: a.f("base_momentum"), MaxMomentum: a.f("max_momentum"),
			DivFactor: a.f("div_factor"), FinalDivFactor: a.f("final_div_factor"), ThreePhase: a.b("three_phase"),
		})
	case "ReduceLROnPlateau":
		minLR, minLRs := a.floats("min_lr")
		p := optim.NewReduceLROnPlateau(opt, optim.ReduceLROnPlateauConfig{
			Mode: a.s("mode"), Factor: a.f("factor"),
			Patience: a.i("patience", 0), NoPatience: a.has("patience") && a.i("patience", 0) == 0,
			Threshold: a.f("threshold"), NoThreshold: a.has("threshold") && a.f("threshold") == 0,
			ThresholdMode: a.s("threshold_mode"), Cooldown: a.i("cooldown", 0),
			MinLR: minLR, MinLRs: minLRs, Eps: a.f("eps"),
		})
		return p.Step
	default:
		t.Fatalf("unknown scheduler %s", kind)
	}
	return func(float64) { s.Step() }
}

func groupLRs(o optim.Optimizer) (lrs, moms []float64) {
	for _, g := range o.ParamGroups() {
		lrs = append(lrs, g.LR())
		m, _ := g.Momentum()
		moms = append(moms, m)
	}
	return lrs, moms
}

// TestSchedulers replays every case of schedulers.json: the LR (and
// momentum) of each group after construction and after each step, within
// 1e-12.
func TestSchedulers(t *testing.T) {
	var fx struct{ Cases []schedCase }
	readJSON(t, "schedulers.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no scheduler cases")
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var groups [][]*nn.Parameter
			for range c.Opts {
				groups = append(groups, []*nn.Parameter{nn.NewParameter(tensor.Zeros(2))})
			}
			opt := newOptimizer(c.Optim, groups, c.Opts)
			var steps []stepper
			for _, s := range c.Schedulers {
				steps = append(steps, newScheduler(t, opt, s.Kind, s.Args))
			}
			for i := 0; i <= c.Steps; i++ {
				if i > 0 {
					opt.Step()
					for _, s := range steps {
						m := 0.0
						if c.Metrics != nil {
							m = c.Metrics[i-1]
						}
						s(m)
					}
				}
				lrs, moms := groupLRs(opt)
				if !compare(t, fmt.Sprintf("lr after %d steps", i), lrs, c.LRs[i], 1e-12) ||
					!compare(t, fmt.Sprintf("momentum after %d steps", i), moms, c.Momentum[i], 1e-12) {
					return
				}
			}
		})
	}
}
