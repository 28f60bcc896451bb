package functional

import (
	"github.com/tapir-ml/tapir/tensor"
)

// Dropout zeroes each element of x with probability p and scales the
// rest by 1/(1−p) (inverted dropout, torch.nn.functional.dropout), so the
// expected value is unchanged. It returns x itself when training is false
// or p is 0, and zeros (still connected to x's graph) when p is 1. The
// mask is drawn from gen[0] when given, else from
// tensor.DefaultGenerator(), so a seeded generator gives the same mask
// every time.
func Dropout(x *tensor.Tensor, p float64, training bool, gen ...*tensor.Generator) *tensor.Tensor {
	return dropout("dropout", x, p, training, x.Shape(), gen)
}

// Dropout2d zeroes whole channels: for x of shape [N, C, *] each of the
// N·C feature maps is kept (scaled by 1/(1−p)) or zeroed as a unit
// (torch.nn.functional.dropout2d; like torch 1.13, a 3-d input is taken as
// [N, C, L]). Otherwise as Dropout.
func Dropout2d(x *tensor.Tensor, p float64, training bool, gen ...*tensor.Generator) *tensor.Tensor {
	if x.Dim() < 2 {
		panicOp("dropout2d", tensor.ErrShape, "input %v must have at least 2 dims [N, C, *]", x.Shape())
	}
	shape := x.Shape()
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	return dropout("dropout2d", x, p, training, shape, gen)
}

// dropout multiplies x by a Bernoulli(1−p) mask of maskShape (which
// broadcasts to x's shape), scaled by 1/(1−p).
func dropout(op string, x *tensor.Tensor, p float64, training bool, maskShape []int, gen []*tensor.Generator) *tensor.Tensor {
	if !(p >= 0 && p <= 1) {
		panicOp(op, tensor.ErrShape, "probability must be in [0, 1], not %v", p)
	}
	if !x.DType().IsFloat() {
		panicOp(op, tensor.ErrDType, "input must be floating point, not %v", x.DType())
	}
	if !training || p == 0 {
		return x
	}
	if p == 1 {
		return x.MulScalar(0)
	}
	g := tensor.DefaultGenerator()
	if len(gen) > 0 && gen[0] != nil {
		g = gen[0]
	}
	keep := g.Uniform(tensor.Float64, 0, 1, maskShape...).LtScalar(1 - p)
	mask := keep.To(x.DType()).MulScalar(1 / (1 - p)).ToDevice(x.Device())
	return x.Mul(mask)
}
