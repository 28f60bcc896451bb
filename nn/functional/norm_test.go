package functional_test

import (
	"math"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestNormGradCheck(t *testing.T) {
	g := tensor.NewGenerator(6)
	runGradChecks(t, []gcCase{
		{"LayerNorm", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.LayerNorm(in[0], []int{2, 3}, in[1], in[2], 1e-5)
		}, []*tensor.Tensor{leaf(g, 2, 1, 2, 2, 3), leaf(g, 1, 1, 2, 3), leaf(g, 1, 0, 2, 3)}},
		{"GroupNorm", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.GroupNorm(in[0], 2, in[1], in[2], 1e-5)
		}, []*tensor.Tensor{leaf(g, 2, 1, 2, 4, 3), leaf(g, 1, 1, 4), leaf(g, 1, 0, 4)}},
		{"BatchNorm/training", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.BatchNorm(in[0], nil, nil, in[1], in[2], true, 0.1, 1e-5)
		}, []*tensor.Tensor{leaf(g, 2, 1, 3, 2, 2), leaf(g, 1, 1, 2), leaf(g, 1, 0, 2)}},
		{"BatchNorm/eval", func(in []*tensor.Tensor) *tensor.Tensor {
			rm, rv := tensor.FromSlice([]float64{0.5, -1}), tensor.FromSlice([]float64{2, 0.5})
			return F.BatchNorm(in[0], rm, rv, in[1], in[2], false, 0.1, 1e-5)
		}, []*tensor.Tensor{leaf(g, 2, 1, 3, 2, 2), leaf(g, 1, 1, 2), leaf(g, 1, 0, 2)}},
	})
}

// BatchNorm's running statistics, over several steps, against a loop:
// running = (1 − m)·running + m·batch, with the unbiased batch variance.
func TestBatchNormRunningStats(t *testing.T) {
	const n, c, l, m = 3, 2, 4, 0.25
	g := tensor.NewGenerator(7)
	rm, rv := tensor.Zeros(c).To(tensor.Float64), tensor.Ones(c).To(tensor.Float64)
	wantM, wantV := []float64{0, 0}, []float64{1, 1}
	for step := 0; step < 3; step++ {
		x := g.Normal(tensor.Float64, float64(step), 2, n, c, l).SetRequiresGrad(true)
		y := F.BatchNorm(x, rm, rv, nil, nil, true, m, 1e-5)
		if rm.RequiresGrad() || rv.RequiresGrad() {
			t.Fatal("the running statistics joined the graph")
		}
		xv := x.Float64s()
		for ch := 0; ch < c; ch++ {
			var vals []float64
			for i := 0; i < n; i++ {
				vals = append(vals, xv[(i*c+ch)*l:(i*c+ch+1)*l]...)
			}
			mean, ss := 0.0, 0.0
			for _, v := range vals {
				mean += v
			}
			mean /= float64(len(vals))
			for _, v := range vals {
				ss += (v - mean) * (v - mean)
			}
			wantM[ch] = (1-m)*wantM[ch] + m*mean
			wantV[ch] = (1-m)*wantV[ch] + m*ss/float64(len(vals)-1)
			// the output uses the biased variance
			yv := y.Float64s()
			for i := 0; i < n; i++ {
				for j := 0; j < l; j++ {
					k := (i*c+ch)*l + j
					want := (xv[k] - mean) / math.Sqrt(ss/float64(len(vals))+1e-5)
					if !(math.Abs(yv[k]-want) <= 1e-12) {
						t.Fatalf("step %d: y[%d] = %v, want %v", step, k, yv[k], want)
					}
				}
			}
		}
		for ch := 0; ch < c; ch++ {
			if gm, gv := rm.Float64s()[ch], rv.Float64s()[ch]; !(math.Abs(gm-wantM[ch]) <= 1e-12 && math.Abs(gv-wantV[ch]) <= 1e-12) {
				t.Fatalf("step %d channel %d: running (%v, %v), want (%v, %v)", step, ch, gm, gv, wantM[ch], wantV[ch])
			}
		}
	}
}

func TestNormPanics(t *testing.T) {
	x := tensor.Zeros(2, 3, 4)
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"bn rank", "batch_norm: input [3] must be at least 2-d [N, C, *]",
			func() { F.BatchNorm(tensor.Zeros(3), nil, nil, nil, nil, true, 0.1, 1e-5) }},
		{"bn weight", "batch_norm: weight of shape [4] does not fit input [2 3 4]: want [3]",
			func() { F.BatchNorm(x, nil, nil, tensor.Zeros(4), nil, true, 0.1, 1e-5) }},
		{"bn one value", "batch_norm: expected more than 1 value per channel when training, got input [1 3]",
			func() { F.BatchNorm(tensor.Zeros(1, 3), nil, nil, nil, nil, true, 0.1, 1e-5) }},
		{"bn eval", "batch_norm: running_mean and running_var must be given when not training",
			func() { F.BatchNorm(x, nil, nil, nil, nil, false, 0.1, 1e-5) }},
		{"ln shape", "layer_norm: input [2 3 4] does not end with normalized shape [3]",
			func() { F.LayerNorm(x, []int{3}, nil, nil, 1e-5) }},
		{"ln weight", "layer_norm: weight of shape [3 4] does not match normalized shape [4]",
			func() { F.LayerNorm(x, []int{4}, tensor.Zeros(3, 4), nil, 1e-5) }},
		{"gn groups", "group_norm: 3 channels of input [2 3 4] do not split into 2 groups",
			func() { F.GroupNorm(x, 2, nil, nil, 1e-5) }},
		{"gn bias", "group_norm: bias of shape [2] does not fit input [2 3 4]: want [3]",
			func() { F.GroupNorm(x, 3, nil, tensor.Zeros(2), 1e-5) }},
	} {
		t.Run(c.name, func(t *testing.T) { expectPanic(t, c.want, c.f) })
	}
}

// TestGroupNormNoGradFixtures runs the group_norm cases of the PyTorch
// fixtures without gradients, where GroupNorm takes its one-pass kernel
// (TestTorchFixtures records them and runs the composed ops): the outputs
// must match torch's as closely.
func TestGroupNormNoGradFixtures(t *testing.T) {
	n := 0
	for _, c := range loadFixtures(t) {
		if c.Op != "group_norm" {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			in := fxIn{}
			for _, s := range c.Inputs {
				in[s.Name] = fxView(s.build(), s.View)
			}
			var outs []*tensor.Tensor
			tensor.WithGradEnabled(false, func() { outs = fxOps[c.Op](in, c.Args) })
			if len(outs) != 1 || outs[0].RequiresGrad() {
				t.Fatalf("%d outputs (recorded: %v), want 1 unrecorded", len(outs), len(outs) > 0 && outs[0].RequiresGrad())
			}
			if err := fxCompare(outs[0], c.Outputs[0], "output", fxLooser[c.Name]); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no group_norm fixtures")
	}
}
