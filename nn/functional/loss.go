package functional

import (
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// Reductions, the values of the Reduction fields of the loss options. The
// empty string means "mean", torch's default.
const (
	ReductionMean      = "mean"
	ReductionSum       = "sum"
	ReductionNone      = "none"
	ReductionBatchMean = "batchmean" // KLDiv only: the sum divided by the batch size
)

// DefaultIgnoreIndex is the target value that CrossEntropy and NLLLoss
// skip unless told otherwise, torch's ignore_index default.
const DefaultIgnoreIndex = -100

// LossOptions are the options of the losses that only reduce (MSELoss,
// L1Loss); the zero value is torch's default, reduction "mean".
type LossOptions struct {
	// Reduction is "mean" (the default, also ""), "sum" or "none" (the
	// per-element losses).
	Reduction string
}

// CrossEntropyOptions are CrossEntropy's options; the zero value is
// torch's default.
type CrossEntropyOptions struct {
	// Weight, when not nil, is a [C] tensor of class weights.
	Weight *tensor.Tensor
	// IgnoreIndex is the class-index target that contributes neither loss
	// nor gradient nor weight to the mean; nil means torch's -100
	// (DefaultIgnoreIndex). Set it with Index(i). It does not apply to
	// probability targets.
	IgnoreIndex *int
	// LabelSmoothing in [0, 1] mixes the target with the uniform
	// distribution over the C classes: (1 − ε)·target + ε/C.
	LabelSmoothing float64
	// Reduction is "mean" (the default, also ""), "sum" or "none".
	Reduction string
}

// NLLLossOptions are NLLLoss's options; the zero value is torch's default.
type NLLLossOptions struct {
	// Weight, when not nil, is a [C] tensor of class weights.
	Weight *tensor.Tensor
	// IgnoreIndex as in CrossEntropyOptions; nil means -100.
	IgnoreIndex *int
	// Reduction is "mean" (the default, also ""), "sum" or "none".
	Reduction string
}

// SmoothL1Options are SmoothL1Loss's options; the zero value is torch's
// default.
type SmoothL1Options struct {
	// Beta is where the loss turns from quadratic to linear; 0 means
	// torch's default 1. (Torch's beta = 0 is exactly L1Loss.)
	Beta float64
	// Reduction is "mean" (the default, also ""), "sum" or "none".
	Reduction string
}

// HuberOptions are HuberLoss's options; the zero value is torch's default.
type HuberOptions struct {
	// Delta is where the loss turns from quadratic to linear; 0 means
	// torch's default 1.
	Delta float64
	// Reduction is "mean" (the default, also ""), "sum" or "none".
	Reduction string
}

// BCEOptions are BCELoss's options; the zero value is torch's default.
type BCEOptions struct {
	// Weight, when not nil, multiplies each element's loss; it broadcasts
	// to the input's shape.
	Weight *tensor.Tensor
	// Reduction is "mean" (the default, also ""), "sum" or "none".
	Reduction string
}

// BCEWithLogitsOptions are BCEWithLogits's options; the zero value is
// torch's default.
type BCEWithLogitsOptions struct {
	// Weight, when not nil, multiplies each element's loss; it broadcasts
	// to the input's shape.
	Weight *tensor.Tensor
	// PosWeight, when not nil, weighs the positive term y·log σ(x); it
	// broadcasts to the input's shape as in torch, so a [C] vector applies
	// to the last dim: give [C, 1, 1] for the channels of [N, C, H, W].
	PosWeight *tensor.Tensor
	// Reduction is "mean" (the default, also ""), "sum" or "none".
	Reduction string
}

// KLDivOptions are KLDiv's options; the zero value is torch's default.
type KLDivOptions struct {
	// LogTarget says the target holds log-probabilities.
	LogTarget bool
	// Reduction is "mean" (the default, also "": the mean over all
	// elements, as torch), "batchmean" (the sum over the batch size, the
	// true KL divergence), "sum" or "none".
	Reduction string
}

// checkReduction panics unless r is a reduction op takes, and returns it
// with "" turned into "mean".
func checkReduction(op, r string, batchMean bool) string {
	switch r {
	case "":
		return ReductionMean
	case ReductionMean, ReductionSum, ReductionNone:
		return r
	case ReductionBatchMean:
		if batchMean {
			return r
		}
	}
	panicOp(op, tensor.ErrShape, "reduction must be \"mean\", \"sum\" or \"none\", not %q", r)
	return ""
}

// applyReduction reduces elementwise losses (mean, sum or none).
func applyReduction(loss *tensor.Tensor, r string) *tensor.Tensor {
	switch r {
	case ReductionSum:
		return loss.Sum()
	case ReductionNone:
		return loss
	}
	return loss.Mean()
}

// checkPair panics unless input and target have the same shape, and
// target is floating point.
func checkPair(op string, input, target *tensor.Tensor) {
	if !sameInts(input.Shape(), target.Shape()) {
		panicOp(op, tensor.ErrShape, "input %v and target %v must have the same shape", input.Shape(), target.Shape())
	}
	if !input.DType().IsFloat() || !target.DType().IsFloat() {
		panicOp(op, tensor.ErrDType, "input (%v) and target (%v) must be floating point", input.DType(), target.DType())
	}
}

// MSELoss is the squared error (input − target)², reduced
// (torch.nn.functional.mse_loss). input and target have the same shape.
// The mean and the sum are one op where the backend has the kernel
// (tensor.FusedMSELoss: one pass forward, one backward); "none", and
// inputs of two dtypes, are composed.
func MSELoss(input, target *tensor.Tensor, opt ...LossOptions) *tensor.Tensor {
	const op = "mse_loss"
	r := checkReduction(op, optOf(opt).Reduction, false)
	checkPair(op, input, target)
	if r != ReductionNone {
		if l, ok := tensor.FusedMSELoss(input, target, r == ReductionMean); ok {
			return l
		}
	}
	return applyReduction(input.Sub(target).Square(), r)
}

// L1Loss is the absolute error |input − target|, reduced
// (torch.nn.functional.l1_loss). input and target have the same shape.
func L1Loss(input, target *tensor.Tensor, opt ...LossOptions) *tensor.Tensor {
	const op = "l1_loss"
	r := checkReduction(op, optOf(opt).Reduction, false)
	checkPair(op, input, target)
	return applyReduction(input.Sub(target).Abs(), r)
}

// SmoothL1Loss is 0.5·d²/beta where |d| < beta and |d| − 0.5·beta
// elsewhere, d = input − target, reduced (torch.nn.functional.smooth_l1_loss).
func SmoothL1Loss(input, target *tensor.Tensor, opt ...SmoothL1Options) *tensor.Tensor {
	const op = "smooth_l1_loss"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, false)
	checkPair(op, input, target)
	beta := o.Beta
	if beta == 0 {
		beta = 1
	}
	if beta < 0 {
		panicOp(op, tensor.ErrShape, "beta must be positive, not %v", beta)
	}
	d := input.Sub(target)
	a := d.Abs()
	loss := tensor.Where(a.LtScalar(beta), d.Square().MulScalar(0.5/beta), a.SubScalar(0.5*beta))
	return applyReduction(loss, r)
}

