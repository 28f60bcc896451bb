package tensor

import (
	"runtime"
)

// asIndex checks an index tensor and returns it as Int64.
func asIndex(op string, index *Tensor) *Tensor {
	switch index.DType() {
	case Int64:
		return index
	case Int32, Uint8:
		return index.To(Int64)
	}
	fail(op, ErrDType, "index must be an integer tensor, not %v", index.DType())
	return nil
}

func indexFail(op string, err error) {
	if err != nil {
		fail(op, ErrIndex, "%v", err)
	}
}

// IndexSelect picks the entries index (1-d, integer) along dim:
// out.select(dim, i) = t.select(dim, index[i]).
func (t *Tensor) IndexSelect(dim int, index *Tensor) *Tensor {
	const op = "index_select"
	sameDevice(op, t, index)
	index = asIndex(op, index)
	if index.Dim() > 1 {
		fail(op, ErrShape, "index must be 1-d, not shape %v", index.shape)
	}
	if t.Dim() == 0 {
		scalarDim(op, dim)
		return t.Reshape(1).IndexSelect(0, index).Reshape(index.shape...)
	}
	d := t.normDim(op, dim)
	sh := t.Shape()
	sh[d] = index.Numel()
	out := empty(op, t.Device(), t.DType(), sh)
	idx := index
	if idx.Dim() == 0 {
		idx = idx.Reshape(1)
	}
	indexFail(op, t.be().IndexSelect(out.view(), t.view(), d, idx.view()))
	runtime.KeepAlive(t)
	runtime.KeepAlive(idx)
	if needsGrad(t) {
		record(opIndexSelect, dimAttr{d}, []*Tensor{t}, []*Tensor{out}, idx)
	}
	return out
}

// IndexAdd returns a copy of t with src's entries along dim added at the
// positions index gives: out.select(dim, index[i]) += src.select(dim, i).
// Repeated indices accumulate.
func (t *Tensor) IndexAdd(dim int, index, src *Tensor) *Tensor {
	const op = "index_add"
	sameDevice(op, t, index, src)
	if dt := t.DType(); dt == Bool {
		fail(op, ErrDType, "index_add on a bool tensor is not supported")
	} else if dt.IsHalf() {
		return t.To(Float32).IndexAdd(dim, index, src.To(Float32)).To(dt)
	}
	index = asIndex(op, index)
	if index.Dim() > 1 {
		fail(op, ErrShape, "index must be 1-d, not shape %v", index.shape)
	}
	if index.Dim() == 0 {
		index = index.Reshape(1)
	}
	d := t.normDim(op, dim)
	want := t.Shape()
	want[d] = index.Numel()
	if !sameShape(src.shape, want) {
		fail(op, ErrShape, "source of shape %v for %d indices into shape %v along dim %d (want %v)", src.shape, index.Numel(), t.shape, d, want)
	}
	src = src.To(t.DType())
	out := t.copyOf(op)
	indexFail(op, t.be().IndexAdd(out.view(), d, index.view(), src.view()))
	runtime.KeepAlive(index)
	runtime.KeepAlive(src)
	if needsGrad(t, src) {
		record(opIndexAdd, dimAttr{d}, []*Tensor{t, src}, []*Tensor{out}, index)
	}
	return out
}

// copyOf is an unrecorded contiguous copy.
func (t *Tensor) copyOf(op string) *Tensor {
	out := emptyLike(op, t, t.DType())
	t.be().Copy(out.view(), t.view())
	runtime.KeepAlive(t)
	return out
}

func checkScatterShapes(op string, t *Tensor, d int, index, src *Tensor) {
	if index.Dim() != t.Dim() || (src != nil && src.Dim() != t.Dim()) {
		fail(op, ErrShape, "index of shape %v must have as many dims as the input %v", index.shape, t.shape)
	}
	for i := range index.shape {
		if i != d && index.shape[i] > t.shape[i] {
			fail(op, ErrShape, "index of shape %v is larger than the input %v at dim %d", index.shape, t.shape, i)
		}
		if src != nil && index.shape[i] > src.shape[i] {
			fail(op, ErrShape, "index of shape %v is larger than the source %v at dim %d", index.shape, src.shape, i)
		}
	}
}

// Gather picks along dim by index (an integer tensor with t's number of
// dims): out[i][j][k] = t[i][index[i][j][k]][k] for dim 1. The result
// has index's shape.
func (t *Tensor) Gather(dim int, index *Tensor) *Tensor {
	const op = "gather"
	sameDevice(op, t, index)
	index = asIndex(op, index)
	if t.Dim() == 0 {
		scalarDim(op, dim)
		if index.Dim() != 0 {
			fail(op, ErrShape, "index of shape %v for a 0-d tensor must be 0-d", index.shape)
		}
		return t.Reshape(1).Gather(0, index.Reshape(1)).Reshape()
	}
	d := t.normDim(op, dim)
	checkScatterShapes(op, t, d, index, nil)
	out := empty(op, t.Device(), t.DType(), index.shape)
	indexFail(op, t.be().Gather(out.view(), t.view(), d, index.view()))
	runtime.KeepAlive(t)
	runtime.KeepAlive(index)
	if needsGrad(t) {
		record(opGather, dimAttr{d}, []*Tensor{t}, []*Tensor{out}, index)
	}
	return out
}

