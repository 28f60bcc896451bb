package tensor

import (
	"math"
	"runtime"
	"slices"

	"github.com/tapir-ml/tapir/backend"
)

// normDims turns dims (possibly negative, possibly empty for "all") into
// sorted unique non-negative dims. A 0-d tensor accepts 0 and −1 and
// reduces nothing.
func (t *Tensor) normDims(op string, dims []int) []int {
	if t.Dim() == 0 {
		for _, d := range dims {
			scalarDim(op, d)
		}
		return nil
	}
	if len(dims) == 0 {
		out := make([]int, t.Dim())
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, 0, len(dims))
	for _, d := range dims {
		nd := t.normDim(op, d)
		if slices.Contains(out, nd) {
			fail(op, ErrIndex, "dim %d appears more than once in %v", nd, dims)
		}
		out = append(out, nd)
	}
	slices.Sort(out)
	return out
}

// reducedShapes returns the keep-dim shape and the result shape.
func reducedShapes(shape, dims []int, keep bool) (keepShape, outShape []int) {
	keepShape = append([]int(nil), shape...)
	for _, d := range dims {
		keepShape[d] = 1
	}
	if keep {
		return keepShape, keepShape
	}
	outShape = []int{}
	j := 0
	for i, s := range shape {
		if j < len(dims) && dims[j] == i {
			j++
			continue
		}
		outShape = append(outShape, s)
	}
	return keepShape, outShape
}

func (t *Tensor) reduce(name string, rop backend.ReduceOp, id opID, dims []int, keep bool) *Tensor {
	dt := t.DType()
	switch {
	case dt.IsHalf():
		return t.To(Float32).reduce(name, rop, id, dims, keep).To(dt)
	case rop == backend.ReduceMean && !dt.IsFloat():
		fail(name, ErrDType, "mean of a %v tensor: convert it to a floating type first", dt)
	case (rop == backend.ReduceSum || rop == backend.ReduceProd) && dt != Int64 && !dt.IsFloat():
		return t.To(Int64).reduce(name, rop, id, dims, keep)
	}
	ds := t.normDims(name, dims)
	if rop == backend.ReduceMax || rop == backend.ReduceMin {
		for _, d := range ds {
			if t.shape[d] == 0 {
				fail(name, ErrShape, "cannot reduce over dim %d of size 0 (shape %v): the extreme of nothing is undefined", d, t.shape)
			}
		}
	}
	keepShape, outShape := reducedShapes(t.shape, ds, keep)
	out := empty(name, t.Device(), dt, outShape)
	t.be().Reduce(rop, out.viewAs(keepShape, backend.ContiguousStrides(keepShape), 0), t.view())
	runtime.KeepAlive(t)
	if needsGrad(t) {
		attrs := reduceAttr{ds, keep}
		switch rop {
		case backend.ReduceProd, backend.ReduceMax, backend.ReduceMin:
			record(id, attrs, []*Tensor{t}, []*Tensor{out}, t, out)
		default:
			record(id, attrs, []*Tensor{t}, []*Tensor{out})
		}
	}
	return out
}

// Sum adds over dims (all dims when none are given), dropping them.
// Integer and Bool tensors sum to Int64.
func (t *Tensor) Sum(dims ...int) *Tensor {
	return t.reduce("sum", backend.ReduceSum, opSum, dims, false)
}

// SumKeepDim is Sum keeping the reduced dims with size 1.
func (t *Tensor) SumKeepDim(dims ...int) *Tensor {
	return t.reduce("sum", backend.ReduceSum, opSum, dims, true)
}

// Mean averages over dims (all when none are given). Floating types only.
func (t *Tensor) Mean(dims ...int) *Tensor {
	return t.reduce("mean", backend.ReduceMean, opMean, dims, false)
}

// MeanKeepDim is Mean keeping the reduced dims with size 1.
func (t *Tensor) MeanKeepDim(dims ...int) *Tensor {
	return t.reduce("mean", backend.ReduceMean, opMean, dims, true)
}

