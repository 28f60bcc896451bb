package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// The sliding-window primitives that convolution and pooling are built
// from. Unfold (im2col) and Fold (col2im) are linear and each other's
// adjoint, so each one's gradient is the other and gradients of any order
// follow; a convolution is an Unfold followed by a matrix product
// (package nn/functional). MaxPool records the positions of its maxima and
// routes gradients back with ScatterAdd.
//
// Window arguments follow torch.nn.functional: one entry per spatial dim,
// or a single entry for every spatial dim; nil means the default (stride
// 1, padding 0, dilation 1; MaxPool's stride defaults to its kernel).

// windowAttr is the attrs of Unfold, Fold and MaxPool: the window, and
// the spatial sizes of the input (Unfold, MaxPool) or of the output
// (Fold).
type windowAttr struct {
	Window backend.Window
	Size   []int
}

// windowArg expands a window argument to n entries: nil gives def, one
// value applies to every dim. Each entry must be at least lo.
func windowArg(op, name string, v []int, n, def, lo int) []int {
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
		fail(op, ErrShape, "%s %v has %d entries for %d spatial dims", name, v, len(v), n)
	}
	for _, x := range out {
		if x < lo {
			fail(op, ErrShape, "%s %v must be at least %d", name, v, lo)
		}
	}
	return out
}

// spatialDims checks that x is [N, C, S…] with one or two spatial dims
// and returns their number.
func spatialDims(op string, x *Tensor, what string) int {
	if x.Dim() != 3 && x.Dim() != 4 {
		fail(op, ErrShape, "expected a 3-d [N, C, W] or 4-d [N, C, H, W] %s, got shape %v", what, x.shape)
	}
	return x.Dim() - 2
}

func windowFloat(op string, x *Tensor) {
	if !x.DType().IsFloat() {
		fail(op, ErrDType, "%v input is not supported; convert it to a floating type", x.DType())
	}
}

// Unfold extracts the sliding local blocks of x, as
// torch.nn.functional.unfold (im2col): x is [N, C, H, W] (or [N, C, W]
// with a one-dim kernel), and the result is [N, C·∏kernel, L] where
// column l holds block l (row-major over the grid of block positions)
// and row c·∏kernel + k holds channel c under kernel tap k; taps in the
// zero padding read 0. Each block position o along a dim covers input
// positions o·stride − padding + j·dilation for j in [0, kernel).
// Gradients flow back through Fold.
func Unfold(x *Tensor, kernel, dilation, padding, stride []int) *Tensor {
	const op = "unfold"
	n := spatialDims(op, x, "input")
	windowFloat(op, x)
	w := backend.Window{
		Kernel:   windowArg(op, "kernel", kernel, n, 0, 1),
		Dilation: windowArg(op, "dilation", dilation, n, 1, 1),
		Padding:  windowArg(op, "padding", padding, n, 0, 0),
		Stride:   windowArg(op, "stride", stride, n, 1, 1),
	}
	for d := 0; d < n; d++ {
		if w.OutSize(d, x.shape[2+d]) < 1 {
			fail(op, ErrShape, "input of shape %v with padding %v is smaller than the kernel %v with dilation %v", x.shape, w.Padding, w.Kernel, w.Dilation)
		}
	}
	if dt := x.DType(); dt.IsHalf() {
		return unfoldW(x.To(Float32), w).To(dt)
	}
	return unfoldW(x, w)
}

// unfoldW is Unfold with a checked window.
func unfoldW(x *Tensor, w backend.Window) *Tensor {
	sp := x.shape[2:]
	l := 1
	for d, s := range sp {
		l *= w.OutSize(d, s)
	}
	out := empty("unfold", x.Device(), x.DType(), []int{x.shape[0], x.shape[1] * w.KernelSize(), l})
	x.be().Unfold(out.view(), x.view(), w)
	runtime.KeepAlive(x)
	if needsGrad(x) {
		record(opUnfold, windowAttr{w, append([]int(nil), sp...)}, []*Tensor{x}, []*Tensor{out})
	}
	return out
}