// ScatterAdd returns a copy of t with src added at the positions index
// gives along dim: out[i][index[i][j][k]][k] += src[i][j][k] for dim 1.
// Repeated indices accumulate.
func (t *Tensor) ScatterAdd(dim int, index, src *Tensor) *Tensor {
	const op = "scatter_add"
	sameDevice(op, t, index, src)
	if dt := t.DType(); dt == Bool {
		fail(op, ErrDType, "scatter_add on a bool tensor is not supported")
	} else if dt.IsHalf() {
		return t.To(Float32).ScatterAdd(dim, index, src.To(Float32)).To(dt)
	}
	index = asIndex(op, index)
	if t.Dim() == 0 {
		scalarDim(op, dim)
		if index.Dim() != 0 || src.Dim() != 0 {
			fail(op, ErrShape, "index %v and source %v for a 0-d tensor must be 0-d", index.shape, src.shape)
		}
		return t.Reshape(1).ScatterAdd(0, index.Reshape(1), src.Reshape(1)).Reshape()
	}
	d := t.normDim(op, dim)
	checkScatterShapes(op, t, d, index, src)
	src = src.To(t.DType())
	out := t.copyOf(op)
	indexFail(op, t.be().ScatterAdd(out.view(), d, index.view(), src.view()))
	runtime.KeepAlive(index)
	runtime.KeepAlive(src)
	if needsGrad(t, src) {
		record(opScatterAdd, dimAttr{d}, []*Tensor{t, src}, []*Tensor{out}, index)
	}
	return out
}

// SliceScatter returns a copy of base with base[start:end:step] along dim
// replaced by src (torch.slice_scatter); src has the slice's shape.
// Gradients flow to both.
func SliceScatter(base, src *Tensor, dim, start, end, step int) *Tensor {
	const op = "slice_scatter"
	sameDevice(op, base, src)
	out := base.copyOf(op)
	v := out.Detach().Slice(dim, start, end, step)
	dim = base.normDim(op, dim)
	if !sameShape(v.shape, src.shape) {
		fail(op, ErrShape, "source of shape %v for a slice of shape %v", src.shape, v.shape)
	}
	s := src.To(base.DType())
	out.be().Copy(v.view(), s.view())
	runtime.KeepAlive(s)
	runtime.KeepAlive(v)
	if needsGrad(base, s) {
		record(opSliceScatter, sliceAttr{dim, start, end, step}, []*Tensor{base, s}, []*Tensor{out})
	}
	return out
}

// Cat joins tensors along an existing dim. They must match in every other
// dim; dtypes promote. As in torch, 1-d empty tensors are skipped.
func Cat(ts []*Tensor, dim int) *Tensor {
	const op = "cat"
	if len(ts) == 0 {
		fail(op, ErrShape, "expected a non-empty list of tensors")
	}
	var use []*Tensor
	for _, t := range ts {
		if t.Dim() == 1 && t.shape[0] == 0 {
			continue
		}
		use = append(use, t)
	}
	if len(use) == 0 {
		use = ts[:1]
	}
	first := use[0]
	if first.Dim() == 0 {
		fail(op, ErrShape, "zero-dimensional tensors cannot be concatenated")
	}
	sameDevice(op, use...)
	d := first.normDim(op, dim)
	dt := use[0].DType()
	for _, t := range use[1:] {
		dt = promote(dt, t.DType())
	}
	sh := first.Shape()
	sizes := make([]int, len(use))
	total := 0
	for i, t := range use {
		if t.Dim() != first.Dim() {
			fail(op, ErrShape, "tensors must have the same number of dims: %v and %v", first.shape, t.shape)
		}
		for j := range sh {
			if j != d && t.shape[j] != sh[j] {
				fail(op, ErrShape, "sizes of tensors must match except in dim %d: %v and %v", d, first.shape, t.shape)
			}
		}
		sizes[i] = t.shape[d]
		total += t.shape[d]
	}
	sh[d] = total
	out := empty(op, first.Device(), dt, sh)
	conv := make([]*Tensor, len(use))
	off := 0
	for i, t := range use {
		c := t.To(dt)
		conv[i] = c
		v := out.Detach().Narrow(d, off, sizes[i])
		out.be().Copy(v.view(), c.view())
		runtime.KeepAlive(c)
		off += sizes[i]
	}
	if needsGrad(conv...) {
		record(opCat, catAttr{d, sizes}, conv, []*Tensor{out})
	}
	return out
}

// Stack joins tensors of one shape along a new dim.
func Stack(ts []*Tensor, dim int) *Tensor {
	if len(ts) == 0 {
		fail("stack", ErrShape, "expected a non-empty list of tensors")
	}
	n := ts[0].Dim()
	if dim < -(n+1) || dim > n {
		fail("stack", ErrIndex, "dim %d out of range for stacking %d-d tensors", dim, n)
	}
	if dim < 0 {
		dim += n + 1
	}
	us := make([]*Tensor, len(ts))
	for i, t := range ts {
		if !sameShape(t.shape, ts[0].shape) {
			fail("stack", ErrShape, "stack expects tensors of one shape: %v and %v", ts[0].shape, t.shape)
		}
		us[i] = t.Unsqueeze(dim)
	}
	return Cat(us, dim)
}
