package functional

import (
	"fmt"

	"github.com/tapir-ml/tapir/tensor"
)

// Convolutions are an Unfold (im2col) of the input followed by one
// (batched) matrix product with the weight, which tensor.Conv runs (a 1×1
// convolution with stride 1 and no padding is the product alone);
// transposed convolutions are the product with the transposed weight
// followed by a Fold (col2im). Both primitives are linear and each
// other's adjoint, so gradients of every order flow through them.

// spatialFail panics with a *tensor.Error for op, as package tensor's own
// ops do, so that tensor.Try recovers it.
func spatialFail(op string, kind error, format string, args ...any) {
	panic(&tensor.Error{Op: op, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// spatialArg expands a per-spatial-dim option to n entries: nil gives
// def, a single value applies to every dim. Entries below lo fail.
func spatialArg(op, name string, v []int, n, def, lo int) []int {
	out := make([]int, n)
	switch len(v) {
	case 0:
		for i := range out {
			out[i] = def
		}
	case 1:
		for i := range out {
			out[i] = v[0]
		}
	case n:
		copy(out, v)
	default:
		spatialFail(op, tensor.ErrShape, "%s %v has %d entries for %d spatial dims", name, v, len(v), n)
	}
	for _, x := range out {
		if x < lo {
			spatialFail(op, tensor.ErrShape, "%s %v must be at least %d", name, v, lo)
		}
	}
	return out
}

// spatialBatch checks that x has nsp spatial dims after a channel dim,
// with or without a batch dim, and returns it batched; unbatched reports
// whether a batch dim was added.
func spatialBatch(op string, x *tensor.Tensor, nsp int) (xb *tensor.Tensor, unbatched bool) {
	switch x.Dim() {
	case nsp + 2:
		return x, false
	case nsp + 1:
		return x.Unsqueeze(0), true
	}
	spatialFail(op, tensor.ErrShape, "expected a %d-d (unbatched) or %d-d (batched) input, got shape %v", nsp+1, nsp+2, x.Shape())
	return nil, false
}

func unbatch(y *tensor.Tensor, unbatched bool) *tensor.Tensor {
	if unbatched {
		return y.Squeeze(0)
	}
	return y
}

// ConvOptions are the options of Conv1d and Conv2d. Each slice has one
// entry per spatial dim, or a single entry for every spatial dim; nil and
// 0 mean torch's defaults (stride 1, padding 0, dilation 1, one group).
type ConvOptions struct {
	Stride, Padding, Dilation []int
	Groups                    int
	// Same is torch's padding="same": the output has the input's spatial
	// size. It needs stride 1; when the total padding of a dim is odd, the
	// extra element goes on the right (bottom), as in torch.
	Same bool
}

// Conv1d is the 1-d convolution (cross-correlation) of x, [N, Cin, W] or
// unbatched [Cin, W], with weight, [Cout, Cin/groups, k], plus bias [Cout]
// (nil for none), as torch.nn.functional.conv1d.
func Conv1d(x, weight, bias *tensor.Tensor, opt ...ConvOptions) *tensor.Tensor {
	return convNd("conv1d", 1, x, weight, bias, opt)
}

// Conv2d is the 2-d convolution (cross-correlation) of x, [N, Cin, H, W]
// or unbatched [Cin, H, W], with weight, [Cout, Cin/groups, kh, kw], plus
// bias [Cout] (nil for none), as torch.nn.functional.conv2d. Groups split
// the channels: each group of Cin/groups input channels makes Cout/groups
// output channels (groups = Cin is a depthwise convolution).
func Conv2d(x, weight, bias *tensor.Tensor, opt ...ConvOptions) *tensor.Tensor {
	return convNd("conv2d", 2, x, weight, bias, opt)
}

func convWeightCheck(op string, x, weight, bias *tensor.Tensor, nsp int) {
	if weight.Dim() != nsp+2 {
		spatialFail(op, tensor.ErrShape, "weight of shape %v must be %d-d [out channels, in channels/groups, kernel…]", weight.Shape(), nsp+2)
	}
	if x.DType() != weight.DType() {
		spatialFail(op, tensor.ErrDType, "input (%v) and weight (%v) have different dtypes", x.DType(), weight.DType())
	}
	if !x.DType().IsFloat() {
		spatialFail(op, tensor.ErrDType, "%v input is not supported; convert it to a floating type", x.DType())
	}
	if bias != nil && bias.DType() != x.DType() {
		spatialFail(op, tensor.ErrDType, "input (%v) and bias (%v) have different dtypes", x.DType(), bias.DType())
	}
}

func addBias(op string, y, bias *tensor.Tensor, cout, nsp int) *tensor.Tensor {
	if bias == nil {
		return y
	}
	if bias.Dim() != 1 || bias.Size(0) != cout {
		spatialFail(op, tensor.ErrShape, "bias of shape %v for %d output channels (want [%d])", bias.Shape(), cout, cout)
	}
	sh := []int{cout}
	for i := 0; i < nsp; i++ {
		sh = append(sh, 1)
	}
	return y.Add(bias.Reshape(sh...))
}

func convNd(op string, nsp int, x, weight, bias *tensor.Tensor, opts []ConvOptions) *tensor.Tensor {
	var o ConvOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	x, unb := spatialBatch(op, x, nsp)
	convWeightCheck(op, x, weight, bias, nsp)
	groups := o.Groups
	if groups == 0 {
		groups = 1
	}
	if groups < 0 {
		spatialFail(op, tensor.ErrShape, "groups must be positive, not %d", groups)
	}
	ws := weight.Shape()
	n, cin, cout := x.Size(0), x.Size(1), ws[0]
	if cout%groups != 0 {
		spatialFail(op, tensor.ErrShape, "weight of shape %v: %d output channels are not divisible by %d groups", ws, cout, groups)
	}
	if cin != ws[1]*groups {
		spatialFail(op, tensor.ErrShape, "input of shape %v has %d channels, but weight of shape %v with %d groups expects %d", x.Shape(), cin, ws, groups, ws[1]*groups)
	}
	kernel := ws[2:]
	stride := spatialArg(op, "stride", o.Stride, nsp, 1, 1)
	dil := spatialArg(op, "dilation", o.Dilation, nsp, 1, 1)
	var pad []int
	if o.Same {
		if len(o.Padding) > 0 {
			spatialFail(op, tensor.ErrShape, "padding %v given with Same", o.Padding)
		}
		for _, s := range stride {
			if s != 1 {
				spatialFail(op, tensor.ErrShape, "Same padding needs stride 1, not %v", stride)
			}
		}
		// total padding dil·(k−1) per dim: half on each side, the odd
		// element on the right
		pad = make([]int, nsp)
		var extra []int // Pad's list: last dim first
		odd := false
		for d := nsp - 1; d >= 0; d-- {
			total := dil[d] * (kernel[d] - 1)
			pad[d] = total / 2
			extra = append(extra, 0, total%2)
			odd = odd || total%2 == 1
		}
		if odd {
			x = Pad(x, extra, "constant", 0)
		}
	} else {
		pad = spatialArg(op, "padding", o.Padding, nsp, 0, 0)
	}
	xs := x.Shape()
	out := make([]int, nsp)
	pointwise := true
	for d := 0; d < nsp; d++ {
		span := dil[d]*(kernel[d]-1) + 1
		if xs[2+d]+2*pad[d] < span {
			spatialFail(op, tensor.ErrShape, "input of shape %v padded by %v is smaller than the kernel %v with dilation %v", xs, pad, kernel, dil)
		}
		out[d] = (xs[2+d]+2*pad[d]-span)/stride[d] + 1
		pointwise = pointwise && kernel[d] == 1 && stride[d] == 1 && pad[d] == 0
	}
	l := 1
	for _, s := range out {
		l *= s
	}
	k := 1
	for _, s := range kernel {
		k *= s
	}
	if !pointwise {
		// the backend's convolution where it has one, Unfold and MatMul
		// otherwise (tensor.Conv)
		y := tensor.Conv(x, weight, stride, pad, dil, groups)
		return unbatch(addBias(op, y, bias, cout, nsp), unb)
	}
	cols := x.Reshape(n, cin, l) // a 1×1 convolution needs no im2col
	var y *tensor.Tensor
	if groups == 1 {
		y = weight.Reshape(cout, cin*k).MatMul(cols) // [N, Cout, L]
	} else {
		w := weight.Reshape(groups, cout/groups, cin/groups*k)
		y = w.MatMul(cols.Reshape(n, groups, cin/groups*k, l)) // [N, G, Cout/G, L]
	}
	y = y.Reshape(append([]int{n, cout}, out...)...)
	return unbatch(addBias(op, y, bias, cout, nsp), unb)
}

// ConvTransposeOptions are the options of ConvTranspose1d and
// ConvTranspose2d, with torch's meanings; each slice has one entry per
// spatial dim or a single entry for all, and nil and 0 mean torch's
// defaults (stride 1, padding 0, output padding 0, dilation 1, one group).
type ConvTransposeOptions struct {
	Stride, Padding, OutputPadding, Dilation []int
	Groups                                   int
}

// ConvTranspose1d is the transposed 1-d convolution (the gradient of
// Conv1d with respect to its input) of x, [N, Cin, W] or unbatched
// [Cin, W], with weight, [Cin, Cout/groups, k], plus bias [Cout] (nil for
// none), as torch.nn.functional.conv_transpose1d. The output width is
// (W−1)·stride − 2·padding + dilation·(k−1) + outputPadding + 1.
func ConvTranspose1d(x, weight, bias *tensor.Tensor, opt ...ConvTransposeOptions) *tensor.Tensor {
	return convTransposeNd("conv_transpose1d", 1, x, weight, bias, opt)
}

// ConvTranspose2d is the transposed 2-d convolution (the gradient of
// Conv2d with respect to its input) of x, [N, Cin, H, W] or unbatched
// [Cin, H, W], with weight, [Cin, Cout/groups, kh, kw], plus bias [Cout]
// (nil for none), as torch.nn.functional.conv_transpose2d. Each output
// size is (in−1)·stride − 2·padding + dilation·(k−1) + outputPadding + 1;
// outputPadding (smaller than the stride or the dilation) picks among the
// sizes that a strided Conv2d maps to the same input size.
func ConvTranspose2d(x, weight, bias *tensor.Tensor, opt ...ConvTransposeOptions) *tensor.Tensor {
	return convTransposeNd("conv_transpose2d", 2, x, weight, bias, opt)
}

func convTransposeNd(op string, nsp int, x, weight, bias *tensor.Tensor, opts []ConvTransposeOptions) *tensor.Tensor {
	var o ConvTransposeOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	x, unb := spatialBatch(op, x, nsp)
	convWeightCheck(op, x, weight, bias, nsp)
	groups := o.Groups
	if groups == 0 {
		groups = 1
	}
	if groups < 0 {
		spatialFail(op, tensor.ErrShape, "groups must be positive, not %d", groups)
	}
	ws := weight.Shape()
	n, cin := x.Size(0), x.Size(1)
	if cin != ws[0] {
		spatialFail(op, tensor.ErrShape, "input of shape %v has %d channels, but weight of shape %v expects %d", x.Shape(), cin, ws, ws[0])
	}
	if cin%groups != 0 {
		spatialFail(op, tensor.ErrShape, "input of shape %v: %d channels are not divisible by %d groups", x.Shape(), cin, groups)
	}
	cout := ws[1] * groups
	kernel := ws[2:]
	stride := spatialArg(op, "stride", o.Stride, nsp, 1, 1)
	pad := spatialArg(op, "padding", o.Padding, nsp, 0, 0)
	opad := spatialArg(op, "output padding", o.OutputPadding, nsp, 0, 0)
	dil := spatialArg(op, "dilation", o.Dilation, nsp, 1, 1)
	xs := x.Shape()
	out := make([]int, nsp)  // the output's spatial size
	full := make([]int, nsp) // every position some input reaches
	direct := true           // Fold can write the output directly
	l := 1
	for d := 0; d < nsp; d++ {
		if opad[d] >= stride[d] && opad[d] >= dil[d] {
			spatialFail(op, tensor.ErrShape, "output padding %v must be smaller than the stride %v or the dilation %v", opad, stride, dil)
		}
		full[d] = (xs[2+d]-1)*stride[d] + dil[d]*(kernel[d]-1) + 1
		out[d] = full[d] - 2*pad[d] + opad[d]
		if xs[2+d] < 1 || out[d] < 1 {
			spatialFail(op, tensor.ErrShape, "input of shape %v with kernel %v, stride %v, padding %v, dilation %v and output padding %v gives output size %v", xs, kernel, stride, pad, dil, opad, out)
		}
		direct = direct && opad[d] < stride[d]
		l *= xs[2+d]
	}
	k := 1
	for _, s := range kernel {
		k *= s
	}
	xm := x.Reshape(n, cin, l)
	var cols *tensor.Tensor
	if groups == 1 {
		cols = weight.Reshape(cin, cout*k).T().MatMul(xm) // [N, Cout·K, L]
	} else {
		w := weight.Reshape(groups, cin/groups, cout/groups*k).Transpose(1, 2)
		cols = w.MatMul(xm.Reshape(n, groups, cin/groups, l)).Reshape(n, cout*k, l)
	}
	var y *tensor.Tensor
	if direct {
		// the output's block grid is the input's grid
		y = tensor.Fold(cols, out, kernel, dil, pad, stride)
	} else {
		// an output padding of a stride or more reaches past the input's
		// grid: fold onto every reachable position, then crop the padding
		// and add the zero rows the output padding asks for
		y = tensor.Fold(cols, full, kernel, dil, nil, stride)
		var crop []int
		for d := nsp - 1; d >= 0; d-- {
			crop = append(crop, -pad[d], out[d]-full[d]+pad[d])
		}
		y = Pad(y, crop, "constant", 0)
	}
	return unbatch(addBias(op, y, bias, cout, nsp), unb)
}

// FoldOptions are the options of Unfold and Fold, with torch's meanings;
// each slice has one entry per spatial dim or a single entry for both,
// and nil means torch's default (dilation 1, padding 0, stride 1).
type FoldOptions struct {
	Dilation, Padding, Stride []int
}

// Unfold extracts the sliding local blocks of x, [N, C, H, W] or
// unbatched [C, H, W], as torch.nn.functional.unfold (im2col): the result
// is [N, C·kh·kw, L], one column per block position. See tensor.Unfold.
func Unfold(x *tensor.Tensor, kernel []int, opt ...FoldOptions) *tensor.Tensor {
	const op = "unfold"
	var o FoldOptions
	if len(opt) > 0 {
		o = opt[0]
	}
	x, unb := spatialBatch(op, x, 2)
	return unbatch(tensor.Unfold(x, kernel, o.Dilation, o.Padding, o.Stride), unb)
}

// Fold sums sliding local blocks, [N, C·kh·kw, L] or unbatched
// [C·kh·kw, L], into a tensor [N, C, outputSize…], as
// torch.nn.functional.fold (col2im), the adjoint of Unfold. See
// tensor.Fold.
func Fold(x *tensor.Tensor, outputSize, kernel []int, opt ...FoldOptions) *tensor.Tensor {
	const op = "fold"
	var o FoldOptions
	if len(opt) > 0 {
		o = opt[0]
	}
	if len(outputSize) != 2 {
		spatialFail(op, tensor.ErrShape, "output size %v must have 2 entries", outputSize)
	}
	x, unb := spatialBatch(op, x, 1)
	return unbatch(tensor.Fold(x, outputSize, kernel, o.Dilation, o.Padding, o.Stride), unb)
}
