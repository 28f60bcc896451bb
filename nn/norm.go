package nn

import (
	"slices"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// NormConfig holds the options of the normalization layers; the zero value
// is torch's default.
type NormConfig struct {
	Eps      float64 // added to the variance; 0 means torch's 1e-5
	Momentum float64 // BatchNorm's running-average factor; 0 means torch's 0.1
	// CumulativeAverage makes BatchNorm's running statistics a plain
	// average over all batches seen (torch's momentum=None); Momentum is
	// then ignored.
	CumulativeAverage bool
	// NoAffine leaves out the learned weight and bias (torch's
	// affine=False for BatchNorm and GroupNorm, elementwise_affine=False
	// for LayerNorm).
	NoAffine bool
	// NoTrackRunningStats makes BatchNorm keep no running statistics and
	// normalize with the batch's statistics in eval mode too (torch's
	// track_running_stats=False).
	NoTrackRunningStats bool
}

func normConfig(cfg []NormConfig) NormConfig {
	var c NormConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if c.Eps == 0 {
		c.Eps = F.DefaultEps
	}
	if c.Momentum == 0 {
		c.Momentum = F.DefaultMomentum
	}
	return c
}

// BatchNorm is the batch normalization shared by [BatchNorm1d],
// [BatchNorm2d] and [BatchNorm3d] (torch's _BatchNorm): it normalizes each
// of the NumFeatures channels of an [N, C, *] input. In training mode it
// uses the batch's mean and biased variance, updates the running
// statistics (running = (1 − momentum)·running + momentum·batch, with the
// unbiased variance) and counts the batch in NumBatchesTracked; in eval
// mode it uses the running statistics. Weight and Bias ([C]) are nil
// with NoAffine; the three buffers are nil with NoTrackRunningStats.
// The fields' order gives torch's state-dict keys: weight, bias,
// running_mean, running_var, num_batches_tracked.
type BatchNorm struct {
	Mode
	Weight *Parameter
	Bias   *Parameter

	RunningMean       *Buffer
	RunningVar        *Buffer
	NumBatchesTracked *Buffer // Int64, 0-d

	NumFeatures       int
	Eps, Momentum     float64
	CumulativeAverage bool
}

func newBatchNorm(name string, features int, cfg []NormConfig) BatchNorm {
	if features <= 0 {
		layerPanic(name, tensor.ErrShape, "num_features must be positive, got %d", features)
	}
	c := normConfig(cfg)
	b := BatchNorm{NumFeatures: features, Eps: c.Eps, Momentum: c.Momentum, CumulativeAverage: c.CumulativeAverage}
	if !c.NoAffine {
		b.Weight = NewParameter(tensor.Ones(features))
		b.Bias = NewParameter(tensor.Zeros(features))
	}
	if !c.NoTrackRunningStats {
		b.RunningMean = NewBuffer(tensor.Zeros(features))
		b.RunningVar = NewBuffer(tensor.Ones(features))
		b.NumBatchesTracked = NewBuffer(tensor.ZerosOf(tensor.Int64))
	}
	return b
}

// ResetRunningStats sets the running mean to 0, the running variance to
// 1 and the batch count to 0.
func (b *BatchNorm) ResetRunningStats() {
	tensor.WithGradEnabled(false, func() {
		if b.RunningMean != nil {
			b.RunningMean.ZeroIn()
			b.RunningVar.FillIn(1)
			b.NumBatchesTracked.ZeroIn()
		}
	})
}

// Forward normalizes x ([N, C, *] with C = NumFeatures).
func (b *BatchNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	return b.forward("BatchNorm", x)
}

func (b *BatchNorm) forward(name string, x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() < 2 || x.Size(1) != b.NumFeatures {
		layerPanic(name, tensor.ErrShape, "input %v does not have %d channels in dim 1", x.Shape(), b.NumFeatures)
	}
	training := b.Training()
	momentum := b.Momentum
	if training && b.NumBatchesTracked != nil {
		tensor.WithGradEnabled(false, func() { b.NumBatchesTracked.AddScalarIn(1) })
		if b.CumulativeAverage {
			momentum = 1 / b.NumBatchesTracked.Item()
		}
	}
	var mean, variance *tensor.Tensor // nil without running statistics
	if b.RunningMean != nil {
		mean, variance = b.RunningMean.Tensor, b.RunningVar.Tensor
	}
	// Without running statistics, eval normalizes with the batch's too.
	useBatch := training || mean == nil
	var w, bias *tensor.Tensor
	if b.Weight != nil {
		w, bias = b.Weight.Tensor, b.Bias.Tensor
	}
	return F.BatchNorm(x, mean, variance, w, bias, useBatch, momentum, b.Eps)
}

// BatchNorm1d is batch normalization over a [N, C] or [N, C, L] input
// (torch.nn.BatchNorm1d). See [BatchNorm].
type BatchNorm1d struct {
	BatchNorm
}

// NewBatchNorm1d returns a BatchNorm1d over features channels, with
// weight 1, bias 0, running mean 0 and running variance 1.
func NewBatchNorm1d(features int, cfg ...NormConfig) *BatchNorm1d {
	return &BatchNorm1d{newBatchNorm("BatchNorm1d", features, cfg)}
}

// Forward normalizes x ([N, C] or [N, C, L]).
func (b *BatchNorm1d) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() != 2 && x.Dim() != 3 {
		layerPanic("BatchNorm1d", tensor.ErrShape, "expected 2-d or 3-d input [N, C(, L)], got %v", x.Shape())
	}
	return b.forward("BatchNorm1d", x)
}

