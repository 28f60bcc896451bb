package optim

import (
	"fmt"
	"math"
	"slices"

	"github.com/tapir-ml/tapir/tensor"
)

// Scheduler changes the learning rates of an optimizer's groups as
// training goes on, as torch.optim.lr_scheduler's schedulers do. Call
// Step once after each optimizer Step (per batch or per epoch, as the
// schedule is meant).
type Scheduler interface {
	// Step advances the schedule by one and sets every group's LR.
	Step()
	// LastLR returns the LRs the last Step set, one per group.
	LastLR() []float64
}

var (
	_ Scheduler = (*StepLR)(nil)
	_ Scheduler = (*MultiStepLR)(nil)
	_ Scheduler = (*ExponentialLR)(nil)
	_ Scheduler = (*CosineAnnealingLR)(nil)
	_ Scheduler = (*LinearLR)(nil)
	_ Scheduler = (*OneCycleLR)(nil)
)

// lrScheduler is torch 1.13's _LRScheduler: the bookkeeping shared by the
// schedulers whose Step takes no metric. getLR computes the next LRs
// after lastEpoch has been advanced; most schedules are written in
// torch's chainable form, from each group's current LR, so that several
// schedulers can act on one optimizer.
type lrScheduler struct {
	opt       Optimizer
	baseLRs   []float64
	lastEpoch int
	stepCount int
	lastLR    []float64
	getLR     func() []float64
}

// start attaches the scheduler as torch's constructor with last_epoch=-1
// does: every group's initial_lr is set unless a scheduler set it
// already, the base LRs are read from it, and one step is taken (to
// epoch 0).
func (s *lrScheduler) start(opt Optimizer, getLR func() []float64) {
	s.opt, s.getLR, s.lastEpoch = opt, getLR, -1
	for _, g := range opt.ParamGroups() {
		if !g.hasInitialLR {
			g.SetInitialLR(g.LR())
		}
		s.baseLRs = append(s.baseLRs, g.initialLR)
	}
	s.Step()
}

// Step advances the schedule by one and sets every group's LR.
func (s *lrScheduler) Step() {
	s.stepCount++
	s.lastEpoch++
	values := s.getLR()
	groups := s.opt.ParamGroups()
	for i, v := range values {
		if i < len(groups) {
			groups[i].SetLR(v)
		}
	}
	s.lastLR = s.lastLR[:0]
	for _, g := range groups {
		s.lastLR = append(s.lastLR, g.LR())
	}
}

// LastLR returns the LRs the last Step set, one per group.
func (s *lrScheduler) LastLR() []float64 { return slices.Clone(s.lastLR) }

// LastEpoch returns the number of Steps taken since the scheduler was
// made (torch's last_epoch): 0 right after construction.
func (s *lrScheduler) LastEpoch() int { return s.lastEpoch }

// BaseLRs returns the groups' base LRs (torch's base_lrs, the groups'
// initial_lr when the scheduler was made).
func (s *lrScheduler) BaseLRs() []float64 { return slices.Clone(s.baseLRs) }

// currentLRs returns every group's LR times f.
func (s *lrScheduler) currentLRs(f float64) []float64 {
	groups := s.opt.ParamGroups()
	out := make([]float64, len(groups))
	for i, g := range groups {
		out[i] = g.LR() * f
	}
	return out
}

// StateDict returns the scheduler's state, as torch's state_dict() minus
// what the constructor sets: last_epoch and _step_count (0-d Int64),
// base_lrs and _last_lr (Float64, one per group).
func (s *lrScheduler) StateDict() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"last_epoch":  tensor.FromSlice([]int64{int64(s.lastEpoch)}, []int{}...),
		"_step_count": tensor.FromSlice([]int64{int64(s.stepCount)}, []int{}...),
		"base_lrs":    tensor.FromSlice(slices.Clone(s.baseLRs)),
		"_last_lr":    tensor.FromSlice(slices.Clone(s.lastLR)),
	}
}

