package nn

import (
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// PoolConfig holds the options of the pooling layers; the zero value is
// torch's default (stride = kernel size, no padding, dilation 1, floor
// rounding, padding counted in averages). The int fields apply to every
// spatial dim; a non-nil …Dims slice overrides its int field.
type PoolConfig struct {
	Stride   int // 0 means the kernel size
	Padding  int // implicit padding (−∞ for max, 0 for average); at most half the kernel
	Dilation int // MaxPool only; 0 means 1
	CeilMode bool
	// ExcludePadding leaves padded positions out of an average's divisor
	// (torch's count_include_pad=False). AvgPool only.
	ExcludePadding bool
	// DivisorOverride, when not 0, divides every window's sum. AvgPool only.
	DivisorOverride int

	// Per-dimension overrides, one value per spatial dim, as torch's
	// tuple arguments: KernelDims replaces the kernel argument, the others
	// their int fields.
	KernelDims, StrideDims, PaddingDims, DilationDims []int
}

func poolConfig(cfg []PoolConfig) PoolConfig {
	if len(cfg) > 0 {
		return cfg[0]
	}
	return PoolConfig{}
}

// poolGeom expands the kernel and config to nd spatial dims.
func poolGeom(layer string, nd, kernel int, c PoolConfig) (k, s, p, d []int) {
	k = dims(layer, "kernel size", kernel, c.KernelDims, nd, 0)
	s = dims(layer, "stride", c.Stride, c.StrideDims, nd, 0)
	if c.Stride == 0 && c.StrideDims == nil {
		s = append([]int(nil), k...)
	}
	p = dims(layer, "padding", c.Padding, c.PaddingDims, nd, 0)
	d = dims(layer, "dilation", c.Dilation, c.DilationDims, nd, 1)
	for i := range nd {
		if k[i] <= 0 || s[i] <= 0 || d[i] <= 0 || p[i] < 0 {
			layerPanic(layer, tensor.ErrShape, "kernel %v, stride %v and dilation %v must be positive and padding %v non-negative", k, s, d, p)
		}
		if 2*p[i] > k[i] {
			layerPanic(layer, tensor.ErrShape, "padding %v must be at most half the kernel size %v", p, k)
		}
	}
	return
}

// checkPoolInput panics unless x is [N, C, spatial…] or [C, spatial…].
func checkPoolInput(layer string, x *tensor.Tensor, nd int) {
	if x.Dim() != nd+1 && x.Dim() != nd+2 {
		layerPanic(layer, tensor.ErrShape, "input %v must be [N, C, %s] or [C, %s]", x.Shape(), spatialNames(nd), spatialNames(nd))
	}
}

// MaxPool1d takes the maximum over sliding windows of a [N, C, L] (or
// [C, L]) input (torch.nn.MaxPool1d); output [N, C, L_out] with L_out =
// ⌊(L + 2·padding − dilation·(k−1) − 1)/stride⌋ + 1 (⌈⌉ with CeilMode).
type MaxPool1d struct {
	KernelSize, Stride, Padding, Dilation []int
	CeilMode                              bool
}

// NewMaxPool1d returns a MaxPool1d with window kernel.
func NewMaxPool1d(kernel int, cfg ...PoolConfig) *MaxPool1d {
	c := poolConfig(cfg)
	k, s, p, d := poolGeom("MaxPool1d", 1, kernel, c)
	return &MaxPool1d{KernelSize: k, Stride: s, Padding: p, Dilation: d, CeilMode: c.CeilMode}
}

// Forward max-pools x.
func (m *MaxPool1d) Forward(x *tensor.Tensor) *tensor.Tensor {
	checkPoolInput("MaxPool1d", x, 1)
	return F.MaxPool1d(x, m.KernelSize, F.PoolOptions{Stride: m.Stride, Padding: m.Padding, Dilation: m.Dilation, CeilMode: m.CeilMode})
}

// MaxPool2d takes the maximum over sliding windows of a [N, C, H, W] (or
// [C, H, W]) input (torch.nn.MaxPool2d); output [N, C, H_out, W_out]
// with H_out = ⌊(H + 2·padding − dilation·(kH−1) − 1)/stride⌋ + 1 (⌈⌉
// with CeilMode), likewise W_out.
type MaxPool2d struct {
	KernelSize, Stride, Padding, Dilation []int // [H, W] each
	CeilMode                              bool
}

// NewMaxPool2d returns a MaxPool2d with a kernel×kernel window.
func NewMaxPool2d(kernel int, cfg ...PoolConfig) *MaxPool2d {
	c := poolConfig(cfg)
	k, s, p, d := poolGeom("MaxPool2d", 2, kernel, c)
	return &MaxPool2d{KernelSize: k, Stride: s, Padding: p, Dilation: d, CeilMode: c.CeilMode}
}

// Forward max-pools x.
func (m *MaxPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	checkPoolInput("MaxPool2d", x, 2)
	return F.MaxPool2d(x, m.KernelSize, F.PoolOptions{Stride: m.Stride, Padding: m.Padding, Dilation: m.Dilation, CeilMode: m.CeilMode})
}

// AvgPool2d averages over sliding windows of a [N, C, H, W] (or
// [C, H, W]) input (torch.nn.AvgPool2d); output size as [MaxPool2d]'s
// with dilation 1. Padded zeros count in the divisor unless
// ExcludePadding; DivisorOverride, when not 0, replaces the divisor.
type AvgPool2d struct {
	KernelSize, Stride, Padding []int // [H, W] each
	CeilMode                    bool
	ExcludePadding              bool
	DivisorOverride             int
}

// NewAvgPool2d returns an AvgPool2d with a kernel×kernel window.
func NewAvgPool2d(kernel int, cfg ...PoolConfig) *AvgPool2d {
	c := poolConfig(cfg)
	if c.Dilation > 1 || c.DilationDims != nil {
		layerPanic("AvgPool2d", tensor.ErrShape, "average pooling has no dilation")
	}
	if c.DivisorOverride < 0 {
		layerPanic("AvgPool2d", tensor.ErrShape, "divisor override %d must be positive", c.DivisorOverride)
	}
	k, s, p, _ := poolGeom("AvgPool2d", 2, kernel, c)
	return &AvgPool2d{KernelSize: k, Stride: s, Padding: p, CeilMode: c.CeilMode, ExcludePadding: c.ExcludePadding, DivisorOverride: c.DivisorOverride}
}

// Forward average-pools x.
func (a *AvgPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	checkPoolInput("AvgPool2d", x, 2)
	return F.AvgPool2d(x, a.KernelSize, F.PoolOptions{Stride: a.Stride, Padding: a.Padding, CeilMode: a.CeilMode,
		ExcludePadding: a.ExcludePadding, DivisorOverride: a.DivisorOverride})
}

// AdaptiveAvgPool2d averages a [N, C, H, W] (or [C, H, W]) input down to
// [N, C, OutputH, OutputW] whatever H and W are, with windows
// [⌊i·H/outH⌋, ⌈(i+1)·H/outH⌉) (torch.nn.AdaptiveAvgPool2d). An output
// size of 0 keeps that input dim (torch's None).
type AdaptiveAvgPool2d struct {
	OutputH, OutputW int
}

// NewAdaptiveAvgPool2d returns an AdaptiveAvgPool2d to h×w; (1, 1) is
// global average pooling.
func NewAdaptiveAvgPool2d(h, w int) *AdaptiveAvgPool2d {
	if h < 0 || w < 0 {
		layerPanic("AdaptiveAvgPool2d", tensor.ErrShape, "output size [%d %d] must not be negative", h, w)
	}
	return &AdaptiveAvgPool2d{OutputH: h, OutputW: w}
}

// Forward pools x to the output size.
func (a *AdaptiveAvgPool2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	checkPoolInput("AdaptiveAvgPool2d", x, 2)
	h, w := a.OutputH, a.OutputW
	if h == 0 {
		h = x.Size(-2)
	}
	if w == 0 {
		w = x.Size(-1)
	}
	return F.AdaptiveAvgPool2d(x, h, w)
}
