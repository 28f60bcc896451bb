package functional_test

import (
	"math"
	"slices"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestAttentionGradCheck(t *testing.T) {
	g := tensor.NewGenerator(8)
	qkv := func() []*tensor.Tensor {
		return []*tensor.Tensor{leaf(g, 1, 0, 2, 3, 2), leaf(g, 1, 0, 2, 4, 2), leaf(g, 1, 0, 2, 4, 2)}
	}
	boolMask := tensor.FromSlice([]bool{true, false, true, true, false, true, false, false, true, true, true, false}, 3, 4)
	floatMask := tensor.NewGenerator(9).Normal(tensor.Float64, 0, 1, 2, 1, 4)
	sdpa := func(o F.SDPAOptions) func(in []*tensor.Tensor) *tensor.Tensor {
		return func(in []*tensor.Tensor) *tensor.Tensor { return F.ScaledDotProductAttention(in[0], in[1], in[2], o) }
	}
	runGradChecks(t, []gcCase{
		{"bool mask", sdpa(F.SDPAOptions{Mask: boolMask}), qkv()},
		{"float mask", sdpa(F.SDPAOptions{Mask: floatMask, Scale: 0.8}), qkv()},
		{"causal", sdpa(F.SDPAOptions{IsCausal: true}), qkv()},
	})
}

// With dropout, the result is Dropout(softmax(q·kᵀ/√E)) · v with the mask
// drawn from the given generator.
func TestAttentionDropout(t *testing.T) {
	g := tensor.NewGenerator(10)
	q, k, v := g.Normal(tensor.Float64, 0, 1, 2, 3, 4), g.Normal(tensor.Float64, 0, 1, 2, 5, 4), g.Normal(tensor.Float64, 0, 1, 2, 5, 3)
	got := F.ScaledDotProductAttention(q, k, v, F.SDPAOptions{DropoutP: 0.4, Generator: tensor.NewGenerator(3)}).Float64s()
	attn := F.Softmax(q.MatMul(k.Transpose(-1, -2)).MulScalar(0.5), -1)
	want := F.Dropout(attn, 0.4, true, tensor.NewGenerator(3)).MatMul(v).Float64s()
	for i := range want {
		if !(math.Abs(got[i]-want[i]) <= 1e-12) {
			t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
	again := F.ScaledDotProductAttention(q, k, v, F.SDPAOptions{DropoutP: 0.4, Generator: tensor.NewGenerator(3)}).Float64s()
	if !slices.Equal(got, again) {
		t.Error("the same seed gave different results")
	}
}

func TestAttentionPanics(t *testing.T) {
	q, k, v := tensor.Zeros(2, 3, 4), tensor.Zeros(2, 5, 4), tensor.Zeros(2, 5, 6)
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"embed", "scaled_dot_product_attention: query [2 3 4], key [2 5 3] and value [2 5 6] do not fit",
			func() { F.ScaledDotProductAttention(q, tensor.Zeros(2, 5, 3), v) }},
		{"seq", "scaled_dot_product_attention: query [2 3 4], key [2 5 4] and value [2 4 6] do not fit",
			func() { F.ScaledDotProductAttention(q, k, tensor.Zeros(2, 4, 6)) }},
		{"mask shape", "scaled_dot_product_attention: mask of shape [3 4] does not broadcast to the attention scores [2 3 5]",
			func() { F.ScaledDotProductAttention(q, k, v, F.SDPAOptions{Mask: tensor.Zeros(3, 4)}) }},
		{"mask and causal", "scaled_dot_product_attention: a mask (shape [3 5]) cannot be combined with is_causal",
			func() { F.ScaledDotProductAttention(q, k, v, F.SDPAOptions{Mask: tensor.Zeros(3, 5), IsCausal: true}) }},
		{"mask dtype", "scaled_dot_product_attention: mask must be Bool or floating point, not int64",
			func() {
				F.ScaledDotProductAttention(q, k, v, F.SDPAOptions{Mask: tensor.Zeros(3, 5).To(tensor.Int64)})
			}},
	} {
		t.Run(c.name, func(t *testing.T) { expectPanic(t, c.want, c.f) })
	}
}
