package onnx

import (
	"math"
	"slices"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// Neural-network operators: convolutions, pooling, normalizations and
// matrix products, over nn/functional where it has the operation.
// Convolutions and pooling take one or two spatial dims (Tapir's Unfold);
// ONNX's asymmetric padding is applied as an explicit Pad first.

func init() {
	register(opConv, "Conv")
	register(opConvTranspose, "ConvTranspose")
	register(opMaxPool, "MaxPool")
	register(opAveragePool, "AveragePool")
	register(opLpPool, "LpPool")
	register(globalPool(false), "GlobalAveragePool")
	register(globalPool(true), "GlobalMaxPool")
	register(opBatchNorm, "BatchNormalization")
	register(opInstanceNorm, "InstanceNormalization")
	register(opLayerNorm, "LayerNormalization")
	register(opLRN, "LRN")
	register(opMVN, "MeanVarianceNormalization")
	register(opLpNorm, "LpNormalization")
	register(opGemm, "Gemm")
	register(func(c *opCtx) []*tensor.Tensor { return one(c.x(0).MatMul(c.x(1))) }, "MatMul")
}

// window holds the resolved spatial attributes of a convolution or a
// pooling: kernel, strides, dilations and padding (begin and end).
type window struct {
	kernel, strides, dilations, padBegin, padEnd []int
}

// windowAttrs reads kernel_shape (or kernel, when given), strides,
// dilations, pads and auto_pad for in, the input's spatial sizes.
func (c *opCtx) windowAttrs(in []int, kernel []int) window {
	n := len(in)
	if ks := c.ints("kernel_shape"); ks != nil {
		kernel = c.toInts(ks)
	}
	if len(kernel) != n {
		c.fail("kernel %v for %d spatial dims", kernel, n)
	}
	get := func(name string, def int) []int {
		v := c.ints(name)
		if v == nil {
			out := make([]int, n)
			for i := range out {
				out[i] = def
			}
			return out
		}
		if len(v) != n {
			c.fail("%s %v for %d spatial dims", name, v, n)
		}
		return c.toInts(v)
	}
	w := window{kernel: kernel, strides: get("strides", 1), dilations: get("dilations", 1)}
	for i := 0; i < n; i++ {
		if w.kernel[i] < 1 || w.strides[i] < 1 || w.dilations[i] < 1 {
			c.fail("kernel %v, strides %v and dilations %v must be positive", w.kernel, w.strides, w.dilations)
		}
	}
	w.padBegin, w.padEnd = make([]int, n), make([]int, n)
	switch ap := c.str("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		if p := c.ints("pads"); p != nil {
			if len(p) != 2*n {
				c.fail("pads %v for %d spatial dims", p, n)
			}
			pi := c.toInts(p)
			copy(w.padBegin, pi[:n])
			copy(w.padEnd, pi[n:])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i := 0; i < n; i++ {
			out := (in[i] + w.strides[i] - 1) / w.strides[i]
			total := max((out-1)*w.strides[i]+(w.kernel[i]-1)*w.dilations[i]+1-in[i], 0)
			if ap == "SAME_UPPER" {
				w.padBegin[i] = total / 2
			} else {
				w.padBegin[i] = total - total/2
			}
			w.padEnd[i] = total - w.padBegin[i]
		}
	default:
		c.fail("unknown auto_pad %q", ap)
	}
	for i := 0; i < n; i++ {
		if w.padBegin[i] < 0 || w.padEnd[i] < 0 {
			c.fail("negative pads")
		}
	}
	return w
}

// checkWindow bounds the memory a windowed op over x ([N, C, spatial…])
// needs: the padded input, and the unfolded blocks [N, C·∏kernel, L].
func (c *opCtx) checkWindow(x *tensor.Tensor, w window) {
	sh := x.Shape()
	padded := append([]int{}, sh...)
	blocks := []int{sh[0], sh[1]}
	for i := range w.kernel {
		padded[2+i] += w.padBegin[i] + w.padEnd[i]
		blocks = append(blocks, w.kernel[i], max(padded[2+i]/w.strides[i]+1, 1))
	}
	c.checkSize(padded)
	c.checkSize(blocks)
}

// symmetric reports whether the padding is the same on both sides of
// every dim, and at most limit·kernel when limit > 0.
func (w window) symmetric(halfKernel bool) bool {
	for i := range w.padBegin {
		if w.padBegin[i] != w.padEnd[i] {
			return false
		}
		if halfKernel && 2*w.padBegin[i] > w.kernel[i] {
			return false
		}
	}
	return true
}

// padSpatial pads the spatial dims of x explicitly with value.
func padSpatial(x *tensor.Tensor, w window, value float64) *tensor.Tensor {
	n := len(w.padBegin)
	p := make([]int, 2*n)
	for i := 0; i < n; i++ {
		j := n - 1 - i
		p[2*j], p[2*j+1] = w.padBegin[i], w.padEnd[i]
	}
	return F.Pad(x, p, "constant", value)
}

func spatial(c *opCtx, x *tensor.Tensor) []int {
	if x.Dim() < 3 {
		c.fail("input must be [N, C, spatial…], has shape %v", x.Shape())
	}
	if x.Dim() > 5 {
		c.fail("%d spatial dims are not supported (Tapir convolves and pools over one to three)", x.Dim()-2)
	}
	return x.Shape()[2:]
}

func opConv(c *opCtx) []*tensor.Tensor {
	x, wt, b := c.x(0), c.x(1), c.opt(2)
	sp := spatial(c, x)
	if wt.Dim() != x.Dim() {
		c.fail("weight of shape %v for input %v", wt.Shape(), x.Shape())
	}
	w := c.windowAttrs(sp, wt.Shape()[2:])
	if !slices.Equal(w.kernel, wt.Shape()[2:]) {
		c.fail("kernel_shape %v differs from the weight's %v", w.kernel, wt.Shape()[2:])
	}
	c.checkWindow(x, w)
	opt := F.ConvOptions{Stride: w.strides, Dilation: w.dilations, Groups: int(c.int("group", 1))}
	if w.symmetric(false) {
		opt.Padding = w.padBegin
	} else {
		x = padSpatial(x, w, 0)
	}
	if b != nil {
		b = b.To(x.DType())
	}
	switch len(sp) {
	case 1:
		return one(F.Conv1d(x, wt, b, opt))
	case 2:
		return one(F.Conv2d(x, wt, b, opt))
	}
	if opt.Padding != nil {
		x = padSpatial(x, w, 0)
	}
	y := conv3d(c, x, wt, w.strides, w.dilations, max(opt.Groups, 1))
	if b != nil {
		y = y.Add(channelView(b, y.Dim()))
	}
	return one(y)
}

func opConvTranspose(c *opCtx) []*tensor.Tensor {
	x, wt, b := c.x(0), c.x(1), c.opt(2)
	sp := spatial(c, x)
	n := len(sp)
	if wt.Dim() != x.Dim() {
		c.fail("weight of shape %v for input %v", wt.Shape(), x.Shape())
	}
	kernel := wt.Shape()[2:]
	for _, k := range kernel {
		if k < 1 {
			c.fail("empty kernel %v", kernel)
		}
	}
	if ks := c.ints("kernel_shape"); ks != nil && !slices.Equal(c.toInts(ks), kernel) {
		c.fail("kernel_shape %v differs from the weight's %v", ks, kernel)
	}
	get := func(name string, def int) []int {
		v := c.ints(name)
		if v == nil {
			out := make([]int, n)
			for i := range out {
				out[i] = def
			}
			return out
		}
		if len(v) != n {
			c.fail("%s %v for %d spatial dims", name, v, n)
		}
		return c.toInts(v)
	}
	strides, dil, outPad := get("strides", 1), get("dilations", 1), get("output_padding", 0)
	for i := range strides {
		if strides[i] < 1 || dil[i] < 1 || outPad[i] < 0 {
			c.fail("invalid strides %v, dilations %v or output_padding %v", strides, dil, outPad)
		}
	}
	pb, pe := make([]int, n), make([]int, n)
	if p := c.ints("pads"); p != nil {
		if len(p) != 2*n {
			c.fail("pads %v for %d spatial dims", p, n)
		}
		pi := c.toInts(p)
		copy(pb, pi[:n])
		copy(pe, pi[n:])
	}
	full := make([]int, n) // stride·(in−1) + dilated kernel + output padding
	big := []int{x.Size(0), wt.Size(1) * max(int(c.int("group", 1)), 1)}
	for i := range full {
		full[i] = strides[i]*(sp[i]-1) + (kernel[i]-1)*dil[i] + 1 + outPad[i]
		big = append(big, full[i])
	}
	c.checkSize(big)
	ap := c.str("auto_pad", "NOTSET")
	outShape := c.ints("output_shape")
	if outShape != nil && len(outShape) == n+2 {
		outShape = outShape[2:]
	}
	if outShape != nil || ap == "SAME_UPPER" || ap == "SAME_LOWER" {
		target := make([]int, n)
		for i := range target {
			if outShape != nil {
				if len(outShape) != n {
					c.fail("output_shape %v for %d spatial dims", outShape, n)
				}
				target[i] = int(outShape[i])
			} else {
				target[i] = sp[i] * strides[i]
			}
			total := full[i] - target[i]
			if total < 0 {
				// The output is longer than the full result: extend the end.
				pb[i], pe[i] = 0, total
				continue
			}
			if ap == "SAME_UPPER" {
				pb[i], pe[i] = total/2, total-total/2
			} else {
				pb[i], pe[i] = total-total/2, total/2
			}
		}
	}
	opt := F.ConvTransposeOptions{Stride: strides, Dilation: dil, Groups: int(c.int("group", 1))}
	var y *tensor.Tensor
	switch n {
	case 1:
		y = F.ConvTranspose1d(x, wt, nil, opt)
	case 2:
		y = F.ConvTranspose2d(x, wt, nil, opt)
	default:
		y = convTranspose3d(x, wt, strides, dil, max(opt.Groups, 1))
	}
	// Output padding adds zeros at the end, then the pads are cut.
	tp := make([]int, 2*n)
	for i := 0; i < n; i++ {
		j := n - 1 - i
		tp[2*j], tp[2*j+1] = -pb[i], outPad[i]-pe[i]
	}
	y = F.Pad(y, tp, "constant", 0)
	if b != nil {
		sh := make([]int, y.Dim())
		for i := range sh {
			sh[i] = 1
		}
		sh[1] = b.Numel()
		y = y.Add(b.To(y.DType()).Reshape(sh...))
	}
	return one(y)
}

func opMaxPool(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	sp := spatial(c, x)
	w := c.windowAttrs(sp, nil)
	c.checkWindow(x, w)
	if dt := x.DType(); !dt.IsFloat() {
		// Integer inputs pool exactly in float64.
		outs := opMaxPool(c.with(x.To(tensor.Float64)))
		outs[0] = outs[0].To(dt)
		return outs
	}
	if len(sp) == 3 {
		return one(maxPool3d(c, x, w))
	}
	ceil := c.int("ceil_mode", 0) == 1
	opt := F.PoolOptions{Stride: w.strides, Dilation: w.dilations, CeilMode: ceil}
	xp := x
	explicit := !w.symmetric(true)
	if explicit {
		xp = padSpatial(x, w, math.Inf(-1))
	} else {
		opt.Padding = w.padBegin
	}
	var v, idx *tensor.Tensor
	if len(sp) == 1 {
		v, idx = F.MaxPool1dWithIndices(xp, w.kernel, opt)
	} else {
		v, idx = F.MaxPool2dWithIndices(xp, w.kernel, opt)
	}
	if len(c.n.outputs) < 2 || c.n.outputs[1] == "" {
		return one(v)
	}
	// ONNX indices count over the whole input tensor, row-major (or
	// column-major in each plane with storage_order 1), without padding.
	psh := xp.Shape()[2:]
	plane := prod(sp)
	iv := idx.Contiguous().Int64s()
	N, C := x.Size(0), x.Size(1)
	per := idx.Numel() / max(N*C, 1)
	colMajor := c.int("storage_order", 0) == 1
	for i, p := range iv {
		nc := int64(i / per)
		var h, wi, pos int64
		if len(sp) == 1 {
			pos = p
			if explicit {
				pos -= int64(w.padBegin[0])
			}
		} else {
			h, wi = p/int64(psh[1]), p%int64(psh[1])
			if explicit {
				h -= int64(w.padBegin[0])
				wi -= int64(w.padBegin[1])
			}
			if colMajor {
				pos = wi*int64(sp[0]) + h
			} else {
				pos = h*int64(sp[1]) + wi
			}
		}
		iv[i] = nc*int64(plane) + pos
	}
	_ = C
	return []*tensor.Tensor{v, c.intTensor(iv, idx.Shape()...)}
}

func opAveragePool(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	sp := spatial(c, x)
	w := c.windowAttrs(sp, nil)
	c.checkWindow(x, w)
	include := c.int("count_include_pad", 0) == 1
	opt := F.PoolOptions{Stride: w.strides, CeilMode: c.int("ceil_mode", 0) == 1}
	for _, d := range w.dilations {
		if d != 1 {
			c.fail("dilations %v are not supported in AveragePool", w.dilations)
		}
	}
	pool := func(t *tensor.Tensor, o F.PoolOptions) *tensor.Tensor {
		switch len(sp) {
		case 1:
			return F.AvgPool1d(t, w.kernel, o)
		case 2:
			return F.AvgPool2d(t, w.kernel, o)
		}
		return F.AvgPool3d(t, w.kernel, o)
	}
	if w.symmetric(true) {
		opt.Padding = w.padBegin
		opt.ExcludePadding = !include
		return one(pool(x, opt))
	}
	xp := padSpatial(x, w, 0)
	avg := pool(xp, opt)
	if include {
		return one(avg)
	}
	ones := padSpatial(tensor.OnesLike(x.Detach().Narrow(0, 0, 1).Narrow(1, 0, 1)), w, 0)
	frac := pool(ones, opt)
	return one(avg.Div(frac))
}

func opLpPool(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	sp := spatial(c, x)
	w := c.windowAttrs(sp, nil)
	c.checkWindow(x, w)
	p := float64(c.int("p", 2))
	xp := padSpatial(x.Abs().PowScalar(p), w, 0)
	opt := F.PoolOptions{Stride: w.strides, CeilMode: c.int("ceil_mode", 0) == 1}
	var s *tensor.Tensor
	if len(sp) == 1 {
		s = F.AvgPool1d(xp, w.kernel, opt)
	} else {
		s = F.AvgPool2d(xp, w.kernel, opt)
	}
	return one(s.MulScalar(float64(prod(w.kernel))).PowScalar(1 / p))
}

func globalPool(isMax bool) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		x := c.x(0)
		if x.Dim() < 3 {
			c.fail("input must be [N, C, spatial…], has shape %v", x.Shape())
		}
		dims := make([]int, x.Dim()-2)
		for i := range dims {
			dims[i] = i + 2
		}
		if isMax {
			return one(x.AmaxKeepDim(dims...))
		}
		return one(x.MeanKeepDim(dims...))
	}
}

