package optim

import (
	"fmt"
	"math"
	"slices"

	"github.com/tapir-ml/tapir/tensor"
)

// ReduceLROnPlateauConfig holds torch.optim.lr_scheduler.ReduceLROnPlateau's
// options; the zero value of each field is torch's default. Patience and
// Threshold, whose defaults are not 0 but which may usefully be 0, have
// NoPatience and NoThreshold for that.
type ReduceLROnPlateauConfig struct {
	// Mode is "min" (the default, also for ""): the metric should go
	// down; or "max": it should go up.
	Mode string
	// Factor multiplies the LR when it is reduced; 0 means 0.1. It must
	// be below 1.
	Factor float64
	// Patience is the number of steps without improvement to tolerate
	// before reducing the LR; 0 means 10 unless NoPatience.
	Patience int
	// NoPatience sets the patience to 0: reduce after the first step
	// without improvement.
	NoPatience bool
	// Threshold is how much better than the best so far a metric must be
	// to count as an improvement; 0 means 1e-4 unless NoThreshold.
	Threshold float64
	// NoThreshold sets the threshold to 0: any improvement counts.
	NoThreshold bool
	// ThresholdMode is "rel" (the default, also for ""): better means
	// beyond best·(1∓Threshold); or "abs": beyond best∓Threshold.
	ThresholdMode string
	// Cooldown is the number of steps to wait after a reduction before
	// counting bad steps again; default 0.
	Cooldown int
	// MinLR is a lower bound on every group's LR; default 0.
	MinLR float64
	// MinLRs, when set, gives each group its own lower bound (one per
	// group), in place of MinLR.
	MinLRs []float64
	// Eps is the smallest change of LR worth making; 0 means 1e-8.
	Eps float64
}

// ReduceLROnPlateau reduces every group's LR by Factor when a metric has
// stopped improving for Patience steps: torch.optim.lr_scheduler's
// ReduceLROnPlateau. Its Step takes the metric, so it is not a
// Scheduler.
type ReduceLROnPlateau struct {
	opt             Optimizer
	cfg             ReduceLROnPlateauConfig
	minLRs          []float64
	best            float64
	numBadEpochs    int
	cooldownCounter int
	lastEpoch       int
	lastLR          []float64
}

