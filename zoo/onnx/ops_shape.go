package onnx

import (
	"math"
	"slices"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// Shape and movement operators: they rearrange elements without computing
// new values. Views (Reshape, Transpose, Slice with a positive step…)
// share storage with their input, as in Tapir.

func init() {
	register(func(c *opCtx) []*tensor.Tensor { return one(c.x(0)) }, "Identity")
	register(opDropout, "Dropout")
	register(opCast, "Cast")
	register(func(c *opCtx) []*tensor.Tensor { return one(c.x(0).To(c.x(1).DType())) }, "CastLike")
	register(opShape, "Shape")
	register(func(c *opCtx) []*tensor.Tensor {
		return one(c.intTensor([]int64{int64(c.x(0).Numel())}, []int{}...))
	}, "Size")
	register(opReshape, "Reshape")
	register(opFlatten, "Flatten")
	register(opSqueeze, "Squeeze")
	register(opUnsqueeze, "Unsqueeze")
	register(opTranspose, "Transpose")
	register(opConcat, "Concat")
	register(opSplit, "Split")
	register(opSlice, "Slice")
	register(opExpand, "Expand")
	register(opTile, "Tile")
	register(opPad, "Pad")
	register(opConstantOfShape, "ConstantOfShape")
	register(opRange, "Range")
	register(opEyeLike, "EyeLike")
	register(opTrilu, "Trilu")
	register(opDepthToSpace, "DepthToSpace")
	register(opSpaceToDepth, "SpaceToDepth")
}

func opDropout(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	ratio := c.float("ratio", 0.5)
	if t := c.opt(1); t != nil {
		ratio = t.Item()
	}
	training := false
	if t := c.opt(2); t != nil {
		training = t.Item() != 0
	}
	mask := c.full(tensor.Bool, 1, x.Shape()...)
	if !training || ratio == 0 {
		return []*tensor.Tensor{x, mask}
	}
	y := F.Dropout(x, ratio, true)
	return []*tensor.Tensor{y, y.NeScalar(0)}
}

func opCast(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	to := int32(c.int("to", 0))
	dt, err := dtypeOf(to)
	if err != nil {
		c.fail("cast to %s: %v", typeName(to), err)
	}
	if dt == tensor.Bool && x.DType() != tensor.Bool {
		return one(x.NeScalar(0))
	}
	if x.DType().IsFloat() && !dt.IsFloat() {
		// Float to integer conversion truncates toward zero, as C casts do.
		return one(trunc(x.Detach()).To(dt))
	}
	return one(x.To(dt))
}

// opShape is Shape, with the start and end attributes of opset 15.
func opShape(c *opCtx) []*tensor.Tensor {
	sh := c.x(0).Shape()
	r := int64(len(sh))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end := clamp(c.int("start", 0)), clamp(c.int("end", r))
	out := []int64{}
	for i := start; i < end; i++ {
		out = append(out, int64(sh[i]))
	}
	return one(c.intTensor(out))
}

// reshapeTarget resolves an ONNX shape: 0 copies the input's dim (unless
// allowZero), −1 is inferred.
func (c *opCtx) reshapeTarget(in []int, shape []int64, allowZero bool) []int {
	out := make([]int, len(shape))
	infer := -1
	known := 1
	for i, s := range shape {
		switch {
		case s == -1:
			if infer >= 0 {
				c.fail("shape %v has more than one -1", shape)
			}
			infer = i
			continue
		case s == 0 && !allowZero:
			if i >= len(in) {
				c.fail("shape %v copies dim %d of an input of rank %d", shape, i, len(in))
			}
			out[i] = in[i]
		case s < 0:
			c.fail("invalid shape %v", shape)
		default:
			out[i] = int(min(s, math.MaxInt32))
		}
		known *= out[i]
	}
	n := prod(in)
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			c.fail("cannot reshape %v into %v", in, shape)
		}
		out[infer] = n / known
	} else if known != n {
		c.fail("cannot reshape %v into %v", in, shape)
	}
	return out
}

func opReshape(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	var shape []int64
	if c.opset < 5 {
		shape = c.ints("shape")
	} else {
		shape = c.hostInts(c.x(1))
	}
	return one(x.Reshape(c.reshapeTarget(x.Shape(), shape, c.int("allowzero", 0) == 1)...))
}

