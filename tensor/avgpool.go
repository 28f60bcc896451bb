package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// Average pooling. Both torch's sliding-window average pooling and its
// adaptive pooling average the input over boxes whose extent along each
// spatial dim depends only on the output index along that dim, divided
// by a product of per-dim factors; backend.AvgPooler runs that form in
// one pass forward and one backward (the CPU backend has it). Elsewhere,
// and for the half types, the ops are composed as they were before it:
// Unfold, Sum and Div for sliding windows, products with averaging
// matrices for adaptive pooling; the compositions are also the kernels'
// test oracle.

// avgPoolFused switches the AvgPooler kernels off (tests only), so that
// the composed ops, their oracle, run instead.
var avgPoolFused = true

// AvgPoolDim holds the windows of average pooling along one spatial dim
// (backend.AvgPoolDim): output index o covers input indices
// [Start[o], End[o]) and contributes the factor Divisor[o] to the
// divisor of its windows.
type AvgPoolDim = backend.AvgPoolDim

// AvgPoolOptions are AvgPool's options, with the meanings of
// torch.nn.functional.avg_pool2d's; the zero value is torch's defaults.
// Stride and Padding have one entry per spatial dim or a single entry
// for all.
type AvgPoolOptions struct {
	// Stride is the step between windows; nil means the kernel.
	Stride []int
	// Padding is the implicit zero padding on both sides of each spatial
	// dim, at most half the kernel.
	Padding []int
	// CeilMode keeps a last, partial window where it starts inside the
	// input or its left padding (torch's ceil_mode).
	CeilMode bool
	// ExcludePadding leaves the zero padding out of each window's count:
	// torch's count_include_pad=False.
	ExcludePadding bool
	// DivisorOverride, when positive, divides every window's sum instead
	// of its count (torch's divisor_override).
	DivisorOverride int
}

// AvgPool is average pooling over the spatial dims of x, [N, C, W],
// [N, C, H, W] or [N, C, D, H, W], as torch.nn.functional.avg_pool1d,
// avg_pool2d and avg_pool3d: each output element is the sum of a kernel
// window of x, the windows opt.Stride apart over x padded with
// opt.Padding zeros, divided by the window's size counting the padding
// (but not what a ceil-mode window hangs past it), by its taps inside
// x with ExcludePadding, or by DivisorOverride when that is positive.
//
// For float32 and float64 on a backend with AvgPooler kernels (the
// CPU's) it is one recorded op, each sum formed in one pass; its
// backward spreads each output gradient, divided by the window's
// divisor, over the window, and records the pooling as its own
// derivative (the backward is linear in the gradient), so gradients of
// any order work. Elsewhere it is composed of Unfold, Sum and Div (three
// spatial dims: sums over H and W, then over D), with the same values
// up to the order of the sums. Arguments that do not fit x panic with
// ErrShape; an integer x with ErrDType.
func AvgPool(x *Tensor, kernel []int, opt AvgPoolOptions) *Tensor {
	const op = "avg_pool"
	nsp := avgPoolDims(op, x)
	k := windowArg(op, "kernel", kernel, nsp, 0, 1)
	stride := k
	if len(opt.Stride) > 0 {
		stride = windowArg(op, "stride", opt.Stride, nsp, 0, 1)
	}
	pad := windowArg(op, "padding", opt.Padding, nsp, 0, 0)
	if opt.DivisorOverride < 0 {
		fail(op, ErrShape, "divisor override must be positive, not %d", opt.DivisorOverride)
	}
	out := make([]int, nsp)
	dims := make([]AvgPoolDim, nsp)
	for d := range nsp {
		n := x.shape[2+d]
		if 2*pad[d] > k[d] {
			fail(op, ErrShape, "padding %v must be at most half the kernel %v", pad, k)
		}
		out[d] = poolOutSize(n, k[d], stride[d], pad[d], 1, opt.CeilMode)
		if n < 1 || out[d] < 1 {
			fail(op, ErrShape, "input of shape %v is too small for the kernel %v with padding %v", x.shape, k, pad)
		}
		w := AvgPoolDim{Start: make([]int, out[d]), End: make([]int, out[d]), Divisor: make([]float64, out[d])}
		for o := range out[d] {
			start := o*stride[d] - pad[d]
			end := min(start+k[d], n+pad[d])
			w.Start[o], w.End[o] = max(start, 0), min(end, n)
			w.Divisor[o] = float64(end - start)
			if opt.ExcludePadding {
				w.Divisor[o] = float64(w.End[o] - w.Start[o])
			}
			if opt.DivisorOverride > 0 {
				// the whole divisor in the first dim's factor
				w.Divisor[o] = 1
				if d == 0 {
					w.Divisor[o] = float64(opt.DivisorOverride)
				}
			}
		}
		dims[d] = w
	}
	return avgPoolOp(x, dims, "AvgPool", func() *Tensor { return avgPoolComposed(x, k, stride, pad, out, opt) })
}