// Prod multiplies over dims (all when none are given).
func (t *Tensor) Prod(dims ...int) *Tensor {
	return t.reduce("prod", backend.ReduceProd, opProd, dims, false)
}

func (t *Tensor) prodKeep(dims []int) *Tensor {
	return t.reduce("prod", backend.ReduceProd, opProd, dims, true)
}

// Amax is the maximum over dims (all when none are given), propagating
// NaN; its gradient is shared evenly among tied maxima.
func (t *Tensor) Amax(dims ...int) *Tensor {
	return t.reduce("amax", backend.ReduceMax, opAmax, dims, false)
}

// AmaxKeepDim is Amax keeping the reduced dims with size 1.
func (t *Tensor) AmaxKeepDim(dims ...int) *Tensor {
	return t.reduce("amax", backend.ReduceMax, opAmax, dims, true)
}

// Amin is the minimum over dims (all when none are given).
func (t *Tensor) Amin(dims ...int) *Tensor {
	return t.reduce("amin", backend.ReduceMin, opAmin, dims, false)
}

// AminKeepDim is Amin keeping the reduced dims with size 1.
func (t *Tensor) AminKeepDim(dims ...int) *Tensor {
	return t.reduce("amin", backend.ReduceMin, opAmin, dims, true)
}

// VarOpt is the variance over dims (all when none are given) with
// Bessel's correction (1: unbiased, torch's default; 0: population).
func (t *Tensor) VarOpt(dims []int, correction int, keepDim bool) *Tensor {
	if !t.DType().IsFloat() {
		fail("var", ErrDType, "variance of a %v tensor: convert it to a floating type first", t.DType())
	}
	ds := t.normDims("var", dims)
	n := 1
	for _, d := range ds {
		n *= t.shape[d]
	}
	dev := t.Sub(t.MeanKeepDim(ds...)).Square()
	var s *Tensor
	if keepDim {
		s = dev.SumKeepDim(ds...)
	} else {
		s = dev.Sum(ds...)
	}
	return s.DivScalar(float64(n - correction))
}

// Var is the unbiased variance over dims (all when none are given).
func (t *Tensor) Var(dims ...int) *Tensor { return t.VarOpt(dims, 1, false) }

// Std is the unbiased standard deviation over dims.
func (t *Tensor) Std(dims ...int) *Tensor { return t.Var(dims...).Sqrt() }

// LogSumExp is log Σ exp(t) along dim, computed without overflow.
func (t *Tensor) LogSumExp(dim int) *Tensor {
	if !t.DType().IsFloat() {
		t = t.To(Float32)
	}
	d := t.normDims("logsumexp", []int{dim})
	if len(d) == 0 {
		return t.Clone()
	}
	if t.shape[d[0]] == 0 {
		return fullOf(t.DType(), t.Device(), math.Inf(-1), withoutDim(t.shape, d[0]))
	}
	m := t.Detach().AmaxKeepDim(d[0])
	// an infinite max would give inf − inf; shifting by 0 there is exact
	m = Where(m.Abs().EqScalar(math.Inf(1)), ZerosLike(m), m)
	return t.Sub(m).Exp().SumKeepDim(d[0]).Log().Add(m).Squeeze(d[0])
}

func withoutDim(shape []int, d int) []int {
	out := append([]int(nil), shape[:d]...)
	return append(out, shape[d+1:]...)
}

