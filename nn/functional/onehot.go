package functional

import (
	"github.com/tapir-ml/tapir/tensor"
)

// OneHot returns an Int64 tensor of shape indices.shape + [numClasses]
// with 1 at each index and 0 elsewhere (torch.nn.functional.one_hot).
// indices must be integers in [0, numClasses); a negative numClasses
// means max(indices) + 1.
func OneHot(indices *tensor.Tensor, numClasses int) *tensor.Tensor {
	const op = "one_hot"
	if indices.DType().IsFloat() || indices.DType() == tensor.Bool {
		panicOp(op, tensor.ErrDType, "indices must be an integer tensor, not %v", indices.DType())
	}
	idx := indices.To(tensor.Int64)
	vals := idx.Int64s()
	var hi int64 = -1
	for _, v := range vals {
		if v < 0 {
			panicOp(op, tensor.ErrIndex, "class values must be non-negative, got %d (indices %v)", v, indices.Shape())
		}
		hi = max(hi, v)
	}
	if numClasses < 0 {
		if len(vals) == 0 {
			panicOp(op, tensor.ErrShape, "cannot infer the number of classes from an empty tensor %v", indices.Shape())
		}
		numClasses = int(hi) + 1
	}
	if hi >= int64(numClasses) {
		panicOp(op, tensor.ErrIndex, "class value %d is not smaller than num_classes %d", hi, numClasses)
	}
	classes := tensor.Arange(0, float64(numClasses), 1).To(tensor.Int64).ToDevice(indices.Device())
	return idx.Unsqueeze(-1).Eq(classes).To(tensor.Int64)
}
