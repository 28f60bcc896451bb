package functional

import (
	"github.com/tapir-ml/tapir/tensor"
)

// Torch's defaults for the normalization layers.
const (
	// DefaultMomentum is torch's BatchNorm momentum (0.1).
	DefaultMomentum = 0.1
	// DefaultEps is torch's eps for BatchNorm, LayerNorm and GroupNorm (1e-5).
	DefaultEps = 1e-5
)

// channelShape is [1, c, 1, …] with rank dims: how a per-channel vector
// broadcasts against an [N, C, *] tensor.
func channelShape(c, rank int) []int {
	sh := make([]int, rank)
	for i := range sh {
		sh[i] = 1
	}
	sh[1] = c
	return sh
}

// checkVec panics unless t is nil or a 1-d tensor of n elements.
func checkVec(op, what string, t *tensor.Tensor, n int, x *tensor.Tensor) {
	if t != nil && (t.Dim() != 1 || t.Size(0) != n) {
		panicOp(op, tensor.ErrShape, "%s of shape %v does not fit input %v: want [%d]", what, t.Shape(), x.Shape(), n)
	}
}

// BatchNorm normalizes x ([N, C], [N, C, L], [N, C, H, W], … ) per channel
// C (torch.nn.functional.batch_norm): (x − mean)/√(var + eps)·weight + bias,
// where weight and bias ([C]) may be nil.
//
// When training is true the statistics are the batch's, over every dim but
// 1, with the biased variance; runningMean and runningVar ([C], or nil)
// are then updated in place, outside the graph, as
// running = (1 − momentum)·running + momentum·batch, with the unbiased
// variance. When training is false the running statistics are used and
// must be given. Torch's defaults are momentum 0.1 and eps 1e-5
// (DefaultMomentum, DefaultEps).
func BatchNorm(x, runningMean, runningVar, weight, bias *tensor.Tensor, training bool, momentum, eps float64) *tensor.Tensor {
	const op = "batch_norm"
	if x.Dim() < 2 {
		panicOp(op, tensor.ErrShape, "input %v must be at least 2-d [N, C, *]", x.Shape())
	}
	c := x.Size(1)
	checkVec(op, "running_mean", runningMean, c, x)
	checkVec(op, "running_var", runningVar, c, x)
	checkVec(op, "weight", weight, c, x)
	checkVec(op, "bias", bias, c, x)
	cs := channelShape(c, x.Dim())
	var mean, variance *tensor.Tensor
	if training {
		dims := []int{0}
		for d := 2; d < x.Dim(); d++ {
			dims = append(dims, d)
		}
		n := x.Numel() / max(c, 1)
		if n <= 1 {
			panicOp(op, tensor.ErrShape, "expected more than 1 value per channel when training, got input %v", x.Shape())
		}
		mean = x.MeanKeepDim(dims...)
		variance = x.VarOpt(dims, 0, true)
		tensor.WithGradEnabled(false, func() {
			if runningMean != nil {
				m := mean.Detach().Reshape(c).To(runningMean.DType()).ToDevice(runningMean.Device())
				runningMean.MulScalarIn(1-momentum).AddScaledIn(m, momentum)
			}
			if runningVar != nil {
				v := variance.Detach().Reshape(c).MulScalar(float64(n) / float64(n-1))
				v = v.To(runningVar.DType()).ToDevice(runningVar.Device())
				runningVar.MulScalarIn(1-momentum).AddScaledIn(v, momentum)
			}
		})
	} else {
		if runningMean == nil || runningVar == nil {
			panicOp(op, tensor.ErrShape, "running_mean and running_var must be given when not training (input %v)", x.Shape())
		}
		mean = runningMean.To(x.DType()).Reshape(cs...)
		variance = runningVar.To(x.DType()).Reshape(cs...)
	}
	y := x.Sub(mean).Mul(variance.AddScalar(eps).Rsqrt())
	return affine(y, weight, bias, cs)
}

// affine is y·weight + bias with weight and bias (either may be nil)
// reshaped to shape.
func affine(y, weight, bias *tensor.Tensor, shape []int) *tensor.Tensor {
	if weight != nil {
		y = y.Mul(weight.Reshape(shape...))
	}
	if bias != nil {
		y = y.Add(bias.Reshape(shape...))
	}
	return y
}

// LayerNorm normalizes x over its last len(normalizedShape) dims, which
// must equal normalizedShape (torch.nn.functional.layer_norm):
// (x − mean)/√(var + eps)·weight + bias with the biased variance; weight
// and bias have shape normalizedShape or are nil. Torch's eps is 1e-5.
func LayerNorm(x *tensor.Tensor, normalizedShape []int, weight, bias *tensor.Tensor, eps float64) *tensor.Tensor {
	const op = "layer_norm"
	k := len(normalizedShape)
	if k == 0 || x.Dim() < k || !sameInts(x.Shape()[x.Dim()-k:], normalizedShape) {
		panicOp(op, tensor.ErrShape, "input %v does not end with normalized shape %v", x.Shape(), normalizedShape)
	}
	for _, p := range []struct {
		what string
		t    *tensor.Tensor
	}{{"weight", weight}, {"bias", bias}} {
		if p.t != nil && !sameInts(p.t.Shape(), normalizedShape) {
			panicOp(op, tensor.ErrShape, "%s of shape %v does not match normalized shape %v", p.what, p.t.Shape(), normalizedShape)
		}
	}
	return tensor.LayerNorm(x, k, weight, bias, eps)
}

// GroupNorm splits the C channels of x ([N, C, *]) into groups of
// C/groups and normalizes each group of each sample over its channels and
// spatial positions (torch.nn.functional.group_norm), with the biased
// variance, then applies the per-channel weight and bias ([C], or nil).
// Torch's eps is 1e-5.
func GroupNorm(x *tensor.Tensor, groups int, weight, bias *tensor.Tensor, eps float64) *tensor.Tensor {
	const op = "group_norm"
	if x.Dim() < 2 {
		panicOp(op, tensor.ErrShape, "input %v must be at least 2-d [N, C, *]", x.Shape())
	}
	c := x.Size(1)
	if groups <= 0 || c%groups != 0 {
		panicOp(op, tensor.ErrShape, "%d channels of input %v do not split into %d groups", c, x.Shape(), groups)
	}
	checkVec(op, "weight", weight, c, x)
	checkVec(op, "bias", bias, c, x)
	// each group of each sample is a row of [N, groups, rest], normalized
	// as a layer norm's (a fused backward when recorded; without gradients
	// the per-channel affine is applied in the same pass)
	return tensor.GroupNorm(x, groups, weight, bias, eps)
}