// AdaptiveAvgPool averages x, [N, C, W], [N, C, H, W] or [N, C, D, H, W],
// over a grid of size bins (one entry per spatial dim, each at least 1),
// as torch.nn.functional.adaptive_avg_pool1d/2d/3d: along a dim of n
// elements, bin i covers [⌊i·n/size⌋, ⌈(i+1)·n/size⌉), so bins overlap
// when the sizes do not divide, and each output element is its box's
// mean.
//
// For float32 and float64 on a backend with AvgPooler kernels (the
// CPU's) it is one recorded op whose gradients of every order flow, as
// for AvgPool. Elsewhere it is composed of products with [size, n]
// averaging matrices along each dim, the last first, with the same
// values up to rounding (the matrices hold 1/count, where the kernels
// divide the sum by the count). Sizes that do not fit x panic with
// ErrShape; an integer x with ErrDType.
func AdaptiveAvgPool(x *Tensor, size []int) *Tensor {
	const op = "adaptive_avg_pool"
	nsp := avgPoolDims(op, x)
	if len(size) != nsp {
		fail(op, ErrShape, "output size %v has %d entries for the %d spatial dims of the input %v", size, len(size), nsp, x.shape)
	}
	dims := make([]AvgPoolDim, nsp)
	for d, o := range size {
		n := x.shape[2+d]
		if o < 1 || n < 1 {
			fail(op, ErrShape, "input of shape %v to output size %v: sizes must be positive", x.shape, size)
		}
		w := AvgPoolDim{Start: make([]int, o), End: make([]int, o), Divisor: make([]float64, o)}
		for i := range o {
			w.Start[i], w.End[i] = i*n/o, ((i+1)*n+o-1)/o
			w.Divisor[i] = float64(w.End[i] - w.Start[i])
		}
		dims[d] = w
	}
	return avgPoolOp(x, dims, "AdaptiveAvgPool", func() *Tensor { return adaptiveAvgPoolComposed(x, size) })
}

// avgPoolDims checks that x is a float [N, C, S…] with one to three
// spatial dims and returns their number.
func avgPoolDims(op string, x *Tensor) int {
	if x.Dim() < 3 || x.Dim() > 5 {
		fail(op, ErrShape, "expected a 3-d [N, C, W], 4-d [N, C, H, W] or 5-d [N, C, D, H, W] input, got shape %v", x.shape)
	}
	windowFloat(op, x)
	return x.Dim() - 2
}

// avgPoolOp pools x over the windows dims with the backend's kernels, or
// runs composed where the backend or x's dtype has none. name is torch's
// name of the op, without its dims.
func avgPoolOp(x *Tensor, dims []AvgPoolDim, name string, composed func() *Tensor) *Tensor {
	k, ok := x.be().(backend.AvgPooler)
	if dt := x.DType(); !ok || !avgPoolFused || (dt != Float32 && dt != Float64) {
		return composed()
	}
	out := append([]int(nil), x.shape...)
	for d, w := range dims {
		out[2+d] = len(w.Start)
	}
	nd := string(rune('0' + len(dims)))
	c := &avgPoolCall{
		k: k, dims: dims, in: x.Shape(), out: out,
		fwdName: name + nd + "DBackward0", adjName: name + nd + "DBackwardBackward0",
	}
	return c.forward(x)
}

// avgPoolCall is one pooling on a backend with the kernels: its windows,
// the input and output shapes and the recorded names, which its forward
// and adjoint share.
type avgPoolCall struct {
	k                backend.AvgPooler
	dims             []AvgPoolDim
	in, out          []int
	fwdName, adjName string
}

// forward runs the kernel on x and records the adjoint as its backward.
func (c *avgPoolCall) forward(x *Tensor) *Tensor {
	xc := contiguousData(x)
	y := empty("avg_pool", x.Device(), x.DType(), c.out)
	c.k.AvgPool(y.planes(), xc.planes(), c.dims)
	runtime.KeepAlive(xc)
	return RecordFunction(c.fwdName, []*Tensor{x}, []*Tensor{y}, nil, func(_, g []*Tensor) []*Tensor {
		return []*Tensor{c.adjoint(g[0])}
	})[0]
}

// adjoint is the gradient of the input for the output gradient g; it is
// linear in g, and its own gradient is the forward again.
func (c *avgPoolCall) adjoint(g *Tensor) *Tensor {
	gc := contiguousData(g)
	dx := empty("avg_pool backward", g.Device(), g.DType(), c.in)
	c.k.AvgPoolBackward(dx.planes(), gc.planes(), c.dims)
	runtime.KeepAlive(gc)
	return RecordFunction(c.adjName, []*Tensor{g}, []*Tensor{dx}, nil, func(_, h []*Tensor) []*Tensor {
		return []*Tensor{c.forward(h[0])}
	})[0]
}

// contiguousData is t, or a contiguous copy of its values that records
// nothing.
func contiguousData(t *Tensor) *Tensor {
	if t.IsContiguous() {
		return t
	}
	return t.Detach().Clone()
}