// Fold sums sliding local blocks back into a tensor, as
// torch.nn.functional.fold (col2im), the adjoint of Unfold: x is
// [N, C·∏kernel, L], with L the number of block positions that Unfold
// finds in an input of spatial size outputSize (one or two dims), and the
// result is [N, C, outputSize…], each element the sum of the block
// entries that Unfold would have copied from it. Entries that fall in the
// padding are dropped. Gradients flow back through Unfold.
func Fold(x *Tensor, outputSize, kernel, dilation, padding, stride []int) *Tensor {
	const op = "fold"
	if x.Dim() != 3 {
		fail(op, ErrShape, "expected a 3-d [N, C·∏kernel, L] input, got shape %v", x.shape)
	}
	n := len(outputSize)
	if n != 1 && n != 2 {
		fail(op, ErrShape, "output size %v must have 1 or 2 spatial dims", outputSize)
	}
	windowFloat(op, x)
	w := backend.Window{
		Kernel:   windowArg(op, "kernel", kernel, n, 0, 1),
		Dilation: windowArg(op, "dilation", dilation, n, 1, 1),
		Padding:  windowArg(op, "padding", padding, n, 0, 0),
		Stride:   windowArg(op, "stride", stride, n, 1, 1),
	}
	size := windowArg(op, "output size", outputSize, n, 0, 0)
	k := w.KernelSize()
	if x.shape[1]%k != 0 {
		fail(op, ErrShape, "input of shape %v: dim 1 (%d) is not a multiple of the kernel size %v (%d taps)", x.shape, x.shape[1], w.Kernel, k)
	}
	l := 1
	for d, s := range size {
		l *= w.OutSize(d, s)
	}
	if l < 1 || x.shape[2] != l {
		fail(op, ErrShape, "input of shape %v: output size %v with kernel %v, dilation %v, padding %v and stride %v has %d block positions, not %d", x.shape, size, w.Kernel, w.Dilation, w.Padding, w.Stride, l, x.shape[2])
	}
	if dt := x.DType(); dt.IsHalf() {
		return foldW(x.To(Float32), size, w).To(dt)
	}
	return foldW(x, size, w)
}

// foldW is Fold with a checked window.
func foldW(x *Tensor, size []int, w backend.Window) *Tensor {
	shape := append([]int{x.shape[0], x.shape[1] / w.KernelSize()}, size...)
	out := empty("fold", x.Device(), x.DType(), shape)
	x.be().Fold(out.view(), x.view(), w)
	runtime.KeepAlive(x)
	if needsGrad(x) {
		record(opFold, windowAttr{w, append([]int(nil), size...)}, []*Tensor{x}, []*Tensor{out})
	}
	return out
}

// poolOutSize is torch's pooling output size: with ceilMode a last,
// partial window is kept when it starts inside the input or its left
// padding.
func poolOutSize(n, k, s, p, d int, ceilMode bool) int {
	num := n + 2*p - d*(k-1) - 1
	if ceilMode {
		num += s - 1
	}
	o := num / s
	if num < 0 && num%s != 0 {
		o-- // round toward −∞
	}
	o++
	if ceilMode && (o-1)*s >= n+p {
		o--
	}
	return o
}

