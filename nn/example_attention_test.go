package nn_test

import (
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

func ExampleMultiheadAttention() {
	tensor.ManualSeed(0)
	// 16 features in 4 heads; batched tensors are [N, L, E].
	mha := nn.NewMultiheadAttention(16, 4, nn.AttentionConfig{BatchFirst: true})
	query := tensor.Randn(2, 5, 16)  // 2 sequences of 5 queries
	memory := tensor.Randn(2, 7, 16) // attending to 7 keys each
	// Ignore the last two keys of the second sequence.
	pad := make([]bool, 2*7)
	pad[7+5], pad[7+6] = true, true
	out, weights := mha.Forward(query, memory, memory, nn.MHAOptions{
		KeyPaddingMask: tensor.FromSlice(pad, 2, 7),
	})
	fmt.Println(out.Shape(), weights.Shape())
	fmt.Printf("weight on a padded key: %.1f\n", weights.At(1, 0, 6))
	// Output:
	// [2 5 16] [2 5 7]
	// weight on a padded key: 0.0
}

func ExampleMultiheadAttention_selfAttention() {
	tensor.ManualSeed(0)
	mha := nn.NewMultiheadAttention(8, 2)
	x := tensor.Randn(4, 3, 8) // [L, N, E], torch's default layout
	// Causal self-attention with the weights of each head.
	out, weights := mha.Forward(x, x, x, nn.MHAOptions{IsCausal: true, PerHeadWeights: true})
	fmt.Println(out.Shape(), weights.Shape())
	fmt.Printf("query 0 on key 1: %.1f\n", weights.At(0, 1, 0, 1))
	// Output:
	// [4 3 8] [3 2 4 4]
	// query 0 on key 1: 0.0
}

func ExampleGenerateSquareSubsequentMask() {
	fmt.Println(nn.GenerateSquareSubsequentMask(3))
	// Output:
	// tensor([[0., -inf, -inf],
	//         [0., 0., -inf],
	//         [0., 0., 0.]])
}

func ExampleNewTransformerEncoderLayer() {
	tensor.ManualSeed(0)
	layer := nn.NewTransformerEncoderLayer(32, 4, 64, nn.TransformerConfig{
		BatchFirst: true,
		NormFirst:  true,
		Activation: "gelu",
	})
	encoder := nn.NewTransformerEncoder(func() *nn.TransformerEncoderLayer {
		return nn.NewTransformerEncoderLayer(32, 4, 64, nn.TransformerConfig{BatchFirst: true})
	}, 2, nn.NewLayerNorm(32))
	nn.Eval(layer) // no dropout
	nn.Eval(encoder)

	src := tensor.Randn(8, 10, 32) // [N, S, E]
	fmt.Println(layer.Forward(src).Shape())
	y := encoder.ForwardMasked(src, nn.EncoderMasks{Mask: nn.GenerateSquareSubsequentMask(10)})
	fmt.Println(y.Shape())
	fmt.Println(nn.StateDictKeys(encoder)[:2])
	// Output:
	// [8 10 32]
	// [8 10 32]
	// [layers.0.self_attn.in_proj_weight layers.0.self_attn.in_proj_bias]
}

func ExampleTransformer() {
	tensor.ManualSeed(0)
	model := nn.NewTransformer(16, 4, 2, 2, 32, nn.TransformerConfig{Dropout: nn.Prob(0)})
	src := tensor.Randn(10, 2, 16) // [S, N, E]
	tgt := tensor.Randn(6, 2, 16)  // [T, N, E]
	out := model.Forward(src, tgt, nn.TransformerMasks{TgtMask: nn.GenerateSquareSubsequentMask(6)})
	fmt.Println(out.Shape())
	// Output:
	// [6 2 16]
}
