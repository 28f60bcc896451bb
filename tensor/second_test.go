package tensor_test

import (
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

func TestSecondDerivativeTanh(t *testing.T) {
	var fx struct {
		Tanh struct{ X, D1, D2 *fixTensor } `json:"tanh"`
	}
	loadJSON(t, "second.json", &fx)
	x := fx.Tanh.X.build().SetRequiresGrad(true)
	y := x.Tanh()
	g := autograd.Grad([]*tensor.Tensor{y.Sum()}, []*tensor.Tensor{x}, nil, autograd.GradOptions{CreateGraph: true})[0]
	if err := compare(g, fx.Tanh.D1, "tanh'"); err != nil {
		t.Fatal(err)
	}
	if !g.RequiresGrad() {
		t.Fatal("a gradient computed with CreateGraph does not require grad")
	}
	gg := autograd.Grad([]*tensor.Tensor{g.Sum()}, []*tensor.Tensor{x}, nil, autograd.GradOptions{})[0]
	if err := compare(gg, fx.Tanh.D2, "tanh''"); err != nil {
		t.Fatal(err)
	}
}

func TestHessianVectorProductMLP(t *testing.T) {
	var fx struct {
		MLP struct {
			X, Y      *fixTensor
			Params, V []*fixTensor
			Loss      float64
			Grads     []*fixTensor
			HVP       []*fixTensor
		} `json:"mlp_hvp"`
	}
	loadJSON(t, "second.json", &fx)
	m := fx.MLP
	X, Y := m.X.build(), m.Y.build()
	var params, vs []*tensor.Tensor
	for i, p := range m.Params {
		params = append(params, p.build().SetRequiresGrad(true))
		vs = append(vs, m.V[i].build())
	}
	W1, b1, W2, b2 := params[0], params[1], params[2], params[3]
	h := X.MatMul(W1).Add(b1).Tanh()
	logp := h.MatMul(W2).Add(b2).LogSoftmax(1)
	loss := logp.Gather(1, Y.Unsqueeze(1)).Mean().Neg()
	if got := loss.Item(); math.Abs(got-m.Loss) > 1e-12*math.Abs(m.Loss) {
		t.Fatalf("loss %.17g, want %.17g", got, m.Loss)
	}
	grads := autograd.Grad([]*tensor.Tensor{loss}, params, nil, autograd.GradOptions{CreateGraph: true})
	var gv *tensor.Tensor
	for i, g := range grads {
		if err := compare(g, m.Grads[i], "gradient"); err != nil {
			t.Fatal(err)
		}
		term := g.Mul(vs[i]).Sum()
		if gv == nil {
			gv = term
		} else {
			gv = gv.Add(term)
		}
	}
	hvp := autograd.Grad([]*tensor.Tensor{gv}, params, nil, autograd.GradOptions{})
	for i, hv := range hvp {
		if err := compare(hv, m.HVP[i], "Hessian-vector product"); err != nil {
			t.Fatalf("parameter %d: %v", i, err)
		}
	}
}
