package functional_test

import (
	"math"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestLossGradCheck(t *testing.T) {
	g := tensor.NewGenerator(12)
	target := tensor.FromSlice([]int64{2, -100, 0, 1, 2}) // one ignored
	target1 := tensor.FromSlice([]int64{2, 1, 0, 1, 1})   // 1 ignored below
	weight := tensor.FromSlice([]float64{0.5, 2, 1.5})
	posWeight := tensor.FromSlice([]float64{0.5, 3, 1, 2})
	mean := "mean"
	runGradChecks(t, []gcCase{
		{"CrossEntropy/smoothing", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.CrossEntropy(in[0], target, F.CrossEntropyOptions{LabelSmoothing: 0.2})
		}, []*tensor.Tensor{leaf(g, 2, 0, 5, 3)}},
		{"CrossEntropy/smoothing_weight_ignore", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.CrossEntropy(in[0], target1, F.CrossEntropyOptions{
				Weight: weight, IgnoreIndex: F.Index(1), LabelSmoothing: 0.3, Reduction: mean})
		}, []*tensor.Tensor{leaf(g, 2, 0, 5, 3)}},
		{"CrossEntropy/prob_target", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.CrossEntropy(in[0], in[1], F.CrossEntropyOptions{Weight: weight, LabelSmoothing: 0.1})
		}, []*tensor.Tensor{leaf(g, 2, 0, 4, 3), uniformLeaf(g, 0, 1, 4, 3)}},
		{"NLLLoss/none", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.NLLLoss(in[0].LogSoftmax(1), target, F.NLLLossOptions{Weight: weight, Reduction: "none"})
		}, []*tensor.Tensor{leaf(g, 2, 0, 5, 3)}},
		{"BCEWithLogits/pos_weight", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.BCEWithLogits(in[0], in[1], F.BCEWithLogitsOptions{PosWeight: posWeight, Weight: weight.Reshape(3, 1)})
		}, []*tensor.Tensor{leaf(g, 3, 0, 3, 4), uniformLeaf(g, 0, 1, 3, 4)}},
		{"BCELoss", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.BCELoss(in[0], in[1], F.BCEOptions{Reduction: "sum"})
		}, []*tensor.Tensor{uniformLeaf(g, 0.1, 0.9, 3, 4), uniformLeaf(g, 0, 1, 3, 4)}},
		{"KLDiv/batchmean", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.KLDiv(in[0].LogSoftmax(1), in[1], F.KLDivOptions{Reduction: "batchmean"})
		}, []*tensor.Tensor{leaf(g, 1, 0, 3, 4), uniformLeaf(g, 0.1, 1, 3, 4)}},
		{"KLDiv/log_target", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.KLDiv(in[0], in[1], F.KLDivOptions{LogTarget: true, Reduction: "none"})
		}, []*tensor.Tensor{leaf(g, 1, -1, 3, 4), leaf(g, 1, -1, 3, 4)}},
		{"SmoothL1Loss", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.SmoothL1Loss(in[0], in[1], F.SmoothL1Options{Beta: 0.8})
		}, []*tensor.Tensor{leaf(g, 1, 0, 3, 4), leaf(g, 1, 0, 3, 4)}},
		{"HuberLoss", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.HuberLoss(in[0], in[1], F.HuberOptions{Delta: 0.8, Reduction: "sum"})
		}, []*tensor.Tensor{leaf(g, 1, 0, 3, 4), leaf(g, 1, 0, 3, 4)}},
		{"MSELoss", func(in []*tensor.Tensor) *tensor.Tensor { return F.MSELoss(in[0], in[1]) },
			[]*tensor.Tensor{leaf(g, 1, 0, 3, 4), leaf(g, 1, 0, 3, 4)}},
		{"L1Loss", func(in []*tensor.Tensor) *tensor.Tensor { return F.L1Loss(in[0], in[1]) },
			[]*tensor.Tensor{leaf(g, 1, 0, 3, 4), leaf(g, 1, 0, 3, 4)}},
	})
}