// HuberLoss is 0.5·d² where |d| < delta and delta·(|d| − 0.5·delta)
// elsewhere, d = input − target, reduced (torch.nn.functional.huber_loss).
func HuberLoss(input, target *tensor.Tensor, opt ...HuberOptions) *tensor.Tensor {
	const op = "huber_loss"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, false)
	checkPair(op, input, target)
	delta := o.Delta
	if delta == 0 {
		delta = 1
	}
	if delta < 0 {
		panicOp(op, tensor.ErrShape, "delta must be positive, not %v", delta)
	}
	d := input.Sub(target)
	a := d.Abs()
	loss := tensor.Where(a.LtScalar(delta), d.Square().MulScalar(0.5), a.SubScalar(0.5*delta).MulScalar(delta))
	return applyReduction(loss, r)
}

// optOf returns opt[0], or the zero value when opt is empty.
func optOf[T any](opt []T) T {
	var o T
	if len(opt) > 0 {
		o = opt[0]
	}
	return o
}

// logClamped is max(log x, −100), with a zero gradient (never NaN) where
// the clamp holds, x ≤ 0 included: torch's BCE clamps its logs the same
// way so that a probability of exactly 0 or 1 gives a finite loss.
func logClamped(x *tensor.Tensor, log func(*tensor.Tensor) *tensor.Tensor, safe float64, pos *tensor.Tensor) *tensor.Tensor {
	one := tensor.FullOf(x.DType(), safe).ToDevice(x.Device())
	lo := tensor.FullOf(x.DType(), -100).ToDevice(x.Device())
	return tensor.Where(pos, log(tensor.Where(pos, x, one)).ClampMin(-100), lo)
}