// MaxPool is max pooling over the last one or two dims of x, [N, C, W]
// or [N, C, H, W], as torch.nn.functional.max_pool1d/2d with
// return_indices: values holds the largest element of each window (taps
// in the padding are skipped, as if it held −∞; NaN propagates), indices
// (Int64) its row-major position within the spatial dims of x. stride nil
// means the kernel; padding may be at most half the kernel; with ceilMode
// a last, partial window is kept where it starts inside the input.
// Gradients flow to the maxima.
func MaxPool(x *Tensor, kernel, stride, padding, dilation []int, ceilMode bool) (values, indices *Tensor) {
	const op = "max_pool"
	n := spatialDims(op, x, "input")
	windowFloat(op, x)
	k := windowArg(op, "kernel", kernel, n, 0, 1)
	if len(stride) == 0 {
		stride = k
	}
	w := backend.Window{
		Kernel:   k,
		Stride:   windowArg(op, "stride", stride, n, 0, 1),
		Padding:  windowArg(op, "padding", padding, n, 0, 0),
		Dilation: windowArg(op, "dilation", dilation, n, 1, 1),
	}
	for d := 0; d < n; d++ {
		if x.shape[2+d] == 0 || x.shape[1] == 0 {
			fail(op, ErrShape, "input of shape %v has an empty channel or spatial dim", x.shape)
		}
		if 2*w.Padding[d] > w.Kernel[d] {
			fail(op, ErrShape, "padding %v must be at most half the kernel %v", w.Padding, w.Kernel)
		}
	}
	osz := make([]int, n)
	for d := range osz {
		osz[d] = poolOutSize(x.shape[2+d], w.Kernel[d], w.Stride[d], w.Padding[d], w.Dilation[d], ceilMode)
		if osz[d] < 1 {
			fail(op, ErrShape, "input of shape %v is too small for the kernel %v with padding %v and dilation %v (output size %v)", x.shape, w.Kernel, w.Padding, w.Dilation, osz)
		}
		// every window needs a tap inside the input
		for o := 0; o < osz[d]; o++ {
			start, in := o*w.Stride[d]-w.Padding[d], false
			for j := 0; j < w.Kernel[d] && !in; j++ {
				p := start + j*w.Dilation[d]
				in = p >= 0 && p < x.shape[2+d]
			}
			if !in {
				fail(op, ErrShape, "input of shape %v: window %d along spatial dim %d covers only padding (kernel %v, stride %v, padding %v, dilation %v)", x.shape, o, d, w.Kernel, w.Stride, w.Padding, w.Dilation)
			}
		}
	}
	if dt := x.DType(); dt.IsHalf() {
		v, i := maxPoolW(x.To(Float32), osz, w)
		return v.To(dt), i
	}
	return maxPoolW(x, osz, w)
}

func maxPoolW(x *Tensor, osz []int, w backend.Window) (values, indices *Tensor) {
	shape := append([]int{x.shape[0], x.shape[1]}, osz...)
	values = empty("max_pool", x.Device(), x.DType(), shape)
	indices = empty("max_pool", x.Device(), Int64, shape)
	x.be().MaxPool(values.view(), indices.view(), x.view(), w)
	runtime.KeepAlive(x)
	if needsGrad(x) {
		record(opMaxPool, windowAttr{w, append([]int(nil), x.shape[2:]...)}, []*Tensor{x}, []*Tensor{values}, indices)
	}
	return values, indices
}

// useMaxPoolBackwarder is false in tests that run the composed gradient
// (zeros and ScatterAdd) the backend kernel must agree with.
var useMaxPoolBackwarder = true

// maxPoolGrad routes g to the positions idx names within each [N, C]
// plane of a tensor shaped like in. Where g needs no gradient of its own
// and the backend has a kernel for it, that kernel writes the result in
// one pass; otherwise it is ScatterAdd into zeros, which records its
// gradient (a gather through idx) for gradients of higher order.
func maxPoolGrad(g, idx *Tensor, in []int) *Tensor {
	n, c := in[0], in[1]
	if mb, ok := g.be().(backend.MaxPoolBackwarder); ok && useMaxPoolBackwarder && !needsGrad(g) && g.DType().IsFloat() && !g.DType().IsHalf() {
		g, idx = g.Contiguous(), idx.Contiguous()
		out := empty("max_pool", g.Device(), g.DType(), in)
		indexFail("max_pool", mb.MaxPoolBackward(out.view(), g.view(), idx.view()))
		runtime.KeepAlive(g)
		runtime.KeepAlive(idx)
		return out
	}
	plane := backend.Numel(in[2:])
	m := idx.Numel() / max(n*c, 1)
	z := zerosOf(g.DType(), g.Device(), []int{n, c, plane})
	return z.ScatterAdd(2, idx.Reshape(n, c, m), g.Reshape(n, c, m)).Reshape(in...)
}

