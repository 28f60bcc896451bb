package autograd_test

import "github.com/tapir-ml/tapir/tensor"

// fusedCrossEntropySquared is the gradcheck table's case of
// tensor.FusedCrossEntropy: the square of the mean loss of transposed
// logits x [5, 4] → [4, 5] against targets with one ignored row (the
// square makes the second derivative depend on the first).
func fusedCrossEntropySquared(x *tensor.Tensor) *tensor.Tensor {
	l, ok := tensor.FusedCrossEntropy(x.Transpose(0, 1), idx([]int64{1, -100, 0, 4}), -100, true)
	if !ok {
		panic("FusedCrossEntropy declined on the CPU")
	}
	return l.Mul(l)
}

// fusedLinearSquared is the gradcheck table's case of tensor.Linear: a
// transposed input x [4, 3] → [3, 4], weight [5, 4] and bias [5], the
// result squared (so the second derivative depends on the first).
func fusedLinearSquared(in []*tensor.Tensor) *tensor.Tensor {
	y := tensor.Linear(in[0].Transpose(0, 1), in[1], in[2])
	return y.Mul(y)
}

// fusedMSESquared is the gradcheck table's case of tensor.FusedMSELoss:
// the squared error of x (transposed when its shape differs from y's)
// against y, squared (so the second derivative depends on the first).
func fusedMSESquared(x, y *tensor.Tensor, mean bool) *tensor.Tensor {
	if x.Shape()[0] != y.Shape()[0] {
		x = x.Transpose(0, 1)
	}
	l, ok := tensor.FusedMSELoss(x, y, mean)
	if !ok {
		panic("FusedMSELoss declined on the CPU")
	}
	return l.Mul(l)
}