// BCELoss is the binary cross entropy −w·(y·log x + (1 − y)·log(1 − x)) of
// probabilities x = input (in [0, 1]) and targets y of the same shape,
// reduced (torch.nn.functional.binary_cross_entropy). Each log is clamped
// at −100, as torch does, so x of exactly 0 or 1 gives a finite loss.
func BCELoss(input, target *tensor.Tensor, opt ...BCEOptions) *tensor.Tensor {
	const op = "binary_cross_entropy"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, false)
	checkPair(op, input, target)
	if input.Numel() > 0 {
		d := input.Detach()
		lo, hi := d.Amin().Item(), d.Amax().Item()
		bad := lo
		if lo >= 0 {
			bad = hi
		}
		if !(lo >= 0 && hi <= 1) {
			panicOp(op, tensor.ErrShape, "all elements of input %v must be in [0, 1], found %v", input.Shape(), bad)
		}
	}
	// log x and log1p(−x), each clamped at −100
	logX := logClamped(input, (*tensor.Tensor).Log, 1, input.GtScalar(0))
	log1mX := logClamped(input, func(t *tensor.Tensor) *tensor.Tensor { return t.Neg().Log1p() }, 0, input.LtScalar(1))
	loss := target.Mul(logX).Add(target.RSubScalar(1).Mul(log1mX)).Neg()
	if o.Weight != nil {
		loss = loss.Mul(o.Weight)
	}
	return applyReduction(loss, r)
}

// BCEWithLogits is BCELoss of σ(input), computed stably from the logits
// x = input as (1 − y)·x + (1 + (p − 1)·y)·log(1 + exp(−x)), where p is
// PosWeight (1 when nil), times Weight, reduced
// (torch.nn.functional.binary_cross_entropy_with_logits).
func BCEWithLogits(input, target *tensor.Tensor, opt ...BCEWithLogitsOptions) *tensor.Tensor {
	const op = "binary_cross_entropy_with_logits"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, false)
	checkPair(op, input, target)
	sp := softplusExact(input.Neg()) // −log σ(x)
	if o.PosWeight != nil {
		sp = sp.Mul(o.PosWeight.SubScalar(1).Mul(target).AddScalar(1))
	}
	loss := target.RSubScalar(1).Mul(input).Add(sp)
	if o.Weight != nil {
		loss = loss.Mul(o.Weight)
	}
	if !sameInts(loss.Shape(), input.Shape()) {
		panicOp(op, tensor.ErrShape, "weight or pos_weight makes the loss %v, not the input's %v", loss.Shape(), input.Shape())
	}
	return applyReduction(loss, r)
}