func opFlatten(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	sh := x.Shape()
	a := c.int("axis", 1)
	if a < 0 {
		a += int64(len(sh))
	}
	if a < 0 || a > int64(len(sh)) {
		c.fail("axis %d is out of range for rank %d", c.int("axis", 1), len(sh))
	}
	return one(x.Reshape(prod(sh[:a]), prod(sh[a:])))
}

// axesArg reads the axes of Squeeze, Unsqueeze and the reductions: an
// attribute before opset since, the optional input idx after.
func (c *opCtx) axesArg(since int64, idx int) ([]int64, bool) {
	if c.opset < since {
		v := c.ints("axes")
		return v, c.has("axes")
	}
	return c.optInts(idx)
}

func opSqueeze(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	axes, _ := c.axesArg(13, 1)
	if len(axes) == 0 {
		return one(x.Squeeze())
	}
	dims := c.axes(axes, x.Dim())
	for _, d := range dims {
		if x.Size(d) != 1 {
			c.fail("cannot squeeze dim %d of size %d (shape %v)", d, x.Size(d), x.Shape())
		}
	}
	return one(x.Squeeze(dims...))
}

func opUnsqueeze(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	axes, _ := c.axesArg(13, 1)
	r := x.Dim() + len(axes)
	dims := c.axes(axes, r)
	slices.Sort(dims)
	for _, d := range dims {
		x = x.Unsqueeze(d)
	}
	return one(x)
}

func opTranspose(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	perm := c.ints("perm")
	if perm == nil {
		p := make([]int, x.Dim())
		for i := range p {
			p[i] = x.Dim() - 1 - i
		}
		return one(x.Permute(p...))
	}
	if len(perm) != x.Dim() {
		c.fail("perm %v for rank %d", perm, x.Dim())
	}
	return one(x.Permute(c.axes(perm, x.Dim())...))
}

func opConcat(c *opCtx) []*tensor.Tensor {
	ts := make([]*tensor.Tensor, 0, len(c.in))
	for i := range c.in {
		ts = append(ts, c.x(i))
	}
	a := c.axis(c.int("axis", 0), ts[0].Dim())
	if len(ts) == 1 {
		return one(ts[0])
	}
	return one(tensor.Cat(ts, a))
}

func opSplit(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	a := c.axis(c.int("axis", 0), x.Dim())
	n := x.Size(a)
	var split []int64
	if c.opset < 13 {
		split = c.ints("split")
	} else {
		split, _ = c.optInts(1)
	}
	outs := len(c.n.outputs)
	if split == nil {
		if outs == 0 {
			c.fail("no outputs")
		}
		size := (n + outs - 1) / outs
		for i := 0; i < outs; i++ {
			s := min(size, n-i*size)
			split = append(split, int64(max(s, 0)))
		}
	}
	total := int64(0)
	for _, s := range split {
		if s < 0 {
			c.fail("negative split %v", split)
		}
		total += s
	}
	if total != int64(n) {
		c.fail("split %v does not add up to %d", split, n)
	}
	res := make([]*tensor.Tensor, len(split))
	off := 0
	for i, s := range split {
		res[i] = x.Narrow(a, off, int(s))
		off += int(s)
	}
	return res
}

// sliceRange resolves ONNX Slice's start, end and step against a dim of
// size n, returning the selected indices' first element, count and step.
func sliceRange(start, end, step int64, n int) (first, count int) {
	dn := int64(n)
	if start < 0 {
		start += dn
	}
	if end < 0 {
		end += dn
	}
	if step > 0 {
		start = min(max(start, 0), dn)
		end = min(max(end, 0), dn)
		if end <= start {
			return int(start), 0
		}
		return int(start), int((end - start + step - 1) / step)
	}
	start = min(max(start, -1), dn-1)
	end = min(max(end, -1), dn-1)
	if start <= end {
		return int(start), 0
	}
	return int(start), int((start - end + (-step) - 1) / (-step))
}

