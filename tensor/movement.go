package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// makeView returns a view of t's storage and records it when t is part
// of a graph.
func (t *Tensor) makeView(shape, strides []int, offset int, id opID, attrs any) *Tensor {
	out := fromStorage(t.st, shape, strides, offset)
	out.isView = true
	if needsGrad(t) {
		out.base, out.baseFn = t, t.gradFn
		record(id, attrs, []*Tensor{t}, []*Tensor{out})
	}
	return out
}

// inferShape resolves one −1 entry and checks the element count.
func inferShape(op string, shape []int, numel int, from []int) []int {
	out := append([]int(nil), shape...)
	infer := -1
	for i, s := range out {
		switch {
		case s == -1:
			if infer >= 0 {
				fail(op, ErrShape, "only one dimension can be inferred in %v", shape)
			}
			infer = i
		case s < 0:
			fail(op, ErrShape, "invalid shape %v", shape)
		}
	}
	known := shapeProduct(op, out) // the −1 left out
	if infer >= 0 {
		if known == 0 || numel%known != 0 {
			fail(op, ErrShape, "shape %v is invalid for input of shape %v (%d elements)", shape, from, numel)
		}
		out[infer] = numel / known
	} else if known != numel {
		fail(op, ErrShape, "shape %v is invalid for input of shape %v (%d elements)", shape, from, numel)
	}
	return out
}

// viewStrides returns strides that let a tensor of (shape, strides) be
// seen with newShape without copying, or nil if none exist. It walks
// groups of dims that are contiguous with each other, as torch's view does.
func viewStrides(shape, strides, newShape []int) []int {
	out := make([]int, len(newShape))
	if backend.Numel(shape) == 0 || len(shape) == 0 {
		copy(out, backend.ContiguousStrides(newShape))
		return out
	}
	viewD := len(newShape) - 1
	base := strides[len(strides)-1]
	tensorNumel, viewNumel := 1, 1
	for d := len(shape) - 1; d >= 0; d-- {
		tensorNumel *= shape[d]
		if d == 0 || (shape[d-1] != 1 && strides[d-1] != tensorNumel*base) {
			for viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
				out[viewD] = viewNumel * base
				viewNumel *= newShape[viewD]
				viewD--
			}
			if viewNumel != tensorNumel {
				return nil
			}
			if d > 0 {
				base = strides[d-1]
				tensorNumel, viewNumel = 1, 1
			}
		}
	}
	if viewD != -1 {
		return nil
	}
	return out
}

// Reshape returns t with a new shape of the same element count (one dim
// may be −1). It is a view when the strides allow, else a copy.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	sh := inferShape("reshape", shape, t.Numel(), t.shape)
	if st := viewStrides(t.shape, t.strides, sh); st != nil {
		return t.makeView(sh, st, t.offset, opReshape, nil)
	}
	c := t.Clone()
	return c.makeView(sh, backend.ContiguousStrides(sh), 0, opReshape, nil)
}

// View is Reshape that never copies: it panics with ErrShape when t's
// strides do not allow the new shape.
func (t *Tensor) View(shape ...int) *Tensor {
	sh := inferShape("view", shape, t.Numel(), t.shape)
	st := viewStrides(t.shape, t.strides, sh)
	if st == nil {
		fail("view", ErrShape, "shape %v with strides %v cannot be viewed as %v; use Reshape", t.shape, t.strides, sh)
	}
	return t.makeView(sh, st, t.offset, opReshape, nil)
}

// Flatten merges dims startDim…endDim (inclusive; negative counts from
// the end) into one.
func (t *Tensor) Flatten(startDim, endDim int) *Tensor {
	if t.Dim() == 0 {
		scalarDim("flatten", startDim)
		scalarDim("flatten", endDim)
		return t.Reshape(1)
	}
	s, e := t.normDim("flatten", startDim), t.normDim("flatten", endDim)
	if s > e {
		fail("flatten", ErrIndex, "start dim %d comes after end dim %d", startDim, endDim)
	}
	sh := append([]int(nil), t.shape[:s]...)
	sh = append(sh, backend.Numel(t.shape[s:e+1]))
	sh = append(sh, t.shape[e+1:]...)
	return t.Reshape(sh...)
}

// Squeeze drops the given dims if they have size 1 (every size-1 dim when
// none are given).
func (t *Tensor) Squeeze(dims ...int) *Tensor {
	drop := make([]bool, t.Dim())
	if len(dims) == 0 {
		for i, s := range t.shape {
			drop[i] = s == 1
		}
	} else if t.Dim() > 0 {
		for _, d := range dims {
			d = t.normDim("squeeze", d)
			drop[d] = t.shape[d] == 1
		}
	} else {
		for _, d := range dims {
			scalarDim("squeeze", d)
		}
	}
	var sh, st []int
	for i := range t.shape {
		if !drop[i] {
			sh = append(sh, t.shape[i])
			st = append(st, t.strides[i])
		}
	}
	if sh == nil {
		sh, st = []int{}, []int{}
	}
	return t.makeView(sh, st, t.offset, opReshape, nil)
}

