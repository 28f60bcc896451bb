package functional_test

import (
	"slices"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestEmbeddingGradCheck(t *testing.T) {
	g := tensor.NewGenerator(4)
	idx := tensor.FromSlice([]int64{1, 3, 1, 0, 3, 2}, 2, 3)
	runGradChecks(t, []gcCase{
		{"plain", func(in []*tensor.Tensor) *tensor.Tensor { return F.Embedding(idx, in[0]) },
			[]*tensor.Tensor{leaf(g, 1, 0, 4, 2)}},
		// the padding row's gradient is zero by definition, which finite
		// differences cannot see: here it is a row no index uses
		{"padding", func(in []*tensor.Tensor) *tensor.Tensor {
			return F.Embedding(idx, in[0], F.EmbeddingOptions{PaddingIdx: F.Index(4)}).Square()
		}, []*tensor.Tensor{leaf(g, 1, 0, 5, 2)}},
	})
}

// The padding row keeps its value in the output but gets no gradient, and
// without padding the gradient of row r counts r's uses.
func TestEmbeddingPaddingGrad(t *testing.T) {
	idx := tensor.FromSlice([]int64{0, 2, 2, 1})
	for _, c := range []struct {
		name string
		opt  []F.EmbeddingOptions
		want []float64 // the gradient of Σ out, per row
	}{
		{"none", nil, []float64{1, 1, 2}},
		{"pad2", []F.EmbeddingOptions{{PaddingIdx: F.Index(2)}}, []float64{1, 1, 0}},
		{"pad-3", []F.EmbeddingOptions{{PaddingIdx: F.Index(-3)}}, []float64{0, 1, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := tensor.FromSlice([]float64{1, 2, 3}, 3, 1).SetRequiresGrad(true)
			y := F.Embedding(idx, w, c.opt...)
			if got := y.Float64s(); !slices.Equal(got, []float64{1, 3, 3, 2}) {
				t.Errorf("output %v, want [1 3 3 2]", got)
			}
			y.Sum().Backward()
			if got := w.Grad().Float64s(); !slices.Equal(got, c.want) {
				t.Errorf("gradient %v, want %v", got, c.want)
			}
		})
	}
}

func TestEmbeddingPanics(t *testing.T) {
	w := tensor.Zeros(5, 2)
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"range", "embedding: index 5 is out of range for 5 embeddings (indices [2], weight [5 2])",
			func() { F.Embedding(tensor.FromSlice([]int64{0, 5}), w) }},
		{"negative", "embedding: index -1 is out of range",
			func() { F.Embedding(tensor.FromSlice([]int64{-1}), w) }},
		{"float indices", "embedding: indices must be an integer tensor, not float32",
			func() { F.Embedding(tensor.Zeros(2), w) }},
		{"padding", "embedding: padding index 5 is out of range for 5 embeddings",
			func() { F.Embedding(tensor.FromSlice([]int64{0}), w, F.EmbeddingOptions{PaddingIdx: F.Index(5)}) }},
		{"weight", "embedding: weight must be 2-d [num_embeddings, dim], not [5]",
			func() { F.Embedding(tensor.FromSlice([]int64{0}), tensor.Zeros(5)) }},
	} {
		t.Run(c.name, func(t *testing.T) { expectPanic(t, c.want, c.f) })
	}
}