// channelView reshapes a per-channel vector to broadcast over x's dim 1.
func channelView(v *tensor.Tensor, rank int) *tensor.Tensor {
	sh := make([]int, rank)
	for i := range sh {
		sh[i] = 1
	}
	sh[1] = v.Numel()
	return v.Reshape(sh...)
}

func opBatchNorm(c *opCtx) []*tensor.Tensor {
	x, scale, b, mean, vr := c.x(0), c.x(1), c.x(2), c.x(3), c.x(4)
	eps := c.float("epsilon", 1e-5)
	if x.Dim() < 2 {
		c.fail("input must be [N, C, …], has shape %v", x.Shape())
	}
	dt := x.DType()
	scale, b, mean, vr = scale.To(dt), b.To(dt), mean.To(dt), vr.To(dt)
	training := c.opset >= 14 && c.int("training_mode", 0) == 1
	if !training {
		if x.Dim() == 2 || x.Dim() > 4 {
			r := x.Dim()
			y := x.Sub(channelView(mean, r)).Mul(channelView(vr.AddScalar(eps).Rsqrt().Mul(scale), r)).Add(channelView(b, r))
			return one(y)
		}
		return one(F.BatchNorm(x, mean, vr, scale, b, false, 0, eps))
	}
	momentum := c.float("momentum", 0.9)
	dims := []int{0}
	for i := 2; i < x.Dim(); i++ {
		dims = append(dims, i)
	}
	r := x.Dim()
	bm := x.MeanKeepDim(dims...)
	bv := x.Sub(bm).Square().MeanKeepDim(dims...)
	y := x.Sub(bm).Mul(bv.AddScalar(eps).Rsqrt()).Mul(channelView(scale, r)).Add(channelView(b, r))
	flatM, flatV := bm.Reshape(-1), bv.Reshape(-1)
	runM := mean.MulScalar(momentum).Add(flatM.MulScalar(1 - momentum))
	runV := vr.MulScalar(momentum).Add(flatV.MulScalar(1 - momentum))
	return []*tensor.Tensor{y, runM, runV}
}