// Conv is the convolution (cross-correlation) of x, [N, C, W] or
// [N, C, H, W], with weight, [Cout, C/groups, kernel…], without bias, as
// torch.nn.functional.conv1d/conv2d: the result is [N, Cout, O…] with O
// the number of window positions along each spatial dim (see Unfold).
// Groups split the channels: group g's Cout/groups output channels see
// its C/groups input channels only. stride, padding and dilation are as
// for Unfold (nil for the defaults, one entry for every dim).
//
// It is the product of the weight with the columns Unfold makes, and a
// backend with convolution kernels (backend.Convolver; the CPU backend)
// computes it without keeping the columns of the whole batch; other
// backends run Unfold and MatMul. The gradients are again convolutions
// of the same three kinds (the forward product, its adjoint in the input
// and in the weight), so gradients of every order flow.
func Conv(x, weight *Tensor, stride, padding, dilation []int, groups int) *Tensor {
	const op = "conv"
	n := spatialDims(op, x, "input")
	windowFloat(op, x)
	sameDevice(op, x, weight)
	if weight.DType() != x.DType() {
		fail(op, ErrDType, "input (%v) and weight (%v) have different dtypes", x.DType(), weight.DType())
	}
	if weight.Dim() != n+2 {
		fail(op, ErrShape, "weight of shape %v must be %d-d [out channels, in channels/groups, kernel…]", weight.shape, n+2)
	}
	if groups < 1 {
		fail(op, ErrShape, "groups must be positive, not %d", groups)
	}
	cout := weight.shape[0]
	if cout%groups != 0 || x.shape[1] != weight.shape[1]*groups {
		fail(op, ErrShape, "input of shape %v and weight of shape %v do not fit %d groups", x.shape, weight.shape, groups)
	}
	w := backend.Window{
		Kernel:   append([]int(nil), weight.shape[2:]...),
		Dilation: windowArg(op, "dilation", dilation, n, 1, 1),
		Padding:  windowArg(op, "padding", padding, n, 0, 0),
		Stride:   windowArg(op, "stride", stride, n, 1, 1),
	}
	for _, k := range w.Kernel {
		if k < 1 {
			fail(op, ErrShape, "weight of shape %v has an empty kernel", weight.shape)
		}
	}
	osz := make([]int, n)
	for d := range osz {
		if osz[d] = w.OutSize(d, x.shape[2+d]); osz[d] < 1 {
			fail(op, ErrShape, "input of shape %v with padding %v is smaller than the kernel %v with dilation %v", x.shape, w.Padding, w.Kernel, w.Dilation)
		}
	}
	if dt := x.DType(); dt.IsHalf() {
		return Conv(x.To(Float32), weight.To(Float32), stride, padding, dilation, groups).To(dt)
	}
	c := convCall{w: w, groups: groups, size: append([]int(nil), x.shape[2:]...)}
	y := c.forward(x, weight.Reshape(cout, weight.shape[1]*w.KernelSize()))
	return y.Reshape(append([]int{x.shape[0], cout}, osz...)...)
}

// convCall is one convolution's window, groups and input spatial size.
// Its three products take and give the weight as a matrix
// [Cout, C/groups·K] and the output as [N, Cout, L]:
//
//	forward(x, w)      = w · Unfold(x)                 (per group)
//	backInput(dy, w)   = Fold(wᵀ · dy)                 (its adjoint in x)
//	backWeight(dy, x)  = Σ_n dy · Unfold(x)ᵀ           (its adjoint in w)
//
// Each is bilinear, and the derivatives of each are the other two.
type convCall struct {
	w      backend.Window
	groups int
	size   []int // the input's spatial size
}

// useConvolver is false in tests that run the Unfold–MatMul–Fold
// composition the backend kernels must agree with.
var useConvolver = true

// convolver returns t's backend as a backend.Convolver, or nil.
func convolver(t *Tensor) backend.Convolver {
	if !useConvolver {
		return nil
	}
	cv, _ := t.be().(backend.Convolver)
	return cv
}

func (c convCall) taps() int { return c.w.KernelSize() }

func (c convCall) outLen() int {
	l := 1
	for d, s := range c.size {
		l *= c.w.OutSize(d, s)
	}
	return l
}