// The zero-value options are torch's defaults: reduction "mean", ignore
// index -100, beta and delta 1.
func TestLossDefaults(t *testing.T) {
	g := tensor.NewGenerator(13)
	x, y := g.Normal(tensor.Float64, 0, 1, 4, 3), g.Normal(tensor.Float64, 0, 1, 4, 3)
	p := g.Uniform(tensor.Float64, 0.1, 0.9, 4, 3)
	cls := tensor.FromSlice([]int64{0, -100, 2, 1})
	for _, c := range []struct {
		name           string
		dflt, explicit *tensor.Tensor
	}{
		{"CrossEntropy", F.CrossEntropy(x, cls), F.CrossEntropy(x, cls, F.CrossEntropyOptions{IgnoreIndex: F.Index(-100), Reduction: "mean"})},
		{"NLLLoss", F.NLLLoss(x, cls), F.NLLLoss(x, cls, F.NLLLossOptions{IgnoreIndex: F.Index(-100), Reduction: "mean"})},
		{"MSELoss", F.MSELoss(x, y), x.Sub(y).Square().Mean()},
		{"L1Loss", F.L1Loss(x, y), F.L1Loss(x, y, F.LossOptions{Reduction: "mean"})},
		{"SmoothL1Loss", F.SmoothL1Loss(x, y), F.SmoothL1Loss(x, y, F.SmoothL1Options{Beta: 1, Reduction: "mean"})},
		{"HuberLoss", F.HuberLoss(x, y), F.HuberLoss(x, y, F.HuberOptions{Delta: 1, Reduction: "mean"})},
		{"BCELoss", F.BCELoss(p, p), F.BCELoss(p, p, F.BCEOptions{Reduction: "mean"})},
		{"BCEWithLogits", F.BCEWithLogits(x, p), F.BCELoss(x.Sigmoid(), p)},
		{"KLDiv", F.KLDiv(x, p), F.KLDiv(x, p, F.KLDivOptions{Reduction: "mean"})},
	} {
		if a, b := c.dflt.Item(), c.explicit.Item(); !(math.Abs(a-b) <= 1e-12) {
			t.Errorf("%s: default options give %v, explicit torch defaults %v", c.name, a, b)
		}
	}
}

// As torch, a mean over targets that are all ignored is 0/0 = NaN.
func TestCrossEntropyAllIgnored(t *testing.T) {
	x := tensor.Ones(2, 3)
	cls := tensor.FromSlice([]int64{-100, -100})
	if v := F.CrossEntropy(x, cls).Item(); !math.IsNaN(v) {
		t.Errorf("mean over no targets = %v, want NaN", v)
	}
	if v := F.CrossEntropy(x, cls, F.CrossEntropyOptions{Reduction: "sum"}).Item(); v != 0 {
		t.Errorf("sum over no targets = %v, want 0", v)
	}
}

