package nninit_test

import (
	"fmt"
	"math"

	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// Re-initializing a weight in place, as torch.nn.init does.
func ExampleKaimingNormal() {
	w := tensor.Zeros(256, 128).SetRequiresGrad(true) // a parameter's tensor
	nninit.KaimingNormal(w, 0, "fan_out", "relu", tensor.NewGenerator(1))
	std := w.Std().Item()
	fmt.Printf("std %.3f, want %.3f\n", std, math.Sqrt(2.0/256))
	fmt.Println(w.RequiresGrad(), w.IsLeaf())
	// Output:
	// std 0.088, want 0.088
	// true true
}

func ExampleCalculateGain() {
	fmt.Printf("%.4f %.4f %.4f\n", nninit.CalculateGain("relu"), nninit.CalculateGain("tanh"), nninit.CalculateGain("leaky_relu", 0.2))
	// Output:
	// 1.4142 1.6667 1.3868
}

func ExampleOrthogonal() {
	q := nninit.Orthogonal(tensor.ZerosOf(tensor.Float64, 4, 3), 1, tensor.NewGenerator(2))
	fmt.Printf("%.6f\n", q.T().MatMul(q).Float64s())
	// Output:
	// [1.000000 0.000000 0.000000 0.000000 1.000000 0.000000 0.000000 0.000000 1.000000]
}