// KLDiv is the Kullback–Leibler divergence target·(log target − input)
// for input holding log-probabilities (torch.nn.functional.kl_div); with
// LogTarget the target holds log-probabilities too and the pointwise loss
// is exp(target)·(target − input). Where target is 0 the pointwise loss is
// 0. Reduction "batchmean" gives the mathematical KL divergence of a batch;
// "mean", torch's default, averages over all elements.
func KLDiv(input, target *tensor.Tensor, opt ...KLDivOptions) *tensor.Tensor {
	const op = "kl_div"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, true)
	checkPair(op, input, target)
	var loss *tensor.Tensor
	if o.LogTarget {
		loss = target.Exp().Mul(target.Sub(input))
	} else {
		pos := target.GtScalar(0)
		one := tensor.FullOf(target.DType(), 1).ToDevice(target.Device())
		// xlogy(t, t): t·log t, taken as 0 at t = 0 without a NaN gradient
		xlogx := target.Mul(tensor.Where(pos, target, one).Log())
		loss = xlogx.Sub(target.Mul(input))
	}
	if r == ReductionBatchMean {
		s := loss.Sum()
		if input.Dim() > 0 {
			s = s.DivScalar(float64(input.Size(0)))
		}
		return s
	}
	return applyReduction(loss, r)
}

// classDim is the class dim of an [N, C, *] or unbatched [C] input.
func classDim(op string, input *tensor.Tensor) int {
	if input.Dim() == 0 {
		panicOp(op, tensor.ErrShape, "input must be [C], [N, C] or [N, C, d1, …], not a 0-d tensor")
	}
	if !input.DType().IsFloat() {
		panicOp(op, tensor.ErrDType, "input must be floating point, not %v", input.DType())
	}
	if input.Dim() == 1 {
		return 0
	}
	return 1
}

// pickTarget is NLL's core: for log-probabilities logp ([N, C, *] or [C])
// and class-index targets ([N, *] or 0-d), the per-element loss
// −w[y]·logp[y], the per-element weight w[y] (1 without weights), both 0
// where the target is ignored, and the Bool mask of the targets not
// ignored.
func pickTarget(op string, logp, target, weight *tensor.Tensor, ignore int) (loss, wy, keep *tensor.Tensor) {
	cdim := classDim(op, logp)
	c := logp.Size(cdim)
	want := logp.Shape()
	want = append(want[:cdim:cdim], want[cdim+1:]...)
	if !sameInts(target.Shape(), want) {
		panicOp(op, tensor.ErrShape, "input %v and target %v do not fit: class-index targets must have shape %v", logp.Shape(), target.Shape(), want)
	}
	if dt := target.DType(); dt != tensor.Int64 && dt != tensor.Int32 && dt != tensor.Uint8 {
		panicOp(op, tensor.ErrDType, "class-index targets must be integers, not %v (probability targets: CrossEntropy with a floating target of the input's shape)", dt)
	}
	if weight != nil && (weight.Dim() != 1 || weight.Size(0) != c) {
		panicOp(op, tensor.ErrShape, "weight of shape %v does not fit input %v: want [%d]", weight.Shape(), logp.Shape(), c)
	}
	vals := target.To(tensor.Int64).Int64s()
	safe := make([]int64, len(vals))
	keepV := make([]bool, len(vals))
	for i, v := range vals {
		switch {
		case v == int64(ignore):
			continue
		case v < 0 || v >= int64(c):
			panicOp(op, tensor.ErrIndex, "target %d is out of bounds for %d classes (input %v)", v, c, logp.Shape())
		}
		safe[i], keepV[i] = v, true
	}
	idx := tensor.FromSlice(safe, target.Shape()...).ToDevice(logp.Device())
	keep = tensor.FromSlice(keepV, target.Shape()...).ToDevice(logp.Device())
	wy = keep.To(logp.DType())
	if weight != nil {
		wy = wy.Mul(weight.IndexSelect(0, idx.Reshape(-1)).Reshape(target.Shape()...))
	}
	picked := logp.Gather(cdim, idx.Unsqueeze(cdim)).Squeeze(cdim)
	// Where, not a product with 0, so an ignored row stays 0 even when
	// its class 0 has log-probability −Inf (a masked logit)
	zero := tensor.ZerosOf(picked.DType()).ToDevice(picked.Device())
	return tensor.Where(keep, picked.Mul(wy).Neg(), zero), wy, keep
}