// Unsqueeze inserts a size-1 dim at position dim (−1 appends).
func (t *Tensor) Unsqueeze(dim int) *Tensor {
	n := t.Dim()
	if dim < -(n+1) || dim > n {
		fail("unsqueeze", ErrIndex, "dim %d out of range for a %d-d tensor", dim, n)
	}
	if dim < 0 {
		dim += n + 1
	}
	stride := 1
	if dim < n {
		stride = t.strides[dim] * t.shape[dim]
	}
	sh := append(append(append([]int(nil), t.shape[:dim]...), 1), t.shape[dim:]...)
	st := append(append(append([]int(nil), t.strides[:dim]...), stride), t.strides[dim:]...)
	return t.makeView(sh, st, t.offset, opReshape, nil)
}

// Permute reorders the dims: result dim i is t's dim dims[i].
func (t *Tensor) Permute(dims ...int) *Tensor {
	if len(dims) != t.Dim() {
		fail("permute", ErrShape, "permutation %v for a %d-d tensor", dims, t.Dim())
	}
	seen := make([]bool, len(dims))
	p := make([]int, len(dims))
	sh := make([]int, len(dims))
	st := make([]int, len(dims))
	for i, d := range dims {
		d = t.normDim("permute", d)
		if seen[d] {
			fail("permute", ErrIndex, "dim %d repeated in %v", d, dims)
		}
		seen[d] = true
		p[i] = d
		sh[i], st[i] = t.shape[d], t.strides[d]
	}
	return t.makeView(sh, st, t.offset, opPermute, p)
}

// Transpose swaps two dims.
func (t *Tensor) Transpose(dim0, dim1 int) *Tensor {
	p := make([]int, t.Dim())
	for i := range p {
		p[i] = i
	}
	if t.Dim() == 0 {
		scalarDim("transpose", dim0)
		scalarDim("transpose", dim1)
	} else {
		a, b := t.normDim("transpose", dim0), t.normDim("transpose", dim1)
		p[a], p[b] = p[b], p[a]
	}
	return t.Permute(p...)
}

// T reverses the dims: the transpose of a matrix; a 0-d or 1-d tensor
// comes back as is.
func (t *Tensor) T() *Tensor {
	if t.Dim() < 2 {
		return t
	}
	p := make([]int, t.Dim())
	for i := range p {
		p[i] = t.Dim() - 1 - i
	}
	return t.Permute(p...)
}

// Expand views t with a larger shape: size-1 dims stretch (stride 0) and
// new dims may be added in front; −1 keeps a dim's size.
func (t *Tensor) Expand(shape ...int) *Tensor {
	if len(shape) < t.Dim() {
		fail("expand", ErrShape, "cannot expand shape %v to %v: fewer dims", t.shape, shape)
	}
	off := len(shape) - t.Dim()
	sh := make([]int, len(shape))
	st := make([]int, len(shape))
	for i, s := range shape {
		if i < off {
			if s < 0 {
				fail("expand", ErrShape, "cannot expand shape %v to %v: -1 for a new dim", t.shape, shape)
			}
			sh[i] = s
			continue
		}
		cur := t.shape[i-off]
		switch {
		case s == -1 || s == cur:
			sh[i], st[i] = cur, t.strides[i-off]
		case cur == 1 && s >= 0:
			sh[i] = s
		default:
			fail("expand", ErrShape, "cannot expand shape %v to %v: dim %d has size %d, not 1", t.shape, shape, i, cur)
		}
	}
	return t.makeView(sh, st, t.offset, opExpand, nil)
}

// ExpandAs is Expand to o's shape.
func (t *Tensor) ExpandAs(o *Tensor) *Tensor { return t.Expand(o.shape...) }

// Slice takes elements start, start+step, … below end along dim, as
// t[start:end:step] in Python: negative start and end count from the end
// and are clamped to the dim; step must be positive.
func (t *Tensor) Slice(dim, start, end, step int) *Tensor {
	d := t.normDim("slice", dim)
	if step <= 0 {
		fail("slice", ErrIndex, "step must be positive, not %d", step)
	}
	n := t.shape[d]
	clampIdx := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	start, end = clampIdx(start), clampIdx(end)
	length := 0
	if end > start {
		length = (end - start + step - 1) / step
	}
	sh := t.Shape()
	st := t.Strides()
	sh[d] = length
	st[d] = t.strides[d] * step
	return t.makeView(sh, st, t.offset+start*t.strides[d], opSlice, sliceAttr{d, start, end, step})
}

// Narrow takes length elements from start along dim (start may be
// negative); the range must lie inside the dim.
func (t *Tensor) Narrow(dim, start, length int) *Tensor {
	d := t.normDim("narrow", dim)
	n := t.shape[d]
	if start < 0 {
		start += n
	}
	if start < 0 || length < 0 || start+length > n {
		fail("narrow", ErrIndex, "range [%d, %d) out of dim %d of size %d", start, start+length, d, n)
	}
	return t.Slice(d, start, start+length, 1)
}