func opInstanceNorm(c *opCtx) []*tensor.Tensor {
	x, scale, b := c.x(0), c.x(1), c.x(2)
	eps := c.float("epsilon", 1e-5)
	if x.Dim() < 3 {
		c.fail("input must be [N, C, spatial…], has shape %v", x.Shape())
	}
	dims := make([]int, x.Dim()-2)
	for i := range dims {
		dims[i] = i + 2
	}
	r := x.Dim()
	m := x.MeanKeepDim(dims...)
	d := x.Sub(m)
	v := d.Square().MeanKeepDim(dims...)
	y := d.Mul(v.AddScalar(eps).Rsqrt()).Mul(channelView(scale.To(x.DType()), r)).Add(channelView(b.To(x.DType()), r))
	return one(y)
}

// opLayerNorm is LayerNormalization (opset 17) with its optional Mean and
// InvStdDev outputs.
func opLayerNorm(c *opCtx) []*tensor.Tensor {
	x, scale, b := c.x(0), c.x(1), c.opt(2)
	a := c.axis(c.int("axis", -1), x.Dim())
	eps := c.float("epsilon", 1e-5)
	dt := x.DType()
	xs := x
	if c.int("stash_type", 1) == 1 && dt.IsHalf() {
		xs = x.To(tensor.Float32)
	}
	dims := make([]int, 0, x.Dim()-a)
	for i := a; i < x.Dim(); i++ {
		dims = append(dims, i)
	}
	m := xs.MeanKeepDim(dims...)
	d := xs.Sub(m)
	inv := d.Square().MeanKeepDim(dims...).AddScalar(eps).Rsqrt()
	y := d.Mul(inv).To(dt).Mul(scale.To(dt))
	if b != nil {
		y = y.Add(b.To(dt))
	}
	return []*tensor.Tensor{y, m, inv}
}