func opSlice(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	var starts, ends, axes, steps []int64
	if c.opset < 10 {
		starts, ends, axes = c.ints("starts"), c.ints("ends"), c.ints("axes")
	} else {
		starts, ends = c.hostInts(c.x(1)), c.hostInts(c.x(2))
		axes, _ = c.optInts(3)
		steps, _ = c.optInts(4)
	}
	if len(starts) != len(ends) {
		c.fail("starts %v and ends %v differ in length", starts, ends)
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		c.fail("starts, ends, axes and steps differ in length")
	}
	dims := c.axes(axes, x.Dim())
	for i, d := range dims {
		step := steps[i]
		if step == 0 {
			c.fail("step 0")
		}
		n := x.Size(d)
		first, count := sliceRange(starts[i], ends[i], step, n)
		switch {
		case count == 0:
			x = x.Narrow(d, 0, 0)
		case step > 0:
			st := int(min(step, int64(n)))
			x = x.Slice(d, first, first+(count-1)*st+1, st)
		default:
			idx := make([]int64, count)
			for j := range idx {
				idx[j] = int64(first) + int64(j)*step
			}
			x = x.IndexSelect(d, c.intTensor(idx))
		}
	}
	return one(x)
}

func opExpand(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	shape := c.toInts(c.hostInts(c.x(1)))
	out, ok := broadcastShape(x.Shape(), shape)
	if !ok {
		c.fail("cannot expand %v to %v", x.Shape(), shape)
	}
	c.checkSize(out)
	for x.Dim() < len(out) {
		x = x.Unsqueeze(0)
	}
	return one(x.Expand(out...))
}

func opTile(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	reps := c.toInts(c.hostInts(c.x(1)))
	if len(reps) != x.Dim() {
		c.fail("repeats %v for rank %d", reps, x.Dim())
	}
	sh := x.Shape()
	for i := range sh {
		if reps[i] < 0 {
			c.fail("negative repeats %v", reps)
		}
		sh[i] *= reps[i]
	}
	c.checkSize(sh)
	if x.Dim() == 0 {
		return one(x)
	}
	return one(x.Repeat(reps...))
}

func opPad(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	var pads []int64
	value := 0.0
	if c.opset < 11 {
		pads = c.ints("pads")
		if pads == nil {
			pads = c.ints("paddings") // opset 1
		}
		value = c.float("value", 0)
	} else {
		pads = c.hostInts(c.x(1))
		if t := c.opt(2); t != nil && t.Numel() > 0 {
			value = t.Reshape(-1).Select(0, 0).Item()
		}
	}
	r := x.Dim()
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if a, ok := c.optInts(3); ok {
		axes = c.axes(a, r)
	}
	if len(pads) != 2*len(axes) {
		c.fail("pads %v for %d axes", pads, len(axes))
	}
	// Tapir's pad lists (before, after) pairs from the last dim.
	tp := make([]int, 2*r)
	sh := x.Shape()
	for i, a := range axes {
		lo, hi := int(pads[i]), int(pads[i+len(axes)])
		j := r - 1 - a
		tp[2*j], tp[2*j+1] = lo, hi
		sh[a] += lo + hi
	}
	c.checkSize(sh)
	mode := c.str("mode", "constant")
	switch mode {
	case "constant":
		return one(F.Pad(x, tp, "constant", value))
	case "reflect":
		return one(F.Pad(x, tp, "reflect", 0))
	case "edge":
		return one(F.Pad(x, tp, "replicate", 0))
	case "wrap":
		return one(F.Pad(x, tp, "circular", 0))
	}
	c.fail("unknown mode %q", mode)
	return nil
}

func opConstantOfShape(c *opCtx) []*tensor.Tensor {
	shape := c.toInts(c.hostInts(c.x(0)))
	v := c.tensorAttr("value")
	if v == nil {
		return one(c.full(tensor.Float32, 0, shape...))
	}
	if v.Numel() != 1 {
		c.fail("value must have one element, has %d", v.Numel())
	}
	c.checkSize(shape)
	return one(c.full(v.DType(), v.Reshape(-1).Select(0, 0).Item(), shape...))
}