// LoadStateDict restores a state saved by StateDict on a scheduler made
// the same way; the LRs themselves live in the optimizer's state dict. On
// a problem it returns a *LoadError and changes nothing.
func (s *lrScheduler) LoadStateDict(sd map[string]*tensor.Tensor) error {
	le := &LoadError{}
	n := len(s.baseLRs)
	scalar := func(k string) int {
		t, ok := sd[k]
		switch {
		case !ok || t == nil:
			le.Missing = append(le.Missing, k)
		case t.Numel() != 1:
			le.mismatch(k, "shape %v, want []", t.Shape())
		default:
			return int(t.Item())
		}
		return 0
	}
	vector := func(k string) []float64 {
		t, ok := sd[k]
		switch {
		case !ok || t == nil:
			le.Missing = append(le.Missing, k)
		case t.Dim() != 1 || t.Numel() != n:
			le.mismatch(k, "shape %v, want [%d]", t.Shape(), n)
		default:
			return t.Float64s()
		}
		return nil
	}
	lastEpoch, stepCount := scalar("last_epoch"), scalar("_step_count")
	base, last := vector("base_lrs"), vector("_last_lr")
	for k := range sd {
		switch k {
		case "last_epoch", "_step_count", "base_lrs", "_last_lr":
		default:
			le.Unexpected = append(le.Unexpected, k)
		}
	}
	if !le.empty() {
		return le.sorted()
	}
	s.lastEpoch, s.stepCount, s.baseLRs, s.lastLR = lastEpoch, stepCount, base, last
	return nil
}

// StepLR multiplies every group's LR by Gamma every StepSize steps:
// torch.optim.lr_scheduler.StepLR.
type StepLR struct {
	lrScheduler
	StepSize int     // steps between decays
	Gamma    float64 // factor of each decay
}

// NewStepLR attaches a StepLR to opt (torch's default gamma is 0.1).
func NewStepLR(opt Optimizer, stepSize int, gamma float64) *StepLR {
	if stepSize <= 0 {
		panic(fmt.Errorf("optim: StepLR: step size %d must be positive", stepSize))
	}
	s := &StepLR{StepSize: stepSize, Gamma: gamma}
	s.start(opt, func() []float64 {
		if s.lastEpoch == 0 || s.lastEpoch%s.StepSize != 0 {
			return s.currentLRs(1)
		}
		return s.currentLRs(s.Gamma)
	})
	return s
}

// MultiStepLR multiplies every group's LR by Gamma at each milestone
// step (by Gamma^k for a milestone listed k times):
// torch.optim.lr_scheduler.MultiStepLR.
type MultiStepLR struct {
	lrScheduler
	milestones map[int]int
	Gamma      float64 // factor of each decay
}

// NewMultiStepLR attaches a MultiStepLR to opt (torch's default gamma is
// 0.1).
func NewMultiStepLR(opt Optimizer, milestones []int, gamma float64) *MultiStepLR {
	s := &MultiStepLR{milestones: map[int]int{}, Gamma: gamma}
	for _, m := range milestones {
		s.milestones[m]++
	}
	s.start(opt, func() []float64 {
		k, ok := s.milestones[s.lastEpoch]
		if !ok {
			return s.currentLRs(1)
		}
		return s.currentLRs(math.Pow(s.Gamma, float64(k)))
	})
	return s
}

// ExponentialLR multiplies every group's LR by Gamma every step:
// torch.optim.lr_scheduler.ExponentialLR.
type ExponentialLR struct {
	lrScheduler
	Gamma float64 // factor of each step's decay
}

// NewExponentialLR attaches an ExponentialLR to opt.
func NewExponentialLR(opt Optimizer, gamma float64) *ExponentialLR {
	s := &ExponentialLR{Gamma: gamma}
	s.start(opt, func() []float64 {
		if s.lastEpoch == 0 {
			return s.currentLRs(1)
		}
		return s.currentLRs(s.Gamma)
	})
	return s
}