// record attaches the backward of one of the products to its output:
// grads gives the gradients of (a, b) for the output gradient g.
func (c convCall) record(name string, out, a, b *Tensor, grads func(g, a, b *Tensor, needA, needB bool) (ga, gb *Tensor)) *Tensor {
	if !needsGrad(a, b) {
		return out
	}
	needA, needB := a.RequiresGrad(), b.RequiresGrad()
	return RecordFunction(name, []*Tensor{a, b}, []*Tensor{out}, []*Tensor{a, b}, func(saved, g []*Tensor) []*Tensor {
		ga, gb := grads(g[0], saved[0], saved[1], needA, needB)
		return []*Tensor{ga, gb}
	})[0]
}

func (c convCall) forward(x, w *Tensor) *Tensor {
	n, cout, l := x.shape[0], w.shape[0], c.outLen()
	var y *Tensor
	if cv := convolver(x); cv != nil {
		y = empty("conv", x.Device(), x.DType(), []int{n, cout, l})
		cv.ConvForward(y.view(), x.view(), w.view(), c.w, c.groups)
		runtime.KeepAlive(x)
		runtime.KeepAlive(w)
	} else {
		cols := unfoldW(x, c.w)
		if c.groups == 1 {
			return w.MatMul(cols)
		}
		g, gr := c.groups, w.shape[1]
		return w.Reshape(g, cout/g, gr).MatMul(cols.Reshape(n, g, gr, l)).Reshape(n, cout, l)
	}
	return c.record("ConvolutionBackward0", y, x, w, func(g, x, w *Tensor, needX, needW bool) (gx, gw *Tensor) {
		if needX {
			gx = c.backInput(g, w)
		}
		if needW {
			gw = c.backWeight(g, x)
		}
		return gx, gw
	})
}

func (c convCall) backInput(dy, w *Tensor) *Tensor {
	n, cout, l := dy.shape[0], w.shape[0], dy.shape[2]
	cin := w.shape[1] / c.taps() * c.groups
	var dx *Tensor
	if cv := convolver(dy); cv != nil {
		dx = empty("conv", dy.Device(), dy.DType(), append([]int{n, cin}, c.size...))
		cv.ConvBackwardInput(dx.view(), dy.view(), w.view(), c.w, c.groups)
		runtime.KeepAlive(dy)
		runtime.KeepAlive(w)
	} else {
		var cols *Tensor
		if c.groups == 1 {
			cols = w.T().MatMul(dy)
		} else {
			g, gr := c.groups, w.shape[1]
			cols = w.Reshape(g, cout/g, gr).Transpose(1, 2).MatMul(dy.Reshape(n, g, cout/g, l)).Reshape(n, g*gr, l)
		}
		return foldW(cols, c.size, c.w)
	}
	return c.record("ConvolutionBackwardInput", dx, dy, w, func(g, dy, w *Tensor, needDy, needW bool) (gdy, gw *Tensor) {
		if needDy {
			gdy = c.forward(g, w)
		}
		if needW {
			gw = c.backWeight(dy, g)
		}
		return gdy, gw
	})
}

func (c convCall) backWeight(dy, x *Tensor) *Tensor {
	n, cout, l := dy.shape[0], dy.shape[1], dy.shape[2]
	gr := x.shape[1] / c.groups * c.taps()
	var dw *Tensor
	if cv := convolver(x); cv != nil {
		dw = empty("conv", x.Device(), x.DType(), []int{cout, gr})
		cv.ConvBackwardWeight(dw.view(), dy.view(), x.view(), c.w, c.groups)
		runtime.KeepAlive(dy)
		runtime.KeepAlive(x)
	} else {
		cols := unfoldW(x, c.w)
		if c.groups == 1 {
			return dy.MatMul(cols.Transpose(1, 2)).Sum(0)
		}
		g := c.groups
		return dy.Reshape(n, g, cout/g, l).MatMul(cols.Reshape(n, g, gr, l).Transpose(2, 3)).Sum(0).Reshape(cout, gr)
	}
	return c.record("ConvolutionBackwardWeight", dw, dy, x, func(g, dy, x *Tensor, needDy, needX bool) (gdy, gx *Tensor) {
		if needDy {
			gdy = c.forward(x, g)
		}
		if needX {
			gx = c.backInput(dy, g)
		}
		return gdy, gx
	})
}