func TestLossPanics(t *testing.T) {
	x, y := tensor.Zeros(2, 3), tensor.Zeros(3, 2)
	cls := tensor.FromSlice([]int64{0, 1})
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"mse shapes", "mse_loss: input [2 3] and target [3 2] must have the same shape", func() { F.MSELoss(x, y) }},
		{"l1 shapes", "l1_loss: input [2 3] and target [3 2] must have the same shape", func() { F.L1Loss(x, y) }},
		{"smooth_l1 shapes", "smooth_l1_loss: input [2 3] and target [3 2]", func() { F.SmoothL1Loss(x, y) }},
		{"huber shapes", "huber_loss: input [2 3] and target [3 2]", func() { F.HuberLoss(x, y) }},
		{"bce shapes", "binary_cross_entropy: input [2 3] and target [3 2]", func() { F.BCELoss(x, y) }},
		{"bce_logits shapes", "binary_cross_entropy_with_logits: input [2 3] and target [3 2]",
			func() { F.BCEWithLogits(x, y) }},
		{"kl_div shapes", "kl_div: input [2 3] and target [3 2]", func() { F.KLDiv(x, y) }},
		{"mse int target", "mse_loss: input (float32) and target (int64) must be floating point",
			func() { F.MSELoss(x, x.To(tensor.Int64)) }},
		{"bce range", "binary_cross_entropy: all elements of input [2] must be in [0, 1], found 1.5",
			func() { F.BCELoss(tensor.FromSlice([]float32{0.5, 1.5}), tensor.Zeros(2)) }},
		{"pos_weight shape", "binary_cross_entropy_with_logits: weight or pos_weight makes the loss [2 2 3], not the input's [2 3]",
			func() { F.BCEWithLogits(x, x, F.BCEWithLogitsOptions{PosWeight: tensor.Zeros(2, 1, 1)}) }},
		{"reduction", `mse_loss: reduction must be "mean", "sum" or "none", not "batchmean"`,
			func() { F.MSELoss(x, x, F.LossOptions{Reduction: "batchmean"}) }},
		{"ce target shape", "cross_entropy: input [2 3] and target [3] do not fit: class-index targets must have shape [2]",
			func() { F.CrossEntropy(x, tensor.FromSlice([]int64{0, 1, 2})) }},
		{"ce nchw target", "cross_entropy: input [2 3 4 5] and target [2 4] do not fit: class-index targets must have shape [2 4 5]",
			func() { F.CrossEntropy(tensor.Zeros(2, 3, 4, 5), tensor.Zeros(2, 4).To(tensor.Int64)) }},
		{"ce prob shape", "cross_entropy: input [2 3] and probability target [3 2] must have the same shape",
			func() { F.CrossEntropy(x, y) }},
		{"ce out of range", "cross_entropy: target 3 is out of bounds for 3 classes (input [2 3])",
			func() { F.CrossEntropy(x, tensor.FromSlice([]int64{0, 3})) }},
		{"ce weight", "cross_entropy: weight of shape [2] does not fit input [2 3]: want [3]",
			func() { F.CrossEntropy(x, cls, F.CrossEntropyOptions{Weight: tensor.Zeros(2)}) }},
		{"ce smoothing", "cross_entropy: label smoothing must be in [0, 1], not 1.5",
			func() { F.CrossEntropy(x, cls, F.CrossEntropyOptions{LabelSmoothing: 1.5}) }},
		{"ce prob ignore", "cross_entropy: ignore index 0 does not apply to probability targets",
			func() { F.CrossEntropy(x, x, F.CrossEntropyOptions{IgnoreIndex: F.Index(0)}) }},
		{"ce 0-d", "cross_entropy: input must be [C], [N, C] or [N, C, d1, …], not a 0-d tensor",
			func() { F.CrossEntropy(tensor.Scalar(1), cls) }},
		{"nll float target", "nll_loss: class-index targets must be integers, not float32",
			func() { F.NLLLoss(x, tensor.Zeros(2)) }},
		{"nll negative", "nll_loss: target -1 is out of bounds for 3 classes",
			func() { F.NLLLoss(x, tensor.FromSlice([]int64{0, -1})) }},
		{"nll int input", "nll_loss: input must be floating point, not int64",
			func() { F.NLLLoss(x.To(tensor.Int64), cls) }},
	} {
		t.Run(c.name, func(t *testing.T) { expectPanic(t, c.want, c.f) })
	}
}

func TestCTCLossGradCheck(t *testing.T) {
	g := tensor.NewGenerator(14)
	targets := tensor.FromSlice([]int64{1, 1, 2, 0}, 2, 2)
	inLen, tgLen := tensor.FromSlice([]int64{3, 2}), tensor.FromSlice([]int64{2, 1}) // 1,1 takes all 3 steps
	runGradChecks(t, []gcCase{
		{"CTCLoss/log_probs", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.CTCLoss(in[0], targets, inLen, tgLen, F.CTCLossOptions{Reduction: "sum"})
		}, []*tensor.Tensor{leaf(g, 1, -1, 3, 2, 3)}},
		{"CTCLoss/logits", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.CTCLoss(in[0].LogSoftmax(2), targets, inLen, tgLen)
		}, []*tensor.Tensor{leaf(g, 1, 0, 3, 2, 3)}},
	})
}