// Select takes index i along dim and drops the dim.
func (t *Tensor) Select(dim, i int) *Tensor {
	d := t.normDim("select", dim)
	return t.Narrow(d, i, 1).Squeeze(d)
}

// Chunk splits t into n pieces along dim, each of ⌈size/n⌉ elements but
// the last (fewer than n pieces when the dim is short).
func (t *Tensor) Chunk(n, dim int) []*Tensor {
	if n <= 0 {
		fail("chunk", ErrShape, "number of chunks must be positive, not %d", n)
	}
	d := t.normDim("chunk", dim)
	size := (t.shape[d] + n - 1) / n
	if size == 0 {
		size = 1
	}
	return t.Split(size, d)
}

// Split splits t into pieces of size elements along dim (the last may be
// smaller). The pieces are views of t, recorded as one op whose backward
// is a single Cat of their gradients (zeros for pieces left unused), so
// using every piece costs time linear in t's size.
func (t *Tensor) Split(size, dim int) []*Tensor {
	if size <= 0 {
		fail("split", ErrShape, "split size must be positive, not %d", size)
	}
	d := t.normDim("split", dim)
	n := t.shape[d]
	sizes := make([]int, 0, max(1, (n+size-1)/size))
	for s := 0; s < n; s += size {
		sizes = append(sizes, min(size, n-s))
	}
	if n == 0 {
		sizes = append(sizes, 0)
	}
	return t.splitSizes("split", sizes, d)
}

// SplitSizes splits t along dim into consecutive pieces of the given
// sizes, which must add up to the dim's length (torch.split with a list).
// Like Split, the pieces are views recorded as one op.
func (t *Tensor) SplitSizes(sizes []int, dim int) []*Tensor {
	const op = "split_with_sizes"
	d := t.normDim(op, dim)
	total := 0
	for _, s := range sizes {
		if s < 0 {
			fail(op, ErrShape, "negative split size in %v", sizes)
		}
		total += s
	}
	if total != t.shape[d] || len(sizes) == 0 {
		fail(op, ErrShape, "split sizes %v do not add up to dim %d of size %d (shape %v)", sizes, d, t.shape[d], t.shape)
	}
	return t.splitSizes(op, append([]int(nil), sizes...), d)
}

// Unbind removes dim, returning every slice along it (torch.unbind): the
// pieces of Split(1, dim) with dim squeezed out.
func (t *Tensor) Unbind(dim int) []*Tensor {
	d := t.normDim("unbind", dim)
	if t.shape[d] == 0 {
		return []*Tensor{}
	}
	ps := t.Split(1, d)
	for i, p := range ps {
		ps[i] = p.Squeeze(d)
	}
	return ps
}

// splitSizes makes the views of a split along dim d into pieces of the
// given sizes (checked by the caller), and records them as one node.
func (t *Tensor) splitSizes(op string, sizes []int, d int) []*Tensor {
	out := make([]*Tensor, len(sizes))
	sh := append([]int(nil), t.shape...)
	off := t.offset
	for i, s := range sizes {
		sh[d] = s
		p := fromStorage(t.st, sh, t.strides, off)
		p.isView = true
		out[i] = p
		off += s * t.strides[d]
	}
	if needsGrad(t) {
		for _, p := range out {
			p.base, p.baseFn = t, t.gradFn
		}
		record(opSplit, splitAttr{Dim: d, Sizes: sizes}, []*Tensor{t}, out)
	}
	return out
}

// Flip reverses the order of elements along dims, into a new tensor.
func (t *Tensor) Flip(dims ...int) *Tensor {
	ds := t.normDims("flip", dims)
	if len(dims) == 0 {
		ds = nil
	}
	st := t.Strides()
	off := t.offset
	for _, d := range ds {
		if t.shape[d] > 0 {
			off += (t.shape[d] - 1) * st[d]
		}
		st[d] = -st[d]
	}
	out := emptyLike("flip", t, t.DType())
	t.be().Copy(out.view(), t.viewAs(t.shape, st, off))
	runtime.KeepAlive(t)
	if needsGrad(t) {
		record(opFlip, ds, []*Tensor{t}, []*Tensor{out})
	}
	return out
}

// Repeat tiles t times[i] times along each dim; extra leading entries of
// times add dims, as torch.Tensor.repeat.
func (t *Tensor) Repeat(times ...int) *Tensor {
	if len(times) < t.Dim() {
		fail("repeat", ErrShape, "%d repeat counts for a %d-d tensor", len(times), t.Dim())
	}
	lead := len(times) - t.Dim()
	src := make([]int, len(times))
	for i := range src {
		src[i] = 1
		if i >= lead {
			src[i] = t.shape[i-lead]
		}
	}
	inter := make([]int, 0, 2*len(times))
	big := make([]int, 0, 2*len(times))
	final := make([]int, len(times))
	for i, r := range times {
		if r < 0 {
			fail("repeat", ErrShape, "negative repeat count %d", r)
		}
		inter = append(inter, 1, src[i])
		big = append(big, r, src[i])
		final[i] = r * src[i]
	}
	return t.Reshape(inter...).Expand(big...).Contiguous().Reshape(final...)
}