// planes is the contiguous t, [N, C, S…], seen as [N·C, S…].
func (t *Tensor) planes() backend.View {
	shape := append([]int{t.shape[0] * t.shape[1]}, t.shape[2:]...)
	return t.viewAs(shape, backend.ContiguousStrides(shape), t.offset)
}

// avgPoolComposed is AvgPool from Unfold, Sum and Div, with the output
// size out: the path of backends and dtypes without the kernels, and the
// kernels' test oracle, so it computes the windows' divisors itself.
func avgPoolComposed(x *Tensor, k, stride, pad, out []int, opt AvgPoolOptions) *Tensor {
	nsp := len(k)
	var sums *Tensor // [N, C, out…]
	if nsp < 3 {
		sums = windowSums(x, k, stride, pad, out)
	} else {
		// separable: sums over H and W, with D among the channels, then
		// over D
		n, c, dd := x.shape[0], x.shape[1], x.shape[2]
		hw := windowSums(x.Reshape(n, c*dd, x.shape[3], x.shape[4]), k[1:], stride[1:], pad[1:], out[1:])
		hw = hw.Reshape(n, c, dd, out[1]*out[2]).Transpose(2, 3).Reshape(n, c*out[1]*out[2], dd)
		sums = windowSums(hw, k[:1], stride[:1], pad[:1], out[:1]).
			Reshape(n, c, out[1], out[2], out[0]).Permute(0, 1, 4, 2, 3)
	}
	// per dim, the divisor of each window position
	divs := make([][]float64, nsp)
	for d := range nsp {
		n := x.shape[2+d]
		divs[d] = make([]float64, out[d])
		for i := range divs[d] {
			start := i*stride[d] - pad[d]
			end := min(start+k[d], n+pad[d])
			size := end - start
			if opt.ExcludePadding {
				size = min(end, n) - max(start, 0)
			}
			divs[d][i] = float64(size)
		}
	}
	// the divisors of the whole output grid, row-major
	div := []float64{1}
	for d := range nsp {
		next := make([]float64, 0, len(div)*out[d])
		for _, a := range div {
			for _, b := range divs[d] {
				next = append(next, a*b)
			}
		}
		div = next
	}
	if opt.DivisorOverride > 0 {
		for i := range div {
			div[i] = float64(opt.DivisorOverride)
		}
	}
	divisor := FromSlice(div, out...).To(x.DType()).ToDevice(x.Device())
	return sums.Div(divisor)
}

// windowSums is the sum of each window of x, [N, C, W] or [N, C, H, W]:
// Unfold's columns summed over the kernel's taps, x first padded on the
// right with the zeros that a ceil-mode window hangs past the padding.
func windowSums(x *Tensor, k, stride, pad, out []int) *Tensor {
	nsp := len(k)
	for d := range nsp {
		extra := (out[d]-1)*stride[d] + k[d] - x.shape[2+d] - 2*pad[d]
		if extra > 0 {
			zsh := append([]int(nil), x.shape...)
			zsh[2+d] = extra
			x = Cat([]*Tensor{x, zerosOf(x.DType(), x.Device(), zsh)}, 2+d)
		}
	}
	cols := Unfold(x, k, nil, pad, stride) // [N, C·K, L]
	n, c := x.shape[0], x.shape[1]
	kk := cols.Size(1) / max(c, 1)
	return cols.Reshape(n, c, kk, cols.Size(2)).Sum(2).Reshape(append([]int{n, c}, out...)...)
}

// adaptiveAvgPoolComposed is AdaptiveAvgPool from products with
// averaging matrices, the last dim first: the path of backends and
// dtypes without the kernels, and the kernels' test oracle, so it
// computes the bins itself.
func adaptiveAvgPoolComposed(x *Tensor, size []int) *Tensor {
	nsp := len(size)
	sp := x.shape[2:]
	// the average over a box is the average along one dim of averages
	// along the others
	y := x.MatMul(averagingMatrix(x, sp[nsp-1], size[nsp-1]).T())
	if nsp >= 2 {
		y = averagingMatrix(x, sp[nsp-2], size[nsp-2]).MatMul(y)
	}
	if nsp == 3 {
		n, c, oh, ow := y.shape[0], y.shape[1], y.shape[3], y.shape[4]
		y = averagingMatrix(x, sp[0], size[0]).MatMul(y.Reshape(n, c, sp[0], oh*ow))
		y = y.Reshape(n, c, size[0], oh, ow)
	}
	return y
}

// averagingMatrix is the [out, n] matrix, of x's dtype and device, whose
// row i averages bin i, [⌊i·n/out⌋, ⌈(i+1)·n/out⌉), of a dim of size n.
func averagingMatrix(x *Tensor, n, out int) *Tensor {
	m := make([]float64, out*n)
	for i := range out {
		start := i * n / out
		end := ((i+1)*n + out - 1) / out
		for j := start; j < end; j++ {
			m[i*n+j] = 1 / float64(end-start)
		}
	}
	return FromSlice(m, out, n).To(x.DType()).ToDevice(x.Device())
}
