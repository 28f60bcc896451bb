package functional

import (
	"github.com/tapir-ml/tapir/tensor"
)

// Index returns a pointer to i, for the optional index fields of the
// options structs (EmbeddingOptions.PaddingIdx, CrossEntropyOptions.IgnoreIndex,
// NLLLossOptions.IgnoreIndex), whose nil means torch's default.
func Index(i int) *int { return &i }

// EmbeddingOptions are Embedding's options; the zero value is torch's
// default (no padding index).
type EmbeddingOptions struct {
	// PaddingIdx, when not nil, names a row of weight (negative counts
	// from the end) that receives no gradient, torch's padding_idx. Set it
	// with Index(i).
	PaddingIdx *int
}

// Embedding looks up rows of weight ([num, dim]) by indices (an integer
// tensor of any shape): the result has shape indices.shape + [dim]
// (torch.nn.functional.embedding). Gradients accumulate into the rows
// used, except the padding row, whose gradient stays zero. max_norm is not
// supported.
func Embedding(indices, weight *tensor.Tensor, opt ...EmbeddingOptions) *tensor.Tensor {
	const op = "embedding"
	if weight.Dim() != 2 {
		panicOp(op, tensor.ErrShape, "weight must be 2-d [num_embeddings, dim], not %v", weight.Shape())
	}
	if indices.DType().IsFloat() || indices.DType() == tensor.Bool {
		panicOp(op, tensor.ErrDType, "indices must be an integer tensor, not %v", indices.DType())
	}
	var o EmbeddingOptions
	if len(opt) > 0 {
		o = opt[0]
	}
	num := weight.Size(0)
	idx := indices.To(tensor.Int64)
	for _, v := range idx.Int64s() {
		if v < 0 || v >= int64(num) {
			panicOp(op, tensor.ErrIndex, "index %d is out of range for %d embeddings (indices %v, weight %v)", v, num, indices.Shape(), weight.Shape())
		}
	}
	flat := idx.Reshape(-1)
	outShape := append(indices.Shape(), weight.Size(1))
	rows := weight.IndexSelect(0, flat)
	if o.PaddingIdx != nil {
		pad := *o.PaddingIdx
		if pad < -num || pad >= num {
			panicOp(op, tensor.ErrIndex, "padding index %d is out of range for %d embeddings", pad, num)
		}
		if pad < 0 {
			pad += num
		}
		if rows.RequiresGrad() {
			// the padding row's value, cut off from the graph
			frozen := weight.Detach().IndexSelect(0, flat)
			rows = tensor.Where(flat.NeScalar(float64(pad)).Unsqueeze(1), rows, frozen)
		}
	}
	return rows.Reshape(outShape...)
}
