package onnx

import (
	"math"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// cnnLoss runs the imported CNN on x and returns the negative
// log-likelihood of labels under its probabilities.
func cnnLoss(t *testing.T, m *Model, x, labels *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	out, err := m.Run(map[string]*tensor.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	return F.NLLLoss(out["output"].Log(), labels)
}

// TestFineTune trains an imported model for a few SGD steps: its loss on
// the batch must fall.
func TestFineTune(t *testing.T) {
	m, err := Load("testdata/cnn_opset13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	m.SetRequiresGrad(true)
	x := readFixture(t, "cnn_b3_input.pb")
	labels := tensor.FromSlice([]int64{1, 4, 7})
	opt := optim.NewSGD(m.Parameters(), optim.SGDConfig{LR: 0.1})
	var losses []float64
	for step := 0; step < 8; step++ {
		opt.ZeroGrad()
		loss := cnnLoss(t, m, x, labels)
		loss.Backward()
		opt.Step()
		losses = append(losses, loss.Item())
	}
	first, last := losses[0], cnnLoss(t, m, x, labels).Item()
	t.Logf("losses %.4f → %.4f", losses, last)
	if !(last < 0.5*first) {
		t.Fatalf("loss went from %.4f to %.4f in 8 steps; want it halved", first, last)
	}
}

// fdCase is one parameter entry whose gradient is checked.
type fdCase struct {
	name string
	at   []int
}

// checkFiniteDifferences compares the gradient of loss with respect to
// each case's parameter entry with central finite differences.
func checkFiniteDifferences(t *testing.T, m *Model, loss func() *tensor.Tensor, cases []fdCase) {
	t.Helper()
	m.SetRequiresGrad(true)
	loss().Backward()
	params := map[string]*tensor.Tensor{}
	for _, p := range m.NamedParameters() {
		params[p.Name] = p.P.Tensor
	}
	m.SetRequiresGrad(false)
	for _, c := range cases {
		p := params[c.name]
		if p == nil {
			t.Fatalf("no parameter %s", c.name)
		}
		analytic := p.Grad().At(c.at...)
		sh := p.Shape()
		flat := 0
		for i, v := range c.at {
			flat = flat*sh[i] + v
		}
		set := func(v float64) {
			delta := tensor.Zeros(p.Numel())
			delta.Narrow(0, flat, 1).FillIn(v - p.At(c.at...))
			p.AddIn(delta.Reshape(sh...))
		}
		const eps = 1e-3
		orig := p.At(c.at...)
		set(orig + eps)
		up := loss().Item()
		set(orig - eps)
		down := loss().Item()
		set(orig)
		numeric := (up - down) / (2 * eps)
		if math.Abs(numeric-analytic) > 1e-3+1e-2*math.Abs(numeric) {
			t.Errorf("%s%v: gradient %.6f, finite differences %.6f", c.name, c.at, analytic, numeric)
		}
	}
}

// TestGradientFiniteDifferences checks gradients of imported models
// against finite differences: the CNN's parameters past its last ReLU and
// max pooling (where the loss is smooth), and the transformer block's,
// including a weight that the exporter transposed into a MatMul.
func TestGradientFiniteDifferences(t *testing.T) {
	cnn, err := Load("testdata/cnn_opset9.onnx")
	if err != nil {
		t.Fatal(err)
	}
	x := readFixture(t, "cnn_b3_input.pb")
	labels := tensor.FromSlice([]int64{2, 0, 9})
	checkFiniteDifferences(t, cnn, func() *tensor.Tensor { return cnnLoss(t, cnn, x, labels) }, []fdCase{
		{"fc.bias", []int{3}},
		{"fc.weight", []int{2, 17}},
		{"bn2.weight", []int{7}},
		{"bn2.bias", []int{0}},
	})

	block, err := Load("testdata/block_opset17.onnx")
	if err != nil {
		t.Fatal(err)
	}
	bx := readFixture(t, "block_b3_input.pb")
	probe := readFixture(t, "block_probe.pb")
	var matmul string
	for _, p := range block.NamedParameters() {
		if p.P.Dim() == 2 && matmul == "" {
			matmul = p.Name
		}
	}
	checkFiniteDifferences(t, block, func() *tensor.Tensor {
		out, err := block.Run(map[string]*tensor.Tensor{"input": bx})
		if err != nil {
			t.Fatal(err)
		}
		return out["output"].Mul(probe).Sum().DivScalar(10)
	}, []fdCase{
		{"ln1.weight", []int{4}},
		{"qkv.bias", []int{20}},
		{"fc1.bias", []int{7}},
		{matmul, []int{3, 11}},
	})
}
