package functional

import (
	"github.com/tapir-ml/tapir/tensor"
)

// Linear is x·weightᵀ + bias (torch.nn.functional.linear): x is
// [*, in], weight [out, in] as torch stores it, bias [out] or nil; the
// result is [*, out]. A 1-d x gives a 1-d result.
func Linear(x, weight, bias *tensor.Tensor) *tensor.Tensor {
	const op = "linear"
	if weight.Dim() != 2 {
		panicOp(op, tensor.ErrShape, "weight must be 2-d [out, in], not %v", weight.Shape())
	}
	if x.Dim() == 0 || x.Size(-1) != weight.Size(1) {
		panicOp(op, tensor.ErrShape, "input %v and weight %v: input features must be %d", x.Shape(), weight.Shape(), weight.Size(1))
	}
	if bias != nil && (bias.Dim() != 1 || bias.Size(0) != weight.Size(0)) {
		panicOp(op, tensor.ErrShape, "bias %v does not fit weight %v: want [%d]", bias.Shape(), weight.Shape(), weight.Size(0))
	}
	if x.Dim() == 2 {
		return tensor.Linear(x, weight, bias) // one recorded op
	}
	// other ranks as rows of a 2-d input: the leading dims folded, as
	// matmul folds them, or a 1-d x as one row
	lead := x.Shape()[:x.Dim()-1]
	y := tensor.Linear(x.Reshape(-1, weight.Size(1)), weight, bias)
	return y.Reshape(append(lead, weight.Size(0))...)
}

// Bilinear is y_k = x1ᵀ·weight_k·x2 + bias_k (torch.nn.functional.bilinear):
// x1 is [*, in1], x2 [*, in2] with the same leading dims, weight
// [out, in1, in2], bias [out] or nil; the result is [*, out].
func Bilinear(x1, x2, weight, bias *tensor.Tensor) *tensor.Tensor {
	const op = "bilinear"
	if weight.Dim() != 3 {
		panicOp(op, tensor.ErrShape, "weight must be 3-d [out, in1, in2], not %v", weight.Shape())
	}
	out, in1, in2 := weight.Size(0), weight.Size(1), weight.Size(2)
	if x1.Dim() == 0 || x2.Dim() == 0 || x1.Size(-1) != in1 || x2.Size(-1) != in2 || !sameInts(x1.Shape()[:x1.Dim()-1], x2.Shape()[:x2.Dim()-1]) {
		panicOp(op, tensor.ErrShape, "inputs %v and %v do not fit weight %v: want [*, %d] and [*, %d] with the same leading dims",
			x1.Shape(), x2.Shape(), weight.Shape(), in1, in2)
	}
	if bias != nil && (bias.Dim() != 1 || bias.Size(0) != out) {
		panicOp(op, tensor.ErrShape, "bias %v does not fit weight %v: want [%d]", bias.Shape(), weight.Shape(), out)
	}
	lead := x1.Shape()[:x1.Dim()-1]
	a := x1.Reshape(-1, in1)
	b := x2.Reshape(-1, in2)
	n := a.Size(0)
	// (x1 · W viewed as [in1, out·in2]) is [n, out, in2]; contract with x2.
	w := weight.Permute(1, 0, 2).Reshape(in1, out*in2)
	y := a.MatMul(w).Reshape(n, out, in2).Mul(b.Unsqueeze(1)).Sum(2)
	if bias != nil {
		y = y.Add(bias)
	}
	return y.Reshape(append(append([]int{}, lead...), out)...)
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