// Inputs too short for their targets: +Inf, or 0 with a zero gradient
// under ZeroInfinity; an empty input aligns only an empty target.
func TestCTCLossInfeasible(t *testing.T) {
	lp := tensor.FromSlice([]float64{-1, -2, -0.5, -1.5, -1, -2}, 3, 2, 1).Expand(3, 2, 3).Contiguous().SetRequiresGrad(true)
	targets := tensor.FromSlice([]int64{1, 1, 2, 1}, 2, 2) // 1,1 needs 3 steps
	loss := F.CTCLoss(lp, targets, tensor.FromSlice([]int64{2, 3}), tensor.FromSlice([]int64{2, 2}), F.CTCLossOptions{Reduction: "none"})
	if v := loss.Float64s(); !math.IsInf(v[0], 1) || math.IsInf(v[1], 0) {
		t.Errorf("losses %v, want [+Inf finite]", v)
	}
	loss = F.CTCLoss(lp, targets, tensor.FromSlice([]int64{2, 3}), tensor.FromSlice([]int64{2, 2}), F.CTCLossOptions{ZeroInfinity: true, Reduction: "none"})
	if v := loss.Float64s(); v[0] != 0 {
		t.Errorf("ZeroInfinity loss %v, want 0", v[0])
	}
	loss.Select(0, 0).Backward()
	for i, v := range lp.Grad().Float64s() {
		if v != 0 {
			t.Fatalf("gradient %d of a zeroed infinite loss = %v, want 0", i, v)
		}
	}
	empty := F.CTCLoss(lp, targets, tensor.FromSlice([]int64{0, 0}), tensor.FromSlice([]int64{0, 1}), F.CTCLossOptions{Reduction: "none"})
	if v := empty.Float64s(); v[0] != 0 || !math.IsInf(v[1], 1) {
		t.Errorf("empty inputs give %v, want [0 +Inf]", v)
	}
}

func TestCTCLossPanics(t *testing.T) {
	lp := tensor.Zeros(4, 2, 3)
	tg := tensor.FromSlice([]int64{1, 2, 1, 0}, 2, 2)
	l2 := tensor.FromSlice([]int64{4, 4})
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"rank", "ctc_loss: log_probs must be floating point [T, N, C] or [T, C], not float32 [4]",
			func() { F.CTCLoss(tensor.Zeros(4), tg, l2, l2) }},
		{"blank label", "ctc_loss: target label 0 is out of range for 3 classes or is the blank 0",
			func() { F.CTCLoss(lp, tg, l2, tensor.FromSlice([]int64{2, 2})) }},
		{"input length", "ctc_loss: input length 5 is out of range for log_probs [4 2 3]",
			func() { F.CTCLoss(lp, tg, tensor.FromSlice([]int64{5, 4}), tensor.FromSlice([]int64{2, 1})) }},
		{"target length", "ctc_loss: target length 3 is out of range for padded targets [2 2]",
			func() { F.CTCLoss(lp, tg, l2, tensor.FromSlice([]int64{3, 1})) }},
		{"lengths shape", "ctc_loss: input_lengths must be an integer tensor of shape [2], not int64 [3]",
			func() { F.CTCLoss(lp, tg, tensor.FromSlice([]int64{4, 4, 4}), l2) }},
		{"concatenated", "ctc_loss: target lengths [2 3] do not fit 4 concatenated targets",
			func() { F.CTCLoss(lp, tg.Reshape(-1), l2, tensor.FromSlice([]int64{2, 3})) }},
	} {
		t.Run(c.name, func(t *testing.T) { expectPanic(t, c.want, c.f) })
	}
}

// A logit of −Inf (a masked class) in an ignored row leaves the loss and
// its gradient finite, as in torch.
func TestCrossEntropyMaskedLogits(t *testing.T) {
	inf := math.Inf(-1)
	x := tensor.FromSlice([]float64{inf, 1, 2, inf, 0, 1}, 2, 3).SetRequiresGrad(true)
	loss := F.CrossEntropy(x, tensor.FromSlice([]int64{-100, 2}))
	want := -(1 - math.Log(math.Exp(0)+math.Exp(1)))
	if got := loss.Item(); !(math.Abs(got-want) <= 1e-12) {
		t.Fatalf("loss %v, want %v", got, want)
	}
	loss.Backward()
	for i, v := range x.Grad().Float64s() {
		if math.IsNaN(v) || math.IsInf(v, 0) || (i < 3 && v != 0) {
			t.Fatalf("gradient %v: element %d is not finite or the ignored row is not 0", x.Grad().Float64s(), i)
		}
	}
}