// isIndexDType reports whether dt is a dtype class-index targets may have.
func isIndexDType(dt tensor.DType) bool {
	return dt == tensor.Int64 || dt == tensor.Int32 || dt == tensor.Uint8
}

func ignoreIndex(p *int) int {
	if p == nil {
		return DefaultIgnoreIndex
	}
	return *p
}

// NLLLoss is the negative log-likelihood −w[y]·input[y] of class-index
// targets y, for input holding log-probabilities
// (torch.nn.functional.nll_loss). Shapes: input [N, C] with target [N],
// input [N, C, d1, …] with target [N, d1, …], or unbatched input [C] with
// a 0-d target; targets are integers in [0, C) or IgnoreIndex. The mean
// divides by the summed weights of the targets not ignored.
func NLLLoss(input, target *tensor.Tensor, opt ...NLLLossOptions) *tensor.Tensor {
	const op = "nll_loss"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, false)
	loss, wy, _ := pickTarget(op, input, target, o.Weight, ignoreIndex(o.IgnoreIndex))
	switch r {
	case ReductionMean:
		return loss.Sum().Div(wy.Sum())
	case ReductionSum:
		return loss.Sum()
	}
	return loss
}

// CrossEntropy is the cross entropy between the softmax of the logits
// input (over the class dim: 1, or 0 for an unbatched [C] input) and
// target (torch.nn.functional.cross_entropy). The target is either
//
//   - class indices, an integer tensor of the input's shape without the
//     class dim (see NLLLoss), with optional class weights, an ignored
//     index and label smoothing; the mean divides by the summed weights of
//     the targets not ignored (their count without weights), or
//   - class probabilities, a floating tensor of the input's shape; the
//     mean divides by the number of samples N·d1·…, weights or not.
//
// With label smoothing ε the target becomes (1 − ε)·target + ε/C.
func CrossEntropy(input, target *tensor.Tensor, opt ...CrossEntropyOptions) *tensor.Tensor {
	const op = "cross_entropy"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, false)
	cdim := classDim(op, input)
	c := input.Size(cdim)
	eps := o.LabelSmoothing
	if !(eps >= 0 && eps <= 1) {
		panicOp(op, tensor.ErrShape, "label smoothing must be in [0, 1], not %v", eps)
	}
	if o.Weight != nil && (o.Weight.Dim() != 1 || o.Weight.Size(0) != c) {
		panicOp(op, tensor.ErrShape, "weight of shape %v does not fit input %v: want [%d]", o.Weight.Shape(), input.Shape(), c)
	}
	// the common case, [N, C] logits against class indices with neither
	// weights nor smoothing, is one recorded op where the backend has
	// the kernel; the composition below is its oracle in the tests
	if input.Dim() == 2 && o.Weight == nil && eps == 0 && r != ReductionNone &&
		target.Dim() == 1 && target.Size(0) == input.Size(0) && isIndexDType(target.DType()) {
		if loss, ok := tensor.FusedCrossEntropy(input, target, int64(ignoreIndex(o.IgnoreIndex)), r == ReductionMean); ok {
			return loss
		}
	}
	logp := input.LogSoftmax(cdim)
	var wb *tensor.Tensor // the weights, broadcasting along the class dim
	if o.Weight != nil {
		wb = o.Weight
		if cdim == 1 {
			wb = o.Weight.Reshape(channelShape(c, input.Dim())...)
		}
	}
	if target.DType().IsFloat() {
		if !sameInts(target.Shape(), input.Shape()) {
			panicOp(op, tensor.ErrShape, "input %v and probability target %v must have the same shape", input.Shape(), target.Shape())
		}
		if ignoreIndex(o.IgnoreIndex) >= 0 {
			panicOp(op, tensor.ErrShape, "ignore index %d does not apply to probability targets", *o.IgnoreIndex)
		}
		t := target
		if eps > 0 {
			t = t.MulScalar(1 - eps).AddScalar(eps / float64(c))
		}
		p := logp.Mul(t)
		if wb != nil {
			p = p.Mul(wb)
		}
		loss := p.Sum(cdim).Neg()
		switch r {
		case ReductionMean:
			n := 0.0
			if c > 0 {
				n = float64(input.Numel() / c)
			}
			return loss.Sum().DivScalar(n)
		case ReductionSum:
			return loss.Sum()
		}
		return loss
	}
	nll, wy, keep := pickTarget(op, logp, target, o.Weight, ignoreIndex(o.IgnoreIndex))
	if eps == 0 {
		switch r {
		case ReductionMean:
			return nll.Sum().Div(wy.Sum())
		case ReductionSum:
			return nll.Sum()
		}
		return nll
	}
	// the uniform part −Σ_c w_c·logp_c/C, zero where the target is ignored
	p := logp
	if wb != nil {
		p = p.Mul(wb)
	}
	smooth := p.Sum(cdim).Neg()
	smooth = tensor.Where(keep, smooth, tensor.ZerosOf(smooth.DType()).ToDevice(smooth.Device()))
	a, b := 1-eps, eps/float64(c)
	switch r {
	case ReductionMean:
		den := wy.Sum()
		return nll.Sum().MulScalar(a).Add(smooth.Sum().MulScalar(b)).Div(den)
	case ReductionSum:
		return nll.Sum().MulScalar(a).Add(smooth.Sum().MulScalar(b))
	}
	return nll.MulScalar(a).Add(smooth.MulScalar(b))
}

