package optim_test

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// TestTrajectories runs every optimizer configuration of optim.json for 20
// steps and compares the parameters after each step, and the state dict
// after the last, with PyTorch's. SGD, Adam and AdamW run twice: with the
// fused one-pass update that Step picks by default ("fused", which must
// then update every parameter) and with the composed in-place ops
// (the default, "composed").
func TestTrajectories(t *testing.T) {
	fx := loadOptimFixture(t)
	kinds := map[string]bool{}
	worst := map[string]float64{} // largest relative difference per dtype
	defer func() { t.Logf("largest difference from torch, relative to max(1, |x|): %v", worst) }()
	for i := range fx.Cases {
		c := &fx.Cases[i]
		kinds[c.Optim] = true
		for _, path := range []string{"fused", "composed"} {
			hasFused := c.Optim == "sgd" || c.Optim == "adam" || c.Optim == "adamw"
			if path == "composed" && !hasFused {
				continue // the only path there is, run above
			}
			t.Run(c.Name+"/"+path, func(t *testing.T) {
				pr := newProblem(fx, fixDTypes[c.DType])
				o := pr.optimizer(c)
				optim.SetFused(o, path == "fused")
				tol := tolerance(c.DType)
				for s, want := range c.Traj {
					pr.step(o)
					for j, v := range pr.flat() {
						if d := math.Abs(v-want[j]) / math.Max(1, math.Abs(want[j])); d > worst[c.DType] {
							worst[c.DType] = d
						}
					}
					if !compare(t, "step "+itoa(s+1), pr.flat(), want, tol) {
						return
					}
				}
				checkStateDict(t, o.StateDict(), c, tol)
				fused, composed := optim.PathCounts(o)
				switch {
				case !hasFused && fused != 0:
					t.Errorf("%d fused updates by an optimizer without a fused kernel", fused)
				case hasFused && path == "fused" && (composed != 0 || fused == 0):
					t.Errorf("%d fused and %d composed updates; every parameter qualifies for the fused one", fused, composed)
				case path == "composed" && fused != 0:
					t.Errorf("%d fused updates without Fused set", fused)
				}
			})
		}
	}
	if len(kinds) != 6 {
		t.Errorf("the fixture covers %d optimizers, want 6", len(kinds))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// checkStateDict compares Go's state dict with torch's: the same state
// keys and values, and option keys that torch has too with equal values.
func checkStateDict(t *testing.T, sd map[string]*tensor.Tensor, c *optimCase, tol float64) {
	t.Helper()
	var goState, goGroups []string
	for k := range sd {
		if strings.HasPrefix(k, "state.") {
			goState = append(goState, k)
		} else {
			goGroups = append(goGroups, k)
		}
	}
	sort.Strings(goState)
	sort.Strings(goGroups)
	torchState := slices.Sorted(maps.Keys(c.State))
	if !slices.Equal(goState, torchState) {
		t.Errorf("state keys\n got %v\nwant %v", goState, torchState)
		return
	}
	for _, k := range torchState {
		if !slices.Equal(sd[k].Shape(), c.State[k].Shape) && !(strings.HasSuffix(k, ".step") && sd[k].Numel() == 1) {
			t.Errorf("%s: shape %v, want %v", k, sd[k].Shape(), c.State[k].Shape)
		}
		compare(t, k, sd[k].Float64s(), c.State[k].floats(), tol)
	}
	torchGroups := slices.Sorted(maps.Keys(c.ParamGroups))
	if !slices.Equal(goGroups, torchGroups) {
		t.Errorf("param_groups keys\n got %v\nwant %v", goGroups, torchGroups)
		return
	}
	for _, k := range torchGroups {
		compare(t, k, sd[k].Float64s(), c.ParamGroups[k].floats(), 0)
	}
}