func opRange(c *opCtx) []*tensor.Tensor {
	s, l, d := c.x(0), c.x(1), c.x(2)
	dt := s.DType()
	if !dt.IsFloat() {
		a, b, st := s.Int64s()[0], l.Int64s()[0], d.Int64s()[0]
		if st == 0 {
			c.fail("delta is 0")
		}
		n := int64(0)
		if st > 0 && b > a {
			n = (b - a + st - 1) / st
		} else if st < 0 && b < a {
			n = (a - b - st - 1) / -st
		}
		c.checkSize([]int{int(min(n, math.MaxInt32))})
		v := make([]int64, n)
		for i := range v {
			v[i] = a + int64(i)*st
		}
		return one(c.dev(tensor.FromSlice(v)).To(dt))
	}
	a, b, st := s.Float64s()[0], l.Float64s()[0], d.Float64s()[0]
	if st == 0 || math.IsNaN(a+b+st) {
		c.fail("invalid range (%v, %v, %v)", a, b, st)
	}
	nf := math.Max(math.Ceil((b-a)/st), 0)
	c.checkSize([]int{int(min(nf, math.MaxInt32))})
	n := int(nf)
	v := make([]float64, n)
	for i := range v {
		v[i] = a + float64(i)*st
	}
	return one(c.dev(tensor.FromSlice(v)).To(dt))
}

func opEyeLike(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if x.Dim() != 2 {
		c.fail("input must be 2-d, has shape %v", x.Shape())
	}
	dt := x.DType()
	if c.has("dtype") {
		var err error
		if dt, err = dtypeOf(int32(c.int("dtype", 0))); err != nil {
			c.fail("%v", err)
		}
	}
	k := int(c.int("k", 0))
	n, m := x.Size(0), x.Size(1)
	v := make([]float64, n*m)
	for i := 0; i < n; i++ {
		if j := i + k; j >= 0 && j < m {
			v[i*m+j] = 1
		}
	}
	return one(c.dev(tensor.FromSlice(v, n, m)).To(dt))
}

// opTrilu keeps the upper (or lower) triangle of the last two dims,
// from diagonal k.
func opTrilu(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if x.Dim() < 2 {
		c.fail("input must have at least 2 dims, has shape %v", x.Shape())
	}
	k := int64(0)
	if v, ok := c.optInts(1); ok {
		if len(v) != 1 {
			c.fail("k must be a scalar")
		}
		k = v[0]
	}
	upper := c.int("upper", 1) == 1
	n, m := x.Size(-2), x.Size(-1)
	mask := make([]bool, n*m)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			if upper {
				mask[i*m+j] = int64(j-i) >= k
			} else {
				mask[i*m+j] = int64(j-i) <= k
			}
		}
	}
	mt := c.dev(tensor.FromSlice(mask, n, m))
	return one(tensor.Where(mt, x, c.full(x.DType(), 0)))
}

func opDepthToSpace(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if x.Dim() != 4 {
		c.fail("input must be 4-d, has shape %v", x.Shape())
	}
	b := int(c.int("blocksize", 0))
	if b <= 0 {
		c.fail("blocksize must be positive")
	}
	n, ch, h, w := x.Size(0), x.Size(1), x.Size(2), x.Size(3)
	if ch%(b*b) != 0 {
		c.fail("channels %d are not a multiple of blocksize² %d", ch, b*b)
	}
	co := ch / (b * b)
	var y *tensor.Tensor
	if c.str("mode", "DCR") == "CRD" {
		y = x.Reshape(n, co, b, b, h, w).Permute(0, 1, 4, 2, 5, 3)
	} else {
		y = x.Reshape(n, b, b, co, h, w).Permute(0, 3, 4, 1, 5, 2)
	}
	return one(y.Reshape(n, co, h*b, w*b))
}

func opSpaceToDepth(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if x.Dim() != 4 {
		c.fail("input must be 4-d, has shape %v", x.Shape())
	}
	b := int(c.int("blocksize", 0))
	if b <= 0 {
		c.fail("blocksize must be positive")
	}
	n, ch, h, w := x.Size(0), x.Size(1), x.Size(2), x.Size(3)
	if h%b != 0 || w%b != 0 {
		c.fail("spatial size %dx%d is not a multiple of blocksize %d", h, w, b)
	}
	y := x.Reshape(n, ch, h/b, b, w/b, b).Permute(0, 3, 5, 1, 2, 4)
	return one(y.Reshape(n, ch*b*b, h/b, w/b))
}