// argReduce runs ArgMax/ArgMin along one dim, with or without values.
func (t *Tensor) argReduce(name string, aop backend.ArgOp, dim int, values bool) (*Tensor, *Tensor) {
	dt := t.DType()
	x := t
	if dt.IsHalf() {
		x = t.To(Float32)
	}
	var d int
	if t.Dim() == 0 {
		scalarDim(name, dim)
		idx := zerosOf(Int64, t.Device(), nil)
		if values {
			return t.Clone(), idx
		}
		return nil, idx
	}
	d = t.normDim(name, dim)
	if t.shape[d] == 0 {
		fail(name, ErrShape, "cannot reduce over dim %d of size 0 (shape %v)", d, t.shape)
	}
	keepShape, outShape := reducedShapes(t.shape, []int{d}, false)
	keepStrides := backend.ContiguousStrides(keepShape)
	idx := empty(name, t.Device(), Int64, outShape)
	var val *Tensor
	valView := backend.View{}
	if values {
		val = empty(name, t.Device(), x.DType(), outShape)
		valView = val.viewAs(keepShape, keepStrides, 0)
	}
	x.be().ArgReduce(aop, valView, idx.viewAs(keepShape, keepStrides, 0), x.view(), d)
	runtime.KeepAlive(x)
	if values && needsGrad(x) {
		id := opMaxDim
		if aop == backend.ArgMin {
			id = opMinDim
		}
		record(id, reduceAttr{[]int{d}, false}, []*Tensor{x}, []*Tensor{val}, idx)
	}
	if values && dt.IsHalf() {
		val = val.To(dt)
	}
	return val, idx
}

// Max returns the maximum along dim and the index of its first
// occurrence, dropping dim (torch.max(t, dim)).
func (t *Tensor) Max(dim int) (values, indices *Tensor) {
	return t.argReduce("max", backend.ArgMax, dim, true)
}

// Min returns the minimum along dim and the index of its first occurrence.
func (t *Tensor) Min(dim int) (values, indices *Tensor) {
	return t.argReduce("min", backend.ArgMin, dim, true)
}

// ArgMax returns the index of the first maximum along dim, as Int64.
func (t *Tensor) ArgMax(dim int) *Tensor {
	_, i := t.argReduce("argmax", backend.ArgMax, dim, false)
	return i
}

// ArgMin returns the index of the first minimum along dim, as Int64.
func (t *Tensor) ArgMin(dim int) *Tensor {
	_, i := t.argReduce("argmin", backend.ArgMin, dim, false)
	return i
}

func (t *Tensor) softmax(name string, id opID, dim int, log bool) *Tensor {
	dt := t.DType()
	switch {
	case dt.IsHalf():
		return t.To(Float32).softmax(name, id, dim, log).To(dt)
	case !dt.IsFloat():
		fail(name, ErrDType, "%s of a %v tensor: convert it to a floating type first", name, dt)
	}
	if t.Dim() == 0 {
		scalarDim(name, dim)
		return t.Reshape(1).softmax(name, id, 0, log).Reshape()
	}
	d := t.normDim(name, dim)
	out := emptyLike(name, t, dt)
	t.be().Softmax(out.view(), t.view(), d, log)
	runtime.KeepAlive(t)
	if needsGrad(t) {
		record(id, dimAttr{d}, []*Tensor{t}, []*Tensor{out}, out)
	}
	return out
}

// Softmax is exp(t)/Σexp(t) along dim.
func (t *Tensor) Softmax(dim int) *Tensor { return t.softmax("softmax", opSoftmax, dim, false) }

// LogSoftmax is log(Softmax(dim)), computed stably.
func (t *Tensor) LogSoftmax(dim int) *Tensor {
	return t.softmax("log_softmax", opLogSoftmax, dim, true)
}

// CumSum is the inclusive running sum along dim. Integer and Bool tensors
// sum to Int64.
func (t *Tensor) CumSum(dim int) *Tensor {
	dt := t.DType()
	switch {
	case dt.IsHalf():
		return t.To(Float32).CumSum(dim).To(dt)
	case !dt.IsFloat() && dt != Int64:
		return t.To(Int64).CumSum(dim)
	}
	if t.Dim() == 0 {
		scalarDim("cumsum", dim)
		return t.Clone()
	}
	d := t.normDim("cumsum", dim)
	out := emptyLike("cumsum", t, dt)
	t.be().CumSum(out.view(), t.view(), d)
	runtime.KeepAlive(t)
	if needsGrad(t) {
		record(opCumSum, dimAttr{d}, []*Tensor{t}, []*Tensor{out})
	}
	return out
}