// CTCLossOptions are CTCLoss's options; the zero value is torch's default.
type CTCLossOptions struct {
	// Blank is the blank label (torch's default 0).
	Blank int
	// Reduction is "mean" (the default, also "": each loss divided by its
	// target length, at least 1, then averaged over the batch), "sum" or
	// "none" (the [N] losses).
	Reduction string
	// ZeroInfinity turns the infinite losses of inputs too short for
	// their targets, and their gradients, into zeros.
	ZeroInfinity bool
}

// ctcNeg stands for log 0 in the CTC recursion: finite, so that
// log-sum-exp of impossible states has a gradient of 0, not NaN.
const ctcNeg = -1e30

// CTCLoss is the connectionist temporal classification loss
// (torch.nn.functional.ctc_loss): −log of the total probability of the
// alignments of each target to its input. logProbs is [T, N, C] (or
// unbatched [T, C]) log-probabilities, usually a LogSoftmax over C;
// targets are class indices, either padded [N, S] or the N targets
// concatenated in one 1-d tensor; inputLengths and targetLengths are
// integer [N] tensors (0-d or [1] when unbatched). An input too short for
// its target has an infinite loss (see ZeroInfinity).
//
// It runs the forward (alpha) recursion with tensor ops, T steps of
// [N, 2S+1] work, so the gradient is exact and twice differentiable. The
// gradient with respect to logProbs is the mathematical one; torch's own
// differs from it by exp(logProbs) on the valid steps, a term that
// vanishes when logProbs come from a log-softmax, so the gradients with
// respect to the logits agree. A fused kernel with the beta recursion
// would save the T recorded steps.
func CTCLoss(logProbs, targets, inputLengths, targetLengths *tensor.Tensor, opt ...CTCLossOptions) *tensor.Tensor {
	const op = "ctc_loss"
	o := optOf(opt)
	r := checkReduction(op, o.Reduction, false)
	if logProbs.Dim() == 2 {
		lp := logProbs.Unsqueeze(1)
		tg := targets
		if tg.Dim() <= 1 {
			tg = tg.Reshape(1, -1)
		}
		loss := CTCLoss(lp, tg, inputLengths.Reshape(1), targetLengths.Reshape(1), CTCLossOptions{Blank: o.Blank, Reduction: r, ZeroInfinity: o.ZeroInfinity})
		if r == ReductionNone {
			return loss.Reshape()
		}
		return loss
	}
	if logProbs.Dim() != 3 || !logProbs.DType().IsFloat() {
		panicOp(op, tensor.ErrShape, "log_probs must be floating point [T, N, C] or [T, C], not %v %v", logProbs.DType(), logProbs.Shape())
	}
	tLen, n, c := logProbs.Size(0), logProbs.Size(1), logProbs.Size(2)
	if o.Blank < 0 || o.Blank >= c {
		panicOp(op, tensor.ErrIndex, "blank %d is out of range for %d classes", o.Blank, c)
	}
	ints := func(what string, t *tensor.Tensor) []int64 {
		if t.DType().IsFloat() || t.DType() == tensor.Bool || t.Dim() != 1 || t.Size(0) != n {
			panicOp(op, tensor.ErrShape, "%s must be an integer tensor of shape [%d], not %v %v", what, n, t.DType(), t.Shape())
		}
		return t.To(tensor.Int64).Int64s()
	}
	inLen, tgLen := ints("input_lengths", inputLengths), ints("target_lengths", targetLengths)
	if targets.DType().IsFloat() || targets.DType() == tensor.Bool {
		panicOp(op, tensor.ErrDType, "targets must be integers, not %v", targets.DType())
	}
	tv := targets.To(tensor.Int64).Int64s()
	// each target's labels
	labels := make([][]int64, n)
	sMax := 0
	switch targets.Dim() {
	case 2:
		if targets.Size(0) != n {
			panicOp(op, tensor.ErrShape, "padded targets %v do not fit a batch of %d", targets.Shape(), n)
		}
		s := targets.Size(1)
		for i := range labels {
			if tgLen[i] < 0 || tgLen[i] > int64(s) {
				panicOp(op, tensor.ErrShape, "target length %d is out of range for padded targets %v", tgLen[i], targets.Shape())
			}
			labels[i] = tv[i*s : i*s+int(tgLen[i])]
		}
	case 1:
		off := 0
		for i := range labels {
			if tgLen[i] < 0 || off+int(tgLen[i]) > len(tv) {
				panicOp(op, tensor.ErrShape, "target lengths %v do not fit %d concatenated targets", tgLen, len(tv))
			}
			labels[i] = tv[off : off+int(tgLen[i])]
			off += int(tgLen[i])
		}
	default:
		panicOp(op, tensor.ErrShape, "targets must be [N, S] or 1-d, not %v", targets.Shape())
	}
	for i := range labels {
		if inLen[i] < 0 || inLen[i] > int64(tLen) {
			panicOp(op, tensor.ErrShape, "input length %d is out of range for log_probs %v", inLen[i], logProbs.Shape())
		}
		for _, l := range labels[i] {
			if l < 0 || l >= int64(c) || l == int64(o.Blank) {
				panicOp(op, tensor.ErrIndex, "target label %d is out of range for %d classes or is the blank %d", l, c, o.Blank)
			}
		}
		sMax = max(sMax, len(labels[i]))
	}
	// the extended labels (blank, l1, blank, l2, …, blank), padded with blanks
	lMax := 2*sMax + 1
	ext := make([]int64, n*lMax)
	skip := make([]bool, n*lMax)  // s may be reached from s−2
	start := make([]bool, n*lMax) // s is a valid first state
	last1 := make([]int64, n)     // the two valid final states
	last2 := make([]int64, n)
	hasLast2 := make([]bool, n)
	for i, lab := range labels {
		for s := 0; s < lMax; s++ {
			ext[i*lMax+s] = int64(o.Blank)
			if s%2 == 1 && s/2 < len(lab) {
				ext[i*lMax+s] = lab[s/2]
			}
		}
		for s := 2; s < lMax; s++ {
			skip[i*lMax+s] = s%2 == 1 && ext[i*lMax+s] != ext[i*lMax+s-2]
		}
		start[i*lMax] = true
		start[i*lMax+1] = len(lab) > 0
		last1[i] = int64(2 * len(lab))
		last2[i] = int64(max(2*len(lab)-1, 0))
		hasLast2[i] = len(lab) > 0
	}
	dev := logProbs.Device()
	dt := logProbs.DType()
	neg := tensor.FullOf(dt, ctcNeg).ToDevice(dev)
	idx := tensor.FromSlice(ext, 1, n, lMax).Expand(tLen, n, lMax).Contiguous().ToDevice(dev)
	emit := logProbs.Gather(2, idx) // [T, N, L]: log y_t(l'_s)
	skipT := tensor.FromSlice(skip, n, lMax).ToDevice(dev)
	alpha := tensor.Where(tensor.FromSlice(start, n, lMax).ToDevice(dev), emit.Select(0, 0), neg)
	negCol := tensor.FullOf(dt, ctcNeg, n, 2).ToDevice(dev)
	for t := 1; t < tLen; t++ {
		a1 := tensor.Cat([]*tensor.Tensor{negCol.Narrow(1, 0, 1), alpha.Narrow(1, 0, lMax-1)}, 1)
		var a2 *tensor.Tensor
		if lMax > 2 {
			a2 = tensor.Where(skipT, tensor.Cat([]*tensor.Tensor{negCol, alpha.Narrow(1, 0, lMax-2)}, 1), neg)
		} else {
			a2 = tensor.FullOf(dt, ctcNeg, n, lMax).ToDevice(dev)
		}
		next := tensor.Stack([]*tensor.Tensor{alpha, a1, a2}, 0).LogSumExp(0).Add(emit.Select(0, t))
		active := make([]bool, n)
		for i := range active {
			active[i] = int64(t) < inLen[i]
		}
		alpha = tensor.Where(tensor.FromSlice(active, n, 1).ToDevice(dev), next, alpha)
	}
	f1 := alpha.Gather(1, tensor.FromSlice(last1, n, 1).ToDevice(dev))
	f2 := tensor.Where(tensor.FromSlice(hasLast2, n, 1).ToDevice(dev),
		alpha.Gather(1, tensor.FromSlice(last2, n, 1).ToDevice(dev)), neg)
	loss := tensor.Cat([]*tensor.Tensor{f1, f2}, 1).LogSumExp(1).Neg() // [N]
	// Impossible alignments leave the loss near −ctcNeg: they become +Inf
	// (or 0 with ZeroInfinity). An empty input aligns only an empty target,
	// with probability 1.
	lv := loss.Float64s()
	fixed := make([]bool, n)
	fill := make([]float64, n)
	anyFixed := false
	for i, v := range lv {
		switch {
		case inLen[i] == 0 && len(labels[i]) == 0:
			fixed[i] = true
		case inLen[i] == 0 || v > -ctcNeg/2:
			fixed[i], fill[i] = true, math.Inf(1)
			if o.ZeroInfinity {
				fill[i] = 0
			}
		}
		anyFixed = anyFixed || fixed[i]
	}
	if anyFixed {
		loss = tensor.Where(tensor.FromSlice(fixed).ToDevice(dev), tensor.FromSlice(fill).To(dt).ToDevice(dev), loss)
	}
	switch r {
	case ReductionMean:
		den := make([]float64, n)
		for i := range den {
			den[i] = float64(max(len(labels[i]), 1))
		}
		return loss.Div(tensor.FromSlice(den).To(dt).ToDevice(dev)).Mean()
	case ReductionSum:
		return loss.Sum()
	}
	return loss
}
