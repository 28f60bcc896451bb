package onnx

import (
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// Reductions and the softmax family.

func init() {
	reg := func(name string, since int64, f func(x *tensor.Tensor, dims []int) *tensor.Tensor) {
		register(reduceOp(since, f), name)
	}
	reg("ReduceSum", 13, func(x *tensor.Tensor, d []int) *tensor.Tensor { return x.SumKeepDim(d...) })
	reg("ReduceMean", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor { return floatOf(x).MeanKeepDim(d...) })
	reg("ReduceMax", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor { return boolAsInt(x).AmaxKeepDim(d...) })
	reg("ReduceMin", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor { return boolAsInt(x).AminKeepDim(d...) })
	reg("ReduceProd", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor {
		for _, a := range d {
			x = x.Prod(a).Unsqueeze(a)
		}
		return x
	})
	reg("ReduceL1", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor { return x.Abs().SumKeepDim(d...) })
	reg("ReduceL2", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor {
		return floatOf(x).Square().SumKeepDim(d...).Sqrt()
	})
	reg("ReduceSumSquare", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor { return x.Square().SumKeepDim(d...) })
	reg("ReduceLogSum", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor { return floatOf(x).SumKeepDim(d...).Log() })
	reg("ReduceLogSumExp", 18, func(x *tensor.Tensor, d []int) *tensor.Tensor {
		x = floatOf(x)
		m := x.Detach().AmaxKeepDim(d...)
		m = tensor.Where(m.IsNaN().LogicalOr(m.Abs().EqScalar(math.Inf(1))), m.MulScalar(0), m)
		return x.Sub(m).Exp().SumKeepDim(d...).Log().Add(m)
	})
	register(softmaxOp(func(x *tensor.Tensor, d int) *tensor.Tensor { return x.Softmax(d) }), "Softmax")
	register(softmaxOp(func(x *tensor.Tensor, d int) *tensor.Tensor { return x.LogSoftmax(d) }), "LogSoftmax")
	register(softmaxOp(hardmax), "Hardmax")
}

func floatOf(x *tensor.Tensor) *tensor.Tensor {
	if x.DType().IsFloat() {
		return x
	}
	return x.To(tensor.Float64)
}

func boolAsInt(x *tensor.Tensor) *tensor.Tensor {
	if x.DType() == tensor.Bool {
		return x.To(tensor.Uint8)
	}
	return x
}

// reduceOp builds a Reduce* operator whose axes move from an attribute to
// an input at opset since. f reduces over dims keeping them.
func reduceOp(since int64, f func(x *tensor.Tensor, dims []int) *tensor.Tensor) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		x := c.x(0)
		axes, _ := c.axesArg(since, 1)
		keep := c.int("keepdims", 1) == 1
		var dims []int
		if len(axes) == 0 {
			if c.int("noop_with_empty_axes", 0) == 1 {
				return one(x)
			}
			dims = make([]int, x.Dim())
			for i := range dims {
				dims[i] = i
			}
		} else {
			dims = c.axes(axes, x.Dim())
		}
		if x.Dim() == 0 {
			return one(x)
		}
		y := f(x, dims)
		if y.DType() != x.DType() {
			y = y.To(x.DType())
		}
		if !keep {
			y = y.Squeeze(dims...)
		}
		return one(y)
	}
}

// softmaxOp builds Softmax, LogSoftmax or Hardmax. Before opset 13 the
// input is seen as a matrix [∏ dims before axis, ∏ dims from axis] and
// normalized along its rows (default axis 1); from opset 13 along axis
// (default −1).
func softmaxOp(f func(x *tensor.Tensor, dim int) *tensor.Tensor) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		x := c.x(0)
		if x.Dim() == 0 {
			return one(f(x.Reshape(1), 0).Reshape())
		}
		if c.opset >= 13 {
			return one(f(x, c.axis(c.int("axis", -1), x.Dim())))
		}
		a := c.axis(c.int("axis", 1), x.Dim())
		sh := x.Shape()
		y := f(x.Reshape(prod(sh[:a]), prod(sh[a:])), 1)
		return one(y.Reshape(sh...))
	}
}

// hardmax is 1 at the first maximum along dim, 0 elsewhere.
func hardmax(x *tensor.Tensor, dim int) *tensor.Tensor {
	idx := x.ArgMax(dim).Unsqueeze(dim)
	z := tensor.ZerosLike(x)
	return z.ScatterAdd(dim, idx, tensor.OnesLike(idx).To(x.DType()))
}