func opLRN(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	size := int(c.int("size", 0))
	if size < 1 {
		c.fail("size must be positive")
	}
	alpha, beta, bias := c.float("alpha", 1e-4), c.float("beta", 0.75), c.float("bias", 1)
	if x.Dim() < 3 {
		c.fail("input must be [N, C, spatial…], has shape %v", x.Shape())
	}
	// Window [c − lo, c + hi] around channel c; parts beyond the channels
	// add only zeros.
	lo := min((size-1)/2, x.Size(1))
	hi := min(size-1-(size-1)/2, x.Size(1))
	sq := x.Square()
	// Pad the channel dim and add size shifted windows.
	p := make([]int, 2*x.Dim())
	j := x.Dim() - 1 - 1
	p[2*j], p[2*j+1] = lo, hi
	sp := F.Pad(sq, p, "constant", 0)
	C := x.Size(1)
	sum := sp.Narrow(1, 0, C)
	for k := 1; k <= lo+hi; k++ {
		sum = sum.Add(sp.Narrow(1, k, C))
	}
	den := sum.MulScalar(alpha / float64(size)).AddScalar(bias).PowScalar(beta)
	return one(x.Div(den))
}

func opMVN(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	axes := c.ints("axes")
	if axes == nil {
		axes = []int64{0, 2, 3}
	}
	dims := c.axes(axes, x.Dim())
	m := x.MeanKeepDim(dims...)
	v := x.Square().MeanKeepDim(dims...).Sub(m.Square())
	return one(x.Sub(m).Div(v.Sqrt().AddScalar(1e-9)))
}

func opLpNorm(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	a := c.axis(c.int("axis", -1), x.Dim())
	var n *tensor.Tensor
	switch c.int("p", 2) {
	case 1:
		n = x.Abs().SumKeepDim(a)
	case 2:
		n = x.Square().SumKeepDim(a).Sqrt()
	default:
		c.fail("p must be 1 or 2")
	}
	return one(x.Div(n))
}

func opGemm(c *opCtx) []*tensor.Tensor {
	a, b, cc := c.x(0), c.x(1), c.opt(2)
	if a.Dim() != 2 || b.Dim() != 2 {
		c.fail("A %v and B %v must be matrices", a.Shape(), b.Shape())
	}
	if c.int("transA", 0) == 1 {
		a = a.T()
	}
	if c.int("transB", 0) == 1 {
		b = b.T()
	}
	y := a.MatMul(b)
	if alpha := c.float("alpha", 1); alpha != 1 {
		y = y.MulScalar(alpha)
	}
	if cc != nil {
		if beta := c.float("beta", 1); beta != 1 {
			cc = cc.MulScalar(beta)
		}
		y = y.Add(cc.To(y.DType()))
	}
	return one(y)
}
