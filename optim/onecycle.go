package optim

import (
	"fmt"
	"math"
)

// OneCycleLRConfig holds torch.optim.lr_scheduler.OneCycleLR's options
// besides max_lr and total_steps; the zero value of each field is
// torch's default.
type OneCycleLRConfig struct {
	// MaxLRs, when set, gives each group its own peak LR (one per group),
	// in place of NewOneCycleLR's maxLR.
	MaxLRs []float64
	// PctStart is the fraction of the steps spent raising the LR; 0
	// means 0.3.
	PctStart float64
	// AnnealStrategy is "cos" (the default, also for "") or "linear".
	AnnealStrategy string
	// NoCycleMomentum leaves the momentum alone (torch's
	// cycle_momentum=False). By default the momentum (SGD's or RMSprop's
	// Momentum, Adam's β1) moves inversely to the LR between
	// BaseMomentum and MaxMomentum.
	NoCycleMomentum bool
	// BaseMomentum is the momentum at the LR's peak; 0 means 0.85.
	BaseMomentum float64
	// MaxMomentum is the momentum at the start and end; 0 means 0.95.
	MaxMomentum float64
	// DivFactor sets the starting LR, maxLR/DivFactor; 0 means 25.
	DivFactor float64
	// FinalDivFactor sets the final LR, starting LR/FinalDivFactor; 0
	// means 1e4.
	FinalDivFactor float64
	// ThreePhase uses a third phase that anneals the LR to the final LR,
	// after a symmetric rise and fall, as the original paper does.
	ThreePhase bool
}

// OneCycleLR is the 1cycle policy: the LR rises from maxLR/DivFactor to
// maxLR and then falls to far below the start, while the momentum moves
// the other way: torch.optim.lr_scheduler.OneCycleLR. Step it after
// every batch; it is not chainable, and stepping it past totalSteps
// panics as torch raises.
type OneCycleLR struct {
	lrScheduler
	totalSteps int
	phases     []oneCyclePhase
	anneal     func(start, end, pct float64) float64
	cycle      bool
	// per group: initial, max, min LR; max and base momentum
	initial, max, min, maxMom, baseMom []float64
}

// oneCyclePhase ends at endStep, going from start to end; the fields
// pick the per-group values (0 initial, 1 max, 2 min LR; 0 max, 1 base
// momentum).
type oneCyclePhase struct {
	endStep          float64
	startLR, endLR   int
	startMom, endMom int
}

// NewOneCycleLR attaches a OneCycleLR of totalSteps steps peaking at
// maxLR to opt. It sets every group's initial_lr to maxLR/DivFactor and,
// unless cfg says NoCycleMomentum, its momentum to MaxMomentum. It panics,
// as torch raises, on a bad option or when the momentum is to be cycled
// and the optimizer has none (Adagrad, Adadelta).
func NewOneCycleLR(opt Optimizer, maxLR float64, totalSteps int, cfg ...OneCycleLRConfig) *OneCycleLR {
	var c OneCycleLRConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if totalSteps <= 0 {
		panic(fmt.Errorf("optim: OneCycleLR: expected positive integer total_steps, but got %d", totalSteps))
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.PctStart, 0.3)
	def(&c.BaseMomentum, 0.85)
	def(&c.MaxMomentum, 0.95)
	def(&c.DivFactor, 25)
	def(&c.FinalDivFactor, 1e4)
	if c.PctStart < 0 || c.PctStart > 1 {
		panic(fmt.Errorf("optim: OneCycleLR: expected float between 0 and 1 pct_start, but got %v", c.PctStart))
	}
	s := &OneCycleLR{totalSteps: totalSteps, cycle: !c.NoCycleMomentum}
	switch c.AnnealStrategy {
	case "", "cos":
		s.anneal = func(start, end, pct float64) float64 {
			cosOut := math.Cos(math.Pi*pct) + 1
			return end + (start-end)/2.0*cosOut
		}
	case "linear":
		s.anneal = func(start, end, pct float64) float64 { return (end-start)*pct + start }
	default:
		panic(fmt.Errorf("optim: OneCycleLR: anneal strategy must be one of \"cos\" or \"linear\", instead got %q", c.AnnealStrategy))
	}
	n := float64(totalSteps)
	if c.ThreePhase {
		s.phases = []oneCyclePhase{
			{endStep: c.PctStart*n - 1, startLR: 0, endLR: 1, startMom: 0, endMom: 1},
			{endStep: 2*c.PctStart*n - 2, startLR: 1, endLR: 0, startMom: 1, endMom: 0},
			{endStep: n - 1, startLR: 0, endLR: 2, startMom: 0, endMom: 0},
		}
	} else {
		s.phases = []oneCyclePhase{
			{endStep: c.PctStart*n - 1, startLR: 0, endLR: 1, startMom: 0, endMom: 1},
			{endStep: n - 1, startLR: 1, endLR: 2, startMom: 1, endMom: 0},
		}
	}

	groups := opt.ParamGroups()
	maxLRs := c.MaxLRs
	if maxLRs == nil {
		for range groups {
			maxLRs = append(maxLRs, maxLR)
		}
	} else if len(maxLRs) != len(groups) {
		panic(fmt.Errorf("optim: OneCycleLR: expected %d values for max_lr, got %d", len(groups), len(maxLRs)))
	}
	for i, g := range groups {
		init := maxLRs[i] / c.DivFactor
		g.SetInitialLR(init)
		s.initial = append(s.initial, init)
		s.max = append(s.max, maxLRs[i])
		s.min = append(s.min, init/c.FinalDivFactor)
	}
	if s.cycle {
		for _, g := range groups {
			if !g.SetMomentum(c.MaxMomentum) {
				panic(fmt.Errorf("optim: OneCycleLR: optimizer must support momentum with cycle momentum enabled (set NoCycleMomentum)"))
			}
			s.maxMom = append(s.maxMom, c.MaxMomentum)
			s.baseMom = append(s.baseMom, c.BaseMomentum)
		}
	}
	s.start(opt, s.lr)
	return s
}

func (s *OneCycleLR) lr() []float64 {
	step := float64(s.lastEpoch)
	if s.lastEpoch > s.totalSteps {
		panic(fmt.Errorf("optim: OneCycleLR: tried to step %d times; the specified number of total steps is %d",
			s.lastEpoch+1, s.totalSteps))
	}
	groups := s.opt.ParamGroups()
	lrs := make([]float64, len(groups))
	for gi, g := range groups {
		if gi >= len(s.initial) { // a group added after the scheduler was made
			lrs[gi] = g.LR()
			continue
		}
		lrOf := [3]float64{s.initial[gi], s.max[gi], s.min[gi]}
		var momOf [2]float64
		if s.cycle {
			momOf = [2]float64{s.maxMom[gi], s.baseMom[gi]}
		}
		start := 0.0
		for i, ph := range s.phases {
			if step <= ph.endStep || i == len(s.phases)-1 {
				pct := (step - start) / (ph.endStep - start)
				lrs[gi] = s.anneal(lrOf[ph.startLR], lrOf[ph.endLR], pct)
				if s.cycle {
					g.SetMomentum(s.anneal(momOf[ph.startMom], momOf[ph.endMom], pct))
				}
				break
			}
			start = ph.endStep
		}
	}
	return lrs
}
