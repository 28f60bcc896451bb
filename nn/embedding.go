package nn

import (
	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// EmbeddingConfig holds Embedding's options; the zero value is torch's
// default.
type EmbeddingConfig struct {
	// PaddingIdx, when not nil, is a row (negative counts from the end)
	// that starts at zero and gets no gradient: torch's padding_idx. Set
	// it with F.Index(i).
	PaddingIdx *int
	// Generator draws the initial weights; nil: tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// Embedding is a lookup table of NumEmbeddings vectors of size
// EmbeddingDim (torch.nn.Embedding). Forward takes an integer tensor of
// indices of any shape and returns shape indices.shape + [EmbeddingDim];
// Weight is [num, dim].
type Embedding struct {
	Weight *Parameter

	NumEmbeddings, EmbeddingDim int
	// PaddingIdx is the row that gets no gradient, in [0, num), or nil.
	PaddingIdx *int
}

// NewEmbedding returns an Embedding initialized as torch does: weights
// from N(0, 1), the padding row (if any) zero.
func NewEmbedding(num, dim int, cfg ...EmbeddingConfig) *Embedding {
	var c EmbeddingConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if num < 0 || dim < 0 {
		layerPanic("Embedding", tensor.ErrShape, "negative size: num_embeddings %d, embedding_dim %d", num, dim)
	}
	w := tensor.Zeros(num, dim)
	if num > 0 && dim > 0 {
		nninit.Normal(w, 0, 1, c.Generator)
	}
	e := &Embedding{NumEmbeddings: num, EmbeddingDim: dim, PaddingIdx: paddingIndex(c.PaddingIdx, num)}
	if e.PaddingIdx != nil && dim > 0 {
		tensor.WithGradEnabled(false, func() { w.Narrow(0, *e.PaddingIdx, 1).ZeroIn() })
	}
	e.Weight = NewParameter(w)
	return e
}

// paddingIndex resolves a possibly negative padding index against num
// rows, panicking when it is out of range.
func paddingIndex(p *int, num int) *int {
	if p == nil {
		return nil
	}
	i := *p
	if i < -num || i >= num {
		layerPanic("Embedding", tensor.ErrIndex, "padding_idx %d must be within num_embeddings %d", i, num)
	}
	if i < 0 {
		i += num
	}
	return &i
}

// NewEmbeddingFromPretrained returns an Embedding whose weights are a copy
// of weight ([num, dim]), as torch.nn.Embedding.from_pretrained. With
// freeze (torch's default) the weight does not require grad. The padding
// row, if any, is kept as given (torch does not zero it here either).
func NewEmbeddingFromPretrained(weight *tensor.Tensor, freeze bool, cfg ...EmbeddingConfig) *Embedding {
	var c EmbeddingConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if weight == nil || weight.Dim() != 2 {
		layerPanic("Embedding", tensor.ErrShape, "pretrained weight must be 2-d [num, dim], not %v", shapeOrNil(weight))
	}
	num, dim := weight.Size(0), weight.Size(1)
	p := NewParameter(weight.Detach().Clone())
	if freeze {
		p.SetRequiresGrad(false)
	}
	return &Embedding{Weight: p, NumEmbeddings: num, EmbeddingDim: dim, PaddingIdx: paddingIndex(c.PaddingIdx, num)}
}

func shapeOrNil(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

// Forward looks up the rows of the integer tensor indices.
func (e *Embedding) Forward(indices *tensor.Tensor) *tensor.Tensor {
	return F.Embedding(indices, e.Weight.Tensor, F.EmbeddingOptions{PaddingIdx: e.PaddingIdx})
}
