package functional_test

import (
	"fmt"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func ExampleCrossEntropy() {
	logits := tensor.FromSlice([]float32{
		2.0, 0.5, -1.0,
		0.1, 0.2, 3.0,
		1.0, 1.0, 1.0,
	}, 3, 3).SetRequiresGrad(true)
	target := tensor.FromSlice([]int64{0, 2, -100}) // the last sample is ignored
	loss := F.CrossEntropy(logits, target, F.CrossEntropyOptions{LabelSmoothing: 0.1})
	loss.Backward()
	fmt.Printf("loss %.4f\n", loss.Item())
	fmt.Printf("grad of the ignored row %v\n", logits.Grad().Narrow(0, 2, 1).Float32s())
	// Output:
	// loss 0.3455
	// grad of the ignored row [0 0 0]
}

func ExampleLinear() {
	x := tensor.Ones(4, 3)
	w := tensor.FromSlice([]float32{1, 2, 3, -1, 0, 1}, 2, 3) // [out, in], as torch
	b := tensor.FromSlice([]float32{0.5, 0})
	y := F.Linear(x, w, b)
	fmt.Println(y.Shape(), y.Narrow(0, 0, 1).Float32s())
	// Output: [4 2] [6.5 0]
}

func ExampleDropout() {
	x := tensor.Ones(8)
	y := F.Dropout(x, 0.5, true, tensor.NewGenerator(42)) // kept elements are scaled by 2
	fmt.Println(y.Float32s())
	fmt.Println(F.Dropout(x, 0.5, false) == x) // eval: the input itself
	// Output:
	// [2 2 2 2 0 0 0 2]
	// true
}

func ExampleBatchNorm() {
	x := tensor.FromSlice([]float32{1, 10, 3, 20, 5, 30}, 3, 2) // [N, C]
	runningMean, runningVar := tensor.Zeros(2), tensor.Ones(2)
	y := F.BatchNorm(x, runningMean, runningVar, nil, nil, true, F.DefaultMomentum, F.DefaultEps)
	fmt.Printf("%.3f\n", y.Float32s())
	fmt.Println(runningMean.Float32s(), runningVar.Float32s())
	// Output:
	// [-1.225 -1.225 0.000 0.000 1.225 1.225]
	// [0.3 2] [1.3 10.9]
}

func ExampleScaledDotProductAttention() {
	q := tensor.Ones(2, 4, 8) // [batch, L, E]
	kv := tensor.Ones(2, 6, 8)
	causal := F.ScaledDotProductAttention(q, kv, kv, F.SDPAOptions{IsCausal: true})
	mask := tensor.FromSlice([]bool{true, true, true, false, false, false}, 1, 6) // keys that take part
	masked := F.ScaledDotProductAttention(q, kv, kv, F.SDPAOptions{Mask: mask})
	fmt.Println(causal.Shape(), masked.Shape())
	// Output: [2 4 8] [2 4 8]
}

func ExampleOneHot() {
	fmt.Println(F.OneHot(tensor.FromSlice([]int64{2, 0, 1}), -1).Int64s())
	// Output: [0 0 1 1 0 0 0 1 0]
}