// BatchNorm2d is batch normalization over a [N, C, H, W] input
// (torch.nn.BatchNorm2d). See [BatchNorm].
type BatchNorm2d struct {
	BatchNorm
}

// NewBatchNorm2d returns a BatchNorm2d over features channels, with
// weight 1, bias 0, running mean 0 and running variance 1.
func NewBatchNorm2d(features int, cfg ...NormConfig) *BatchNorm2d {
	return &BatchNorm2d{newBatchNorm("BatchNorm2d", features, cfg)}
}

// Forward normalizes x ([N, C, H, W]).
func (b *BatchNorm2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() != 4 {
		layerPanic("BatchNorm2d", tensor.ErrShape, "expected 4-d input [N, C, H, W], got %v", x.Shape())
	}
	return b.forward("BatchNorm2d", x)
}

// BatchNorm3d is batch normalization over a [N, C, D, H, W] input
// (torch.nn.BatchNorm3d). See [BatchNorm].
type BatchNorm3d struct {
	BatchNorm
}

// NewBatchNorm3d returns a BatchNorm3d over features channels.
func NewBatchNorm3d(features int, cfg ...NormConfig) *BatchNorm3d {
	return &BatchNorm3d{newBatchNorm("BatchNorm3d", features, cfg)}
}

// Forward normalizes x ([N, C, D, H, W]).
func (b *BatchNorm3d) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() != 5 {
		layerPanic("BatchNorm3d", tensor.ErrShape, "expected 5-d input [N, C, D, H, W], got %v", x.Shape())
	}
	return b.forward("BatchNorm3d", x)
}

// LayerNorm normalizes each sample over its last dims, which must equal
// NormalizedShape, with the biased variance, then scales by Weight and
// shifts by Bias (both of shape NormalizedShape, nil with NoAffine)
// (torch.nn.LayerNorm). Input [*, NormalizedShape…], output the same.
type LayerNorm struct {
	Weight *Parameter
	Bias   *Parameter

	NormalizedShape []int
	Eps             float64
}

// NewLayerNorm returns a LayerNorm over the trailing dims shape, with
// weight 1, bias 0 and eps 1e-5.
func NewLayerNorm(shape ...int) *LayerNorm { return NewLayerNormWith(shape) }

// NewLayerNormWith is NewLayerNorm with options: Eps and NoAffine are
// used.
func NewLayerNormWith(shape []int, cfg ...NormConfig) *LayerNorm {
	if len(shape) == 0 || slices.ContainsFunc(shape, func(s int) bool { return s <= 0 }) {
		layerPanic("LayerNorm", tensor.ErrShape, "normalized shape %v must be non-empty and positive", shape)
	}
	c := normConfig(cfg)
	l := &LayerNorm{NormalizedShape: slices.Clone(shape), Eps: c.Eps}
	if !c.NoAffine {
		l.Weight = NewParameter(tensor.Ones(shape...))
		l.Bias = NewParameter(tensor.Zeros(shape...))
	}
	return l
}

// Forward normalizes x over its last len(NormalizedShape) dims.
func (l *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	k := len(l.NormalizedShape)
	if x.Dim() < k || !slices.Equal(x.Shape()[x.Dim()-k:], l.NormalizedShape) {
		layerPanic("LayerNorm", tensor.ErrShape, "input %v does not end with normalized shape %v", x.Shape(), l.NormalizedShape)
	}
	var w, b *tensor.Tensor
	if l.Weight != nil {
		w, b = l.Weight.Tensor, l.Bias.Tensor
	}
	return F.LayerNorm(x, l.NormalizedShape, w, b, l.Eps)
}

// GroupNorm splits the NumChannels channels of an [N, C, *] input into
// NumGroups groups and normalizes each group of each sample over its
// channels and positions, then applies a per-channel Weight and Bias
// ([C], nil with NoAffine) (torch.nn.GroupNorm). Output shape = input's.
type GroupNorm struct {
	Weight *Parameter
	Bias   *Parameter

	NumGroups, NumChannels int
	Eps                    float64
}

// NewGroupNorm returns a GroupNorm of groups groups over channels
// channels, with weight 1 and bias 0; Eps and NoAffine of cfg are used.
func NewGroupNorm(groups, channels int, cfg ...NormConfig) *GroupNorm {
	if groups <= 0 || channels <= 0 || channels%groups != 0 {
		layerPanic("GroupNorm", tensor.ErrShape, "num_channels %d must be divisible by num_groups %d (both positive)", channels, groups)
	}
	c := normConfig(cfg)
	g := &GroupNorm{NumGroups: groups, NumChannels: channels, Eps: c.Eps}
	if !c.NoAffine {
		g.Weight = NewParameter(tensor.Ones(channels))
		g.Bias = NewParameter(tensor.Zeros(channels))
	}
	return g
}

// Forward normalizes x ([N, C, *] with C = NumChannels).
func (g *GroupNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() < 2 || x.Size(1) != g.NumChannels {
		layerPanic("GroupNorm", tensor.ErrShape, "input %v does not have %d channels in dim 1", x.Shape(), g.NumChannels)
	}
	var w, b *tensor.Tensor
	if g.Weight != nil {
		w, b = g.Weight.Tensor, g.Bias.Tensor
	}
	return F.GroupNorm(x, g.NumGroups, w, b, g.Eps)
}