// CosineAnnealingLR anneals every group's LR from its base LR to EtaMin
// along half a cosine over TMax steps, and back up over the next TMax,
// in torch's recursive form: torch.optim.lr_scheduler.CosineAnnealingLR.
type CosineAnnealingLR struct {
	lrScheduler
	TMax   int     // steps from the base LR down to EtaMin
	EtaMin float64 // the lowest LR
}

// NewCosineAnnealingLR attaches a CosineAnnealingLR to opt (torch's
// default etaMin is 0).
func NewCosineAnnealingLR(opt Optimizer, tMax int, etaMin float64) *CosineAnnealingLR {
	if tMax <= 0 {
		panic(fmt.Errorf("optim: CosineAnnealingLR: T_max %d must be positive", tMax))
	}
	s := &CosineAnnealingLR{TMax: tMax, EtaMin: etaMin}
	s.start(opt, s.lr)
	return s
}

func (s *CosineAnnealingLR) lr() []float64 {
	groups := s.opt.ParamGroups()
	e, tMax := s.lastEpoch, float64(s.TMax)
	if e == 0 {
		return s.currentLRs(1)
	}
	out := make([]float64, 0, len(groups))
	switch {
	case s.stepCount == 1 && e > 0:
		for _, base := range s.baseLRs {
			out = append(out, s.EtaMin+(base-s.EtaMin)*(1+math.Cos(float64(e)*math.Pi/tMax))/2)
		}
	case (e-1-s.TMax)%(2*s.TMax) == 0:
		for i, base := range s.baseLRs {
			if i < len(groups) {
				out = append(out, groups[i].LR()+(base-s.EtaMin)*(1-math.Cos(math.Pi/tMax))/2)
			}
		}
	default:
		for _, g := range groups {
			out = append(out, (1+math.Cos(math.Pi*float64(e)/tMax))/
				(1+math.Cos(math.Pi*float64(e-1)/tMax))*(g.LR()-s.EtaMin)+s.EtaMin)
		}
	}
	return out
}

// LinearLR multiplies every group's LR by a factor that goes linearly
// from StartFactor to EndFactor over TotalIters steps, then stays:
// torch.optim.lr_scheduler.LinearLR, in its chainable form. With
// EndFactor 1 it is the usual linear warmup.
type LinearLR struct {
	lrScheduler
	StartFactor float64 // factor of the first step
	EndFactor   float64 // factor from TotalIters on
	TotalIters  int     // steps over which the factor changes
}

// NewLinearLR attaches a LinearLR to opt. torch's defaults are
// startFactor 1/3, endFactor 1 and totalIters 5. It panics, as torch
// raises, when a factor is outside [0, 1].
func NewLinearLR(opt Optimizer, startFactor, endFactor float64, totalIters int) *LinearLR {
	if !(startFactor > 0 && startFactor <= 1) {
		panic(fmt.Errorf("optim: LinearLR: starting multiplicative factor %v expected to be in (0, 1]", startFactor))
	}
	if !(endFactor >= 0 && endFactor <= 1) {
		panic(fmt.Errorf("optim: LinearLR: ending multiplicative factor %v expected to be in [0, 1]", endFactor))
	}
	if totalIters <= 0 {
		panic(fmt.Errorf("optim: LinearLR: total iterations %d must be positive", totalIters))
	}
	s := &LinearLR{StartFactor: startFactor, EndFactor: endFactor, TotalIters: totalIters}
	s.start(opt, func() []float64 {
		e := s.lastEpoch
		switch {
		case e == 0:
			return s.currentLRs(s.StartFactor)
		case e > s.TotalIters:
			return s.currentLRs(1)
		}
		return s.currentLRs(1 + (s.EndFactor-s.StartFactor)/
			(float64(s.TotalIters)*s.StartFactor+float64(e-1)*(s.EndFactor-s.StartFactor)))
	})
	return s
}

// NewLinearWarmup attaches a linear warmup to opt: every group's LR
// starts at startFactor times its value and reaches it after totalIters
// steps. It is LinearLR with endFactor 1.
func NewLinearWarmup(opt Optimizer, startFactor float64, totalIters int) *LinearLR {
	return NewLinearLR(opt, startFactor, 1, totalIters)
}
