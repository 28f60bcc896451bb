package nn_test

import (
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// A small classifier: layers chained in a Sequential, parameters found by
// reflection under torch's names.
func ExampleNewLinear() {
	tensor.ManualSeed(1)
	model := nn.NewSequential(
		nn.NewLinear(4, 8),
		nn.NewReLU(),
		nn.NewLinear(8, 3),
	)
	x := tensor.Randn(5, 4)
	y := model.Forward(x)
	fmt.Println(y.Shape())
	for _, p := range nn.NamedParameters(model) {
		fmt.Println(p.Name, p.P.Shape())
	}
	// Output:
	// [5 3]
	// 0.weight [8 4]
	// 0.bias [8]
	// 2.weight [3 8]
	// 2.bias [3]
}

// Convolutions take torch's positional sizes; the options struct's zero
// value is torch's default.
func ExampleNewConv2d() {
	conv := nn.NewConv2d(3, 16, 3, nn.ConvConfig{Stride: 2, Padding: 1})
	depthwise := nn.NewConv2d(16, 16, 3, nn.ConvConfig{Groups: 16, Same: true, NoBias: true})
	x := tensor.Zeros(8, 3, 32, 32)
	y := depthwise.Forward(conv.Forward(x))
	fmt.Println(y.Shape())
	fmt.Println(conv.Weight.Shape(), depthwise.Weight.Shape(), depthwise.Bias == nil)
	// Output:
	// [8 16 16 16]
	// [16 3 3 3] [16 1 3 3] true
}

// A LeNet-style feature extractor with pooling and flattening.
func ExampleNewMaxPool2d() {
	features := nn.NewSequential(
		nn.NewConv2d(1, 6, 5), nn.NewReLU(), nn.NewMaxPool2d(2),
		nn.NewConv2d(6, 16, 5), nn.NewReLU(), nn.NewAvgPool2d(2),
		nn.NewFlatten(),
	)
	fmt.Println(features.Forward(tensor.Zeros(4, 1, 28, 28)).Shape())
	// Output:
	// [4 256]
}

// BatchNorm normalizes with the batch's statistics while training, and
// updates its running statistics; in eval mode it uses those.
func ExampleNewBatchNorm1d() {
	bn := nn.NewBatchNorm1d(2)
	x := tensor.FromSlice([]float32{1, 10, 3, 30}, 2, 2)
	fmt.Printf("%.4f\n", bn.Forward(x).Float64s())
	fmt.Println(nn.StateDictKeys(bn))
	fmt.Printf("%.1f %.1f %d\n", bn.RunningMean.Float64s(), bn.RunningVar.Float64s(), bn.NumBatchesTracked.Int64s())
	nn.Eval(bn)
	fmt.Printf("%.4f\n", bn.Forward(x).Float64s())
	// Output:
	// [-1.0000 -1.0000 1.0000 1.0000]
	// [weight bias running_mean running_var num_batches_tracked]
	// [0.2 2.0] [1.1 20.9] [1]
	// [0.7628 1.7499 2.6697 6.1247]
}

// An embedding table with a padding row that stays zero and learns
// nothing.
func ExampleNewEmbedding() {
	emb := nn.NewEmbedding(10, 3, nn.EmbeddingConfig{PaddingIdx: F.Index(0)})
	ids := tensor.FromSlice([]int64{4, 0, 4, 2}, 2, 2)
	out := emb.Forward(ids)
	fmt.Println(out.Shape())
	out.Sum().Backward()
	fmt.Println(emb.Weight.Grad().Narrow(0, 0, 5).Sum(1).Float64s())
	// Output:
	// [2 2 3]
	// [0 0 3 0 6]
}

// Dropout is active in training mode and the identity in eval mode.
func ExampleNewDropout() {
	drop := nn.NewDropout(0.5, tensor.NewGenerator(7))
	x := tensor.Ones(1000)
	kept := drop.Forward(x).GtScalar(0).To(tensor.Float32).Mean().Item()
	fmt.Println(kept > 0.45 && kept < 0.55)
	nn.Eval(drop)
	fmt.Println(drop.Forward(x) == x)
	// Output:
	// true
	// true
}

// Layer norms and activations as layers.
func ExampleNewLayerNorm() {
	block := nn.NewSequential(nn.NewLinear(6, 6), nn.NewLayerNorm(6), nn.NewGELU(), nn.NewSoftmax(-1))
	y := block.Forward(tensor.Randn(2, 6))
	fmt.Printf("%.3f\n", y.Sum(-1).Float64s())
	fmt.Println(nn.StateDictKeys(block))
	// Output:
	// [1.000 1.000]
	// [0.weight 0.bias 1.weight 1.bias]
}
