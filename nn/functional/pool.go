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

func avgPoolNd(op string, nsp int, x *tensor.Tensor, kernel []int, opt []PoolOptions) *tensor.Tensor {
	o := poolOpts(op, opt, false)
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
	out := make([]int, nsp)
	extra := make([]int, 2*nsp) // Pad's list (last dim first) for ceil mode's overhang
	// per dim, the divisor of each window position
	divs := make([][]float64, nsp)
	for d := 0; d < nsp; d++ {
		n := xs[2+d]
		if 2*pad[d] > k[d] {
			spatialFail(op, tensor.ErrShape, "padding %v must be at most half the kernel %v", pad, k)
		}
		out[d] = poolOut(n, k[d], stride[d], pad[d], o.CeilMode)
		if n < 1 || out[d] < 1 {
			spatialFail(op, tensor.ErrShape, "input of shape %v is too small for the kernel %v with padding %v", xs, k, pad)
		}
		extra[2*(nsp-1-d)+1] = max(0, (out[d]-1)*stride[d]+k[d]-n-2*pad[d])
		divs[d] = make([]float64, out[d])
		for i := range divs[d] {
			start := i*stride[d] - pad[d]
			end := min(start+k[d], n+pad[d])
			size := end - start
			if o.ExcludePadding {
				size = min(end, n) - max(start, 0)
			}
			divs[d][i] = float64(size)
		}
	}
	// the divisors of the whole output grid, row-major
	div := []float64{1}
	for d := 0; d < nsp; d++ {
		next := make([]float64, 0, len(div)*out[d])
		for _, a := range div {
			for _, b := range divs[d] {
				next = append(next, a*b)
			}
		}
		div = next
	}
	if o.DivisorOverride > 0 {
		for i := range div {
			div[i] = float64(o.DivisorOverride)
		}
	}
	xp := Pad(x, extra, "constant", 0)
	cols := tensor.Unfold(xp, k, nil, pad, stride) // [N, C·K, L]
	n, c, l := xs[0], xs[1], len(div)
	kk := cols.Size(1) / max(c, 1)
	sums := cols.Reshape(n, c, kk, l).Sum(2)
	divisor := tensor.FromSlice(div).To(x.DType()).ToDevice(x.Device())
	y := sums.Div(divisor).Reshape(append([]int{n, c}, out...)...)
	return unbatch(y, unb)
}

// AdaptiveAvgPool1d averages x, [N, C, L] or unbatched [C, L], over out
// bins along its last dim, as torch.nn.functional.adaptive_avg_pool1d:
// bin i covers [⌊i·L/out⌋, ⌈(i+1)·L/out⌉). out 0 keeps L.
func AdaptiveAvgPool1d(x *tensor.Tensor, out int) *tensor.Tensor {
	const op = "adaptive_avg_pool1d"
	x, unb := spatialBatch(op, x, 1)
	a := adaptiveMatrix(op, x, x.Size(2), out)
	return unbatch(x.MatMul(a.T()), unb)
}

// AdaptiveAvgPool2d averages x, [N, C, H, W] or unbatched [C, H, W], over
// an outH×outW grid of bins, as torch.nn.functional.adaptive_avg_pool2d:
// bin (i, j) covers rows [⌊i·H/outH⌋, ⌈(i+1)·H/outH⌉) and the columns
// likewise, so bins may overlap when the sizes do not divide. A size of 0
// keeps the input's (torch's None).
func AdaptiveAvgPool2d(x *tensor.Tensor, outH, outW int) *tensor.Tensor {
	const op = "adaptive_avg_pool2d"
	x, unb := spatialBatch(op, x, 2)
	ah := adaptiveMatrix(op, x, x.Size(2), outH)
	aw := adaptiveMatrix(op, x, x.Size(3), outW)
	// the average over a rectangle is the row average of column averages
	return unbatch(ah.MatMul(x.MatMul(aw.T())), unb)
}

// adaptiveMatrix is the [out, n] matrix whose row i averages bin i of a
// dim of size n.
func adaptiveMatrix(op string, x *tensor.Tensor, n, out int) *tensor.Tensor {
	if !x.DType().IsFloat() {
		spatialFail(op, tensor.ErrDType, "%v input is not supported; convert it to a floating type", x.DType())
	}
	if out == 0 {
		out = n
	}
	if out < 0 || n < 1 {
		spatialFail(op, tensor.ErrShape, "input of shape %v to output size %d: sizes must be positive", x.Shape(), out)
	}
	m := make([]float64, out*n)
	for i := 0; i < out; i++ {
		start := i * n / out
		end := ((i+1)*n + out - 1) / out
		for j := start; j < end; j++ {
			m[i*n+j] = 1 / float64(end-start)
		}
	}
	return tensor.FromSlice(m, out, n).To(x.DType()).ToDevice(x.Device())
}