// NewReduceLROnPlateau attaches a ReduceLROnPlateau to opt. It panics,
// as torch raises, on an unknown mode, a factor of 1 or more, or MinLRs
// of the wrong length.
func NewReduceLROnPlateau(opt Optimizer, cfg ...ReduceLROnPlateauConfig) *ReduceLROnPlateau {
	var c ReduceLROnPlateauConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Mode == "" {
		c.Mode = "min"
	}
	if c.ThresholdMode == "" {
		c.ThresholdMode = "rel"
	}
	if c.Factor == 0 {
		c.Factor = 0.1
	}
	if c.NoPatience {
		c.Patience = 0
	} else if c.Patience == 0 {
		c.Patience = 10
	}
	if c.NoThreshold {
		c.Threshold = 0
	} else if c.Threshold == 0 {
		c.Threshold = 1e-4
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	if c.Factor >= 1 {
		panic(fmt.Errorf("optim: ReduceLROnPlateau: factor %v should be < 1.0", c.Factor))
	}
	if c.Mode != "min" && c.Mode != "max" {
		panic(fmt.Errorf("optim: ReduceLROnPlateau: mode %q is unknown", c.Mode))
	}
	if c.ThresholdMode != "rel" && c.ThresholdMode != "abs" {
		panic(fmt.Errorf("optim: ReduceLROnPlateau: threshold mode %q is unknown", c.ThresholdMode))
	}
	n := len(opt.ParamGroups())
	s := &ReduceLROnPlateau{opt: opt, cfg: c}
	if c.MinLRs != nil {
		if len(c.MinLRs) != n {
			panic(fmt.Errorf("optim: ReduceLROnPlateau: expected %d min_lrs, got %d", n, len(c.MinLRs)))
		}
		s.minLRs = slices.Clone(c.MinLRs)
	} else {
		for range n {
			s.minLRs = append(s.minLRs, c.MinLR)
		}
	}
	s.reset()
	return s
}

func (s *ReduceLROnPlateau) worse() float64 {
	if s.cfg.Mode == "min" {
		return math.Inf(1)
	}
	return math.Inf(-1)
}

func (s *ReduceLROnPlateau) reset() {
	s.best = s.worse()
	s.cooldownCounter = 0
	s.numBadEpochs = 0
}

func (s *ReduceLROnPlateau) isBetter(a, best float64) bool {
	th := s.cfg.Threshold
	switch {
	case s.cfg.Mode == "min" && s.cfg.ThresholdMode == "rel":
		return a < best*(1-th)
	case s.cfg.Mode == "min":
		return a < best-th
	case s.cfg.ThresholdMode == "rel":
		return a > best*(th+1)
	default:
		return a > best+th
	}
}

// Step records the metric of one more epoch (or evaluation) and, after
// Patience steps without improvement, reduces every group's LR to
// max(LR·Factor, MinLR), unless that changes it by Eps or less.
func (s *ReduceLROnPlateau) Step(metric float64) {
	s.lastEpoch++
	if s.isBetter(metric, s.best) {
		s.best = metric
		s.numBadEpochs = 0
	} else {
		s.numBadEpochs++
	}
	if s.cooldownCounter > 0 {
		s.cooldownCounter--
		s.numBadEpochs = 0 // ignore any bad epochs in cooldown
	}
	if s.numBadEpochs > s.cfg.Patience {
		for i, g := range s.opt.ParamGroups() {
			old := g.LR()
			minLR := 0.0
			if i < len(s.minLRs) {
				minLR = s.minLRs[i]
			}
			if nl := math.Max(old*s.cfg.Factor, minLR); old-nl > s.cfg.Eps {
				g.SetLR(nl)
			}
		}
		s.cooldownCounter = s.cfg.Cooldown
		s.numBadEpochs = 0
	}
	s.lastLR = s.lastLR[:0]
	for _, g := range s.opt.ParamGroups() {
		s.lastLR = append(s.lastLR, g.LR())
	}
}

// LastLR returns the LRs after the last Step, one per group (nil before
// the first).
func (s *ReduceLROnPlateau) LastLR() []float64 { return slices.Clone(s.lastLR) }

// Best returns the best metric seen so far (+Inf in min mode, -Inf in
// max mode, before any).
func (s *ReduceLROnPlateau) Best() float64 { return s.best }

// StateDict returns the scheduler's state: best (0-d Float64),
// num_bad_epochs, cooldown_counter and last_epoch (0-d Int64).
func (s *ReduceLROnPlateau) StateDict() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"best":             scalar64(s.best),
		"num_bad_epochs":   tensor.FromSlice([]int64{int64(s.numBadEpochs)}, []int{}...),
		"cooldown_counter": tensor.FromSlice([]int64{int64(s.cooldownCounter)}, []int{}...),
		"last_epoch":       tensor.FromSlice([]int64{int64(s.lastEpoch)}, []int{}...),
	}
}

// LoadStateDict restores a state saved by StateDict. On a problem it
// returns a *LoadError and changes nothing.
func (s *ReduceLROnPlateau) LoadStateDict(sd map[string]*tensor.Tensor) error {
	le := &LoadError{}
	keys := []string{"best", "num_bad_epochs", "cooldown_counter", "last_epoch"}
	vals := make([]float64, len(keys))
	for i, k := range keys {
		t, ok := sd[k]
		switch {
		case !ok || t == nil:
			le.Missing = append(le.Missing, k)
		case t.Numel() != 1:
			le.mismatch(k, "shape %v, want []", t.Shape())
		default:
			vals[i] = t.Item()
		}
	}
	for k := range sd {
		if !slices.Contains(keys, k) {
			le.Unexpected = append(le.Unexpected, k)
		}
	}
	if !le.empty() {
		return le.sorted()
	}
	s.best, s.numBadEpochs, s.cooldownCounter, s.lastEpoch = vals[0], int(vals[1]), int(vals[2]), int(vals[3])
	return nil
}
