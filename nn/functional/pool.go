package functional

import (
	"github.com/tapir-ml/tapir/tensor"
)

// PoolOptions are the options of the pooling functions, with torch's
// meanings. Each slice has one entry per spatial dim or a single entry
// for all; nil and zero values mean torch's defaults: stride = the
// kernel, padding 0, dilation 1, floor mode, padding counted in averages,
// no divisor override.
type PoolOptions struct {
	Stride, Padding, Dilation []int
	// CeilMode keeps a last, partial window where it starts inside the
	// input or its left padding (torch's ceil_mode).
	CeilMode bool
	// ExcludePadding leaves the zero padding out of an average's count:
	// torch's count_include_pad=False. Average pooling only.
	ExcludePadding bool
	// DivisorOverride, when positive, divides every window's sum instead
	// of its size. Average pooling only.
	DivisorOverride int
}

func poolOpts(op string, opt []PoolOptions, max bool) PoolOptions {
	var o PoolOptions
	if len(opt) > 0 {
		o = opt[0]
	}
	if max && (o.ExcludePadding || o.DivisorOverride != 0) {
		spatialFail(op, tensor.ErrShape, "ExcludePadding and DivisorOverride apply to average pooling only")
	}
	if o.DivisorOverride < 0 {
		spatialFail(op, tensor.ErrShape, "divisor override must be positive, not %d", o.DivisorOverride)
	}
	return o
}

// MaxPool1d is max pooling over the last dim of x, [N, C, L] or
// unbatched [C, L], as torch.nn.functional.max_pool1d. Taps in the
// padding count as −∞; padding may be at most half the kernel.
func MaxPool1d(x *tensor.Tensor, kernel []int, opt ...PoolOptions) *tensor.Tensor {
	v, _ := maxPoolNd("max_pool1d", 1, x, kernel, opt)
	return v
}

// MaxPool2d is max pooling over the last two dims of x, [N, C, H, W] or
// unbatched [C, H, W], as torch.nn.functional.max_pool2d. Taps in the
// padding count as −∞; padding may be at most half the kernel; NaN
// propagates. The gradient goes to the maximum of each window.
func MaxPool2d(x *tensor.Tensor, kernel []int, opt ...PoolOptions) *tensor.Tensor {
	v, _ := maxPoolNd("max_pool2d", 2, x, kernel, opt)
	return v
}

// MaxPool1dWithIndices is MaxPool1d that also returns, as torch's
// return_indices=True, the position (Int64) of each maximum along the
// last dim of x.
func MaxPool1dWithIndices(x *tensor.Tensor, kernel []int, opt ...PoolOptions) (values, indices *tensor.Tensor) {
	return maxPoolNd("max_pool1d", 1, x, kernel, opt)
}

// MaxPool2dWithIndices is MaxPool2d that also returns, as torch's
// return_indices=True, the position (Int64) of each maximum within its
// H×W plane, row-major.
func MaxPool2dWithIndices(x *tensor.Tensor, kernel []int, opt ...PoolOptions) (values, indices *tensor.Tensor) {
	return maxPoolNd("max_pool2d", 2, x, kernel, opt)
}

func maxPoolNd(op string, nsp int, x *tensor.Tensor, kernel []int, opt []PoolOptions) (values, indices *tensor.Tensor) {
	o := poolOpts(op, opt, true)
	x, unb := spatialBatch(op, x, nsp)
	k := spatialArg(op, "kernel", kernel, nsp, 0, 1)
	v, i := tensor.MaxPool(x, k, o.Stride, o.Padding, o.Dilation, o.CeilMode)
	return unbatch(v, unb), unbatch(i, unb)
}

// poolOut is torch's pooling output size: floor mode, or ceil mode that
// drops a last window starting in the right padding.
func poolOut(n, k, s, p int, ceil bool) int {
	num := n + 2*p - k
	if ceil {
		num += s - 1
	}
	if num < 0 {
		return 0
	}
	o := num/s + 1
	if ceil && (o-1)*s >= n+p {
		o--
	}
	return o
}

// AvgPool1d is average pooling over the last dim of x, [N, C, L] or
// unbatched [C, L], as torch.nn.functional.avg_pool1d.
func AvgPool1d(x *tensor.Tensor, kernel []int, opt ...PoolOptions) *tensor.Tensor {
	return avgPoolNd("avg_pool1d", 1, x, kernel, opt)
}

// AvgPool2d is average pooling over the last two dims of x, [N, C, H, W]
// or unbatched [C, H, W], as torch.nn.functional.avg_pool2d: each window's
// sum divided by its size counting the zero padding (but not what a ceil
// mode window hangs past it), by the taps inside the input when
// ExcludePadding is set, or by DivisorOverride when positive.
func AvgPool2d(x *tensor.Tensor, kernel []int, opt ...PoolOptions) *tensor.Tensor {
	return avgPoolNd("avg_pool2d", 2, x, kernel, opt)
}

