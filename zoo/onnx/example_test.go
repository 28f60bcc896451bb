package onnx_test

import (
	"fmt"
	"log"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/onnx"
)

// A small CNN exported by torch.onnx with a dynamic batch dim: load it,
// look at its inputs and outputs, and classify a batch of two images.
func ExampleLoad() {
	m, err := onnx.Load("testdata/cnn_opset13.onnx")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("opset", m.Opset(), "from", m.Producer())
	fmt.Println("in: ", m.Inputs()[0])
	fmt.Println("out:", m.Outputs()[0])

	tensor.ManualSeed(1)
	x := tensor.Randn(2, 3, 16, 16)
	out, err := m.Run(map[string]*tensor.Tensor{"input": x})
	if err != nil {
		log.Fatal(err)
	}
	probs := out["output"]
	fmt.Println("probabilities:", probs.Shape(), "rows sum to", probs.Sum(1).Round().Float64s())
	// Output:
	// opset 13 from pytorch
	// in:  input: FLOAT[batch, 3, 16, 16]
	// out: output: FLOAT[batch, 10]
	// probabilities: [2 10] rows sum to [1 1]
}

// Fine-tuning an imported model: its initializers are parameters that an
// optimizer updates.
func ExampleModel_SetRequiresGrad() {
	m, err := onnx.Load("testdata/cnn_opset13.onnx")
	if err != nil {
		log.Fatal(err)
	}
	m.SetRequiresGrad(true)
	opt := optim.NewSGD(m.Parameters(), optim.SGDConfig{LR: 0.1})

	tensor.ManualSeed(2)
	x := tensor.Randn(4, 3, 16, 16)
	labels := tensor.FromSlice([]int64{0, 3, 3, 9})
	loss := func() *tensor.Tensor {
		out, err := m.Run(map[string]*tensor.Tensor{"input": x})
		if err != nil {
			log.Fatal(err)
		}
		return F.NLLLoss(out["output"].Log(), labels)
	}
	before := loss()
	for step := 0; step < 5; step++ {
		opt.ZeroGrad()
		loss().Backward()
		opt.Step()
	}
	fmt.Println("parameters:", len(m.Parameters()))
	fmt.Println("loss fell:", loss().Item() < before.Item())
	// Output:
	// parameters: 7
	// loss fell: true
}