// AvgPool3d is average pooling over the last three dims of x,
// [N, C, D, H, W] or unbatched [C, D, H, W], as
// torch.nn.functional.avg_pool3d, with AvgPool2d's divisors.
func AvgPool3d(x *tensor.Tensor, kernel []int, opt ...PoolOptions) *tensor.Tensor {
	return avgPoolNd("avg_pool3d", 3, x, kernel, opt)
}

// avgPoolNd checks the arguments, naming op, and pools with
// tensor.AvgPool: one pass forward and backward on the CPU.
func avgPoolNd(op string, nsp int, x *tensor.Tensor, kernel []int, opt []PoolOptions) *tensor.Tensor {
	o := poolOpts(op, opt, false)
	shape := x.Shape() // as the caller passed it, for the messages
	x, unb := spatialBatch(op, x, nsp)
	if !x.DType().IsFloat() {
		spatialFail(op, tensor.ErrDType, "%v input is not supported; convert it to a floating type", x.DType())
	}
	k := spatialArg(op, "kernel", kernel, nsp, 0, 1)
	stride := k
	if len(o.Stride) > 0 {
		stride = spatialArg(op, "stride", o.Stride, nsp, 0, 1)
	}
	pad := spatialArg(op, "padding", o.Padding, nsp, 0, 0)
	for _, d := range spatialArg(op, "dilation", o.Dilation, nsp, 1, 1) {
		if d != 1 {
			spatialFail(op, tensor.ErrShape, "average pooling has no dilation (got %v)", o.Dilation)
		}
	}
	xs := x.Shape()
	for d := 0; d < nsp; d++ {
		n := xs[2+d]
		if 2*pad[d] > k[d] {
			spatialFail(op, tensor.ErrShape, "padding %v must be at most half the kernel %v", pad, k)
		}
		if n < 1 || poolOut(n, k[d], stride[d], pad[d], o.CeilMode) < 1 {
			spatialFail(op, tensor.ErrShape, "input of shape %v is too small for the kernel %v with padding %v", shape, k, pad)
		}
	}
	y := tensor.AvgPool(x, k, tensor.AvgPoolOptions{Stride: stride, Padding: pad, CeilMode: o.CeilMode,
		ExcludePadding: o.ExcludePadding, DivisorOverride: o.DivisorOverride})
	return unbatch(y, unb)
}

// AdaptiveAvgPool1d averages x, [N, C, L] or unbatched [C, L], over out
// bins along its last dim, as torch.nn.functional.adaptive_avg_pool1d:
// bin i covers [⌊i·L/out⌋, ⌈(i+1)·L/out⌉). out 0 keeps L.
func AdaptiveAvgPool1d(x *tensor.Tensor, out int) *tensor.Tensor {
	return adaptiveAvgPoolNd("adaptive_avg_pool1d", x, out)
}

// AdaptiveAvgPool2d averages x, [N, C, H, W] or unbatched [C, H, W], over
// an outH×outW grid of bins, as torch.nn.functional.adaptive_avg_pool2d:
// bin (i, j) covers rows [⌊i·H/outH⌋, ⌈(i+1)·H/outH⌉) and the columns
// likewise, so bins may overlap when the sizes do not divide. A size of 0
// keeps the input's (torch's None).
func AdaptiveAvgPool2d(x *tensor.Tensor, outH, outW int) *tensor.Tensor {
	return adaptiveAvgPoolNd("adaptive_avg_pool2d", x, outH, outW)
}

// AdaptiveAvgPool3d averages x, [N, C, D, H, W] or unbatched
// [C, D, H, W], over an outD×outH×outW grid of bins, as
// torch.nn.functional.adaptive_avg_pool3d, with AdaptiveAvgPool2d's
// bins along each dim. A size of 0 keeps the input's.
func AdaptiveAvgPool3d(x *tensor.Tensor, outD, outH, outW int) *tensor.Tensor {
	return adaptiveAvgPoolNd("adaptive_avg_pool3d", x, outD, outH, outW)
}

// adaptiveAvgPoolNd checks the arguments, naming op, resolves sizes of 0
// to the input's, and pools with tensor.AdaptiveAvgPool: one pass
// forward and backward on the CPU.
func adaptiveAvgPoolNd(op string, x *tensor.Tensor, out ...int) *tensor.Tensor {
	nsp := len(out)
	shape := x.Shape() // as the caller passed it, for the messages
	x, unb := spatialBatch(op, x, nsp)
	if !x.DType().IsFloat() {
		spatialFail(op, tensor.ErrDType, "%v input is not supported; convert it to a floating type", x.DType())
	}
	size := make([]int, nsp)
	for d, o := range out {
		n := x.Size(2 + d)
		if o == 0 {
			o = n
		}
		if o < 0 || n < 1 {
			spatialFail(op, tensor.ErrShape, "input of shape %v to output size %d: sizes must be positive", shape, o)
		}
		size[d] = o
	}
	return unbatch(tensor.AdaptiveAvgPool(x, size), unb)
}
